-- training set
SELECT
  `e`.`__row_id`,
  CAST(COALESCE(`s`.`__a0`, 0) AS BIGINT) AS `w1h`,
  CAST(COALESCE(`s`.`__a1`, 0) AS BIGINT) AS `life`
FROM `entity_rows` AS `e`
LEFT JOIN (
  SELECT
    *
  FROM (
    SELECT
      `__row_id`,
      SIZE(
        COLLECT_SET(`__c0`) OVER (
          PARTITION BY `customer_id`
          ORDER BY `__at` NULLS LAST
          RANGE BETWEEN 3599999999 PRECEDING AND CURRENT ROW
        )
      ) AS `__a0`,
      SIZE(
        COLLECT_SET(`__c0`) OVER (
          PARTITION BY `customer_id`
          ORDER BY `__at` NULLS LAST
          RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        )
      ) AS `__a1`
    FROM (
      SELECT
        `customer_id`,
        UNIX_MICROS(CAST(`__ts` AS TIMESTAMP)) AS `__at`,
        CAST(NULL AS BIGINT) AS `__row_id`,
        `__ts`,
        `__created`,
        `merchant` AS `__c0`
      FROM (
        SELECT
          `customer_id`,
          CAST(`ts` AS TIMESTAMP_NTZ) AS `__ts`,
          CAST(`created` AS TIMESTAMP_NTZ) AS `__created`,
          `merchant`
        FROM parquet.`/data/payments.parquet`
        WHERE
          NOT `customer_id` IS NULL AND NOT `ts` IS NULL
      ) AS `v`
      UNION ALL
      SELECT
        `customer_id`,
        UNIX_MICROS(CAST(CAST(`__t` AS TIMESTAMP_NTZ) AS TIMESTAMP)) AS `__at`,
        `__row_id`,
        NULL AS `__ts`,
        NULL AS `__created`,
        NULL AS `__c0`
      FROM `entity_rows`
      WHERE
        NOT `__t` IS NULL AND NOT `customer_id` IS NULL
    ) AS `u`
  ) AS `w`
  WHERE
    NOT `__row_id` IS NULL
) AS `s`
  ON `s`.`__row_id` = `e`.`__row_id`;

-- materialize
WITH `ev` AS (
  SELECT
    *
  FROM (
    SELECT
      `customer_id`,
      CAST(`ts` AS TIMESTAMP_NTZ) AS `__ts`,
      CAST(`created` AS TIMESTAMP_NTZ) AS `__created`,
      `merchant`
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
), `win` AS (
  SELECT
    `customer_id`,
    COALESCE(
      COUNT(DISTINCT `v`.`merchant`) FILTER(WHERE
        `v`.`__ts` > CAST('2024-01-01 23:00:00.000000' AS TIMESTAMP_NTZ)),
      0
    ) AS `__w0`
  FROM `ev` AS `v`
  WHERE
    `v`.`__ts` > CAST('2024-01-01 23:00:00.000000' AS TIMESTAMP_NTZ)
  GROUP BY
    `customer_id`
), `ne` AS (
  SELECT
    *
  FROM `ev`
  WHERE
    `__ts` > CAST('2024-01-01 00:00:00.000000' AS TIMESTAMP_NTZ)
  UNION ALL
  SELECT
    *
  FROM (
    SELECT
      `customer_id`,
      CAST(`ts` AS TIMESTAMP_NTZ) AS `__ts`,
      CAST(`created` AS TIMESTAMP_NTZ) AS `__created`,
      `merchant`
    FROM parquet.`/data/payments.parquet`
    WHERE
      NOT `customer_id` IS NULL
      AND NOT `ts` IS NULL
      AND `ts` <= CAST('2024-01-01 00:00:00.000000' AS TIMESTAMP_NTZ)
  ) AS `e`
  WHERE
    `__created` > CAST('2024-01-01 00:05:00.000000' AS TIMESTAMP_NTZ)
), `ns` AS (
  SELECT
    `customer_id`,
    COLLECT_LIST(DISTINCT `merchant`) FILTER(WHERE
      NOT `merchant` IS NULL) AS `__p1_d`
  FROM `ne`
  GROUP BY
    `customer_id`
), `old` AS (
  SELECT
    *
  FROM parquet.`/state/payments/v1.parquet`
), `life` AS (
  SELECT
    COALESCE(`o`.`customer_id`, `f`.`customer_id`) AS `customer_id`,
    ARRAY_DISTINCT(CONCAT(COALESCE(`o`.`__p1_d`, ARRAY()), COALESCE(`f`.`__p1_d`, ARRAY()))) AS `__p1_d`
  FROM `old` AS `o`
  FULL OUTER JOIN `ns` AS `f`
    ON `o`.`customer_id` = `f`.`customer_id`
)
SELECT
  `k`.`customer_id`,
  CAST(CAST('2024-01-02 00:00:00.000000' AS TIMESTAMP_NTZ) AS TIMESTAMP) AS `__event_ts`,
  CAST(COALESCE(`w`.`__w0`, 0) AS BIGINT) AS `w1h`,
  CAST(COALESCE(SIZE(`p`.`__p1_d`), 0) AS BIGINT) AS `life`
FROM `touched` AS `k`
LEFT JOIN `win` AS `w`
  ON `k`.`customer_id` = `w`.`customer_id`
LEFT JOIN `life` AS `p`
  ON `k`.`customer_id` = `p`.`customer_id`;
