WITH "j0" AS (
  SELECT
    "e"."__row_id",
    CAST(CASE
      WHEN "v"."__ts" >= "e"."__t" - INTERVAL '86400000000' MICROSECOND
      THEN "v"."conv_rate"
    END AS DOUBLE) AS "__f0_0"
  FROM (
    SELECT
      "__row_id",
      "__t",
      "driver_id"
    FROM "__entity_rows_0"
  ) AS "e"
  ASOF LEFT JOIN (
    SELECT
      "driver_id",
      CAST("event_timestamp" AS TIMESTAMP) AS "__ts",
      CAST("created" AS TIMESTAMP) AS "__created",
      "conv_rate",
      "acc_rate"
    FROM READ_PARQUET('/repo/data/driver_stats.parquet')
    WHERE
      NOT "driver_id" IS NULL
      AND NOT "event_timestamp" IS NULL
      AND "event_timestamp" <= CAST('2024-01-31 23:59:59.999999' AS TIMESTAMP)
    QUALIFY
      LAG("__ts") OVER (
        PARTITION BY "driver_id"
        ORDER BY "__ts", "__created" DESC, "conv_rate" DESC, "acc_rate" DESC
      ) IS DISTINCT FROM "__ts"
  ) AS "v"
    ON "e"."driver_id" = "v"."driver_id" AND "e"."__t" >= "v"."__ts"
)
SELECT
  "j0"."__f0_0" AS "conv_rate"
FROM "j0"
ORDER BY
  "j0"."__row_id"
