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
      AND `ts` >= CAST('2024-01-01 00:00:00.000000' AS TIMESTAMP_NTZ)
      AND `ts` <= CAST('2024-01-02 00:00:00.000000' AS TIMESTAMP_NTZ)
  ) AS `e`
  WHERE
    `__ts` > CAST('2024-01-01 00:00:00.000000' AS TIMESTAMP_NTZ)
    AND (
      `__created` IS NULL
      OR `__created` <= CAST('2024-01-02 00:05:00.000000' AS TIMESTAMP_NTZ)
    )
  UNION ALL
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
      AND `ts` <= CAST('2024-01-01 00:00:00.000000' AS TIMESTAMP_NTZ)
  ) AS `e`
  WHERE
    `__created` > CAST('2024-01-01 00:05:00.000000' AS TIMESTAMP_NTZ)
    AND (
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
), `old` AS (
  SELECT
    *
  FROM parquet.`/state/payments/v1.parquet`
), `merged` AS (
  SELECT
    COALESCE(`o`.`customer_id`, `f`.`customer_id`) AS `customer_id`,
    CASE
      WHEN `o`.`__p1_s` IS NULL
      THEN `f`.`__p1_s`
      WHEN `f`.`__p1_s` IS NULL
      THEN `o`.`__p1_s`
      ELSE `o`.`__p1_s` + `f`.`__p1_s`
    END AS `__p1_s`
  FROM `old` AS `o`
  FULL OUTER JOIN `fs` AS `f`
    ON `o`.`customer_id` = `f`.`customer_id`
)
SELECT
  *
FROM `merged`
