WITH `j0` AS (
  SELECT
    `__row_id`,
    CAST(CASE
      WHEN NOT `__t` IS NULL
      AND `__best`.`__ts` >= `__t` - INTERVAL '3600000000' MICROSECOND
      THEN `__best`.`c1`
    END AS STRING) AS `stats__b`,
    CAST(CASE
      WHEN NOT `__t` IS NULL
      AND `__best`.`__ts` >= `__t` - INTERVAL '3600000000' MICROSECOND
      THEN `__best`.`c0`
    END AS BIGINT) AS `stats__a`
  FROM (
    SELECT
      `__row_id`,
      `__t`,
      `__side`,
      MAX(
        CASE
          WHEN `__side` = 0
          THEN STRUCT(`__ts` AS `__ts`, `__created` AS `__created`, `a` AS `c0`, `b` AS `c1`)
        END
      ) OVER (
        PARTITION BY `driver_id`
        ORDER BY `__at` NULLS LAST, `__side` NULLS LAST
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
      ) AS `__best`
    FROM (
      SELECT
        `driver_id`,
        `__t` AS `__at`,
        1 AS `__side`,
        `__row_id`,
        `__t`,
        NULL AS `__ts`,
        NULL AS `__created`,
        NULL AS `a`,
        NULL AS `b`
      FROM `__entity_rows_0`
      UNION ALL
      SELECT
        `driver_id`,
        `__ts` AS `__at`,
        0 AS `__side`,
        CAST(NULL AS BIGINT) AS `__row_id`,
        NULL AS `__t`,
        `__ts`,
        `__created`,
        `a`,
        `b`
      FROM (
        SELECT
          `driver_id`,
          CAST(`ts` AS TIMESTAMP_NTZ) AS `__ts`,
          CAST(`created` AS TIMESTAMP_NTZ) AS `__created`,
          `a`,
          `b`
        FROM parquet.`/repo/data/stats.parquet`
        WHERE
          NOT `driver_id` IS NULL
          AND NOT `ts` IS NULL
          AND `ts` >= CAST('2024-01-01 11:00:00.000000' AS TIMESTAMP_NTZ)
          AND `ts` <= CAST('2024-01-01 12:00:00.000000' AS TIMESTAMP_NTZ)
      ) AS `v`
    ) AS `u`
  ) AS `s`
  WHERE
    `__side` = 1
), `j1` AS (
  SELECT
    `__row_id`,
    CAST(CASE WHEN NOT `__t` IS NULL THEN `__best`.`c0` END AS DOUBLE) AS `p`
  FROM (
    SELECT
      `__row_id`,
      `__t`,
      `__side`,
      MAX(
        CASE
          WHEN `__side` = 0
          THEN STRUCT(`__ts` AS `__ts`, `__created` AS `__created`, `p` AS `c0`)
        END
      ) OVER (
        PARTITION BY `driver_id`, `customer_id`
        ORDER BY `__at` NULLS LAST, `__side` NULLS LAST
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
      ) AS `__best`
    FROM (
      SELECT
        `driver_id`,
        `customer_id`,
        `__t` AS `__at`,
        1 AS `__side`,
        `__row_id`,
        `__t`,
        NULL AS `__ts`,
        NULL AS `__created`,
        NULL AS `p`
      FROM `__entity_rows_0`
      UNION ALL
      SELECT
        `driver_id`,
        `customer_id`,
        `__ts` AS `__at`,
        0 AS `__side`,
        CAST(NULL AS BIGINT) AS `__row_id`,
        NULL AS `__t`,
        `__ts`,
        `__created`,
        `p`
      FROM (
        SELECT
          `driver_id`,
          `customer_id`,
          CAST(`ts` AS TIMESTAMP_NTZ) AS `__ts`,
          CAST(NULL AS TIMESTAMP_NTZ) AS `__created`,
          `p`
        FROM csv.`/repo/data/pairs` WITH ('pathGlobFilter' = '*.csv', 'recursiveFileLookup' = 'true', 'header' = 'true', 'inferSchema' = 'true')
        WHERE
          NOT `driver_id` IS NULL
          AND NOT `customer_id` IS NULL
          AND NOT `ts` IS NULL
          AND `ts` <= CAST('2024-01-01 12:00:00.000000' AS TIMESTAMP_NTZ)
      ) AS `v`
    ) AS `u`
  ) AS `s`
  WHERE
    `__side` = 1
)
SELECT
  `j0`.`stats__a`,
  `j1`.`p`,
  `j0`.`stats__b`
FROM `j0`
JOIN `j1`
  ON `j1`.`__row_id` = `j0`.`__row_id`
ORDER BY
  `j0`.`__row_id`
