WITH `ev` AS (
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
), `touched` AS (
  SELECT DISTINCT
    `customer_id`
  FROM `ev`
  WHERE
    `__ts` > CAST('2024-01-01 12:00:00.000000' AS TIMESTAMP_NTZ)
    OR (
      `__ts` > CAST('2024-01-01 11:00:00.000000' AS TIMESTAMP_NTZ)
      AND `__ts` <= CAST('2024-01-01 23:00:00.000000' AS TIMESTAMP_NTZ)
    )
  UNION
  SELECT
    `customer_id`
  FROM (
    SELECT
      *
    FROM (
      SELECT
        `customer_id`,
        CAST(`ts` AS TIMESTAMP_NTZ) AS `__ts`,
        CAST(`created` AS TIMESTAMP_NTZ) AS `__created`
      FROM parquet.`/data/payments.parquet`
      WHERE
        NOT `customer_id` IS NULL
        AND NOT `ts` IS NULL
        AND `ts` <= CAST('2024-01-02 00:00:00.000000' AS TIMESTAMP_NTZ)
    ) AS `e`
    WHERE
      `__created` > CAST('2024-01-01 12:05:00.000000' AS TIMESTAMP_NTZ)
  ) AS l
), `win` AS (
  SELECT
    `customer_id`,
    SUM(`v`.`amount`) FILTER(WHERE
      `v`.`__ts` > CAST('2024-01-01 23:00:00.000000' AS TIMESTAMP_NTZ)) AS `__w0`
  FROM `ev` AS `v`
  WHERE
    `v`.`__ts` > CAST('2024-01-01 23:00:00.000000' AS TIMESTAMP_NTZ)
  GROUP BY
    `customer_id`
), `ne` AS (
  SELECT
    *
  FROM `ev`
), `ns` AS (
  SELECT
    `customer_id`,
    CAST(SUM(`amount`) AS DOUBLE) AS `__p1_s`
  FROM `ne`
  GROUP BY
    `customer_id`
), `life` AS (
  SELECT
    *
  FROM `ns`
)
SELECT
  `k`.`customer_id`,
  CAST(CAST('2024-01-02 00:00:00.000000' AS TIMESTAMP_NTZ) AS TIMESTAMP) AS `__event_ts`,
  CAST(`w`.`__w0` AS DOUBLE) AS `w1h`,
  CAST(`p`.`__p1_s` AS DOUBLE) AS `life`
FROM `touched` AS `k`
LEFT JOIN `win` AS `w`
  ON `k`.`customer_id` = `w`.`customer_id`
LEFT JOIN `life` AS `p`
  ON `k`.`customer_id` = `p`.`customer_id`
