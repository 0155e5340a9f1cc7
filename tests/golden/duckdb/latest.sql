SELECT
  "l"."driver_id",
  CAST("l"."__ts" AS TIMESTAMPTZ) AS "__event_ts",
  CAST("l"."conv_rate" AS DOUBLE) AS "conv_rate",
  CAST("l"."trips" AS BIGINT) AS "trips"
FROM (
  SELECT
    "driver_id",
    CAST("event_timestamp" AS TIMESTAMP) AS "__ts",
    CAST("created" AS TIMESTAMP) AS "__created",
    "conv_rate",
    "trips"
  FROM READ_PARQUET('/repo/data/driver_stats.parquet')
  WHERE
    NOT "driver_id" IS NULL
    AND NOT "event_timestamp" IS NULL
    AND "event_timestamp" >= CAST('2024-01-01 00:00:00.000000' AS TIMESTAMP)
    AND "event_timestamp" <= CAST('2024-01-31 23:59:59.999999' AS TIMESTAMP)
  QUALIFY
    ROW_NUMBER() OVER (
      PARTITION BY "driver_id"
      ORDER BY "__ts" DESC, "__created" DESC, "conv_rate" DESC, "trips" DESC
    ) = 1
) AS "l"
