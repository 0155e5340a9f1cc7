WITH `fe` AS (
  SELECT
    *
  FROM (
    SELECT
      `customer_id`,
      CAST(`ts` AS TIMESTAMP_NTZ) AS `__ts`,
      CAST(`created` AS TIMESTAMP_NTZ) AS `__created`,
      `amount`
    FROM parquet.`/data/payments.parquet`
    WHERE
      NOT `customer_id` IS NULL
      AND NOT `ts` IS NULL
      AND `ts` <= CAST('2024-01-02 00:00:00.000000' AS TIMESTAMP_NTZ)
  ) AS `e`
  WHERE
    (
      `__created` IS NULL
      OR `__created` <= CAST('2024-01-02 00:05:00.000000' AS TIMESTAMP_NTZ)
    )
), `fs` AS (
  SELECT
    `customer_id`,
    CAST(SUM(`amount`) AS DOUBLE) AS `__p1_s`
  FROM `fe`
  GROUP BY
    `customer_id`
)
SELECT
  *
FROM `fs`
