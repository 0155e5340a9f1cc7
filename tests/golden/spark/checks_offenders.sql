SELECT
  `driver_id`,
  `tier`
FROM (
  SELECT
    `driver_id`,
    `__event_ts`,
    `conv_rate`,
    `tier`
  FROM `latest_rows`
) AS `rows`
WHERE
  NOT `tier` IS NULL AND NOT `tier` IN ('gold', 'it\'s')
ORDER BY
  `driver_id` NULLS LAST
LIMIT 5
