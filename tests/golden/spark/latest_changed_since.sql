SELECT
  `l`.`driver_id`,
  CAST(`l`.`__best`.`__ts` AS TIMESTAMP) AS `__event_ts`,
  CAST(`l`.`__best`.`c0` AS BIGINT) AS `a`,
  CAST(`l`.`__best`.`c1` AS STRING) AS `b`
FROM (
  SELECT
    `driver_id`,
    MAX(STRUCT(`__ts` AS `__ts`, `__created` AS `__created`, `a` AS `c0`, `b` AS `c1`)) AS `__best`
  FROM (
    SELECT
      `driver_id`,
      CAST(`ts` AS TIMESTAMP_NTZ) AS `__ts`,
      CAST(`created` AS TIMESTAMP_NTZ) AS `__created`,
      `a`,
      `b`
    FROM parquet.`/repo/data/stats.parquet`
    WHERE
      (
        NOT `driver_id` IS NULL
        AND NOT `ts` IS NULL
        AND `ts` >= CAST('2024-01-01 11:00:00.000000' AS TIMESTAMP_NTZ)
        AND `ts` <= CAST('2024-01-01 12:00:00.000000' AS TIMESTAMP_NTZ)
      )
      AND (
        CAST(`ts` AS TIMESTAMP_NTZ) > CAST('2024-01-01 11:55:00.000000' AS TIMESTAMP_NTZ)
        OR CAST(`created` AS TIMESTAMP_NTZ) > CAST('2024-01-01 11:59:00.000000' AS TIMESTAMP_NTZ)
      )
  ) AS `r`
  GROUP BY
    `driver_id`
) AS `l`
