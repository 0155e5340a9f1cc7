SELECT
  `driver_id`,
  `conv_rate`
FROM (
  SELECT
    `driver_id`,
    `__event_ts`,
    `conv_rate`,
    `tier`
  FROM `latest_rows`
) AS `rows`
WHERE
  CAST(`conv_rate` AS DOUBLE) > 1
ORDER BY
  `driver_id` NULLS LAST
LIMIT 5
