WITH "j0" AS (
  SELECT
    "e"."__row_id",
    CAST("v"."conv_rate" AS DOUBLE) AS "conv_rate"
  FROM "__entity_rows_0" AS "e"
  JOIN (
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
  ) AS "v"
    ON "e"."driver_id" = "v"."driver_id"
    AND "v"."__ts" <= "e"."__t"
    AND "v"."__created" <= "e"."__t"
    AND "v"."__ts" >= "e"."__t" - INTERVAL '86400000000' MICROSECOND
  QUALIFY
    ROW_NUMBER() OVER (
      PARTITION BY "e"."__row_id"
      ORDER BY "v"."__ts" DESC, "v"."__created" DESC, "v"."conv_rate" DESC, "v"."acc_rate" DESC
    ) = 1
)
SELECT
  "j0"."conv_rate"
FROM "__entity_rows_0" AS "e"
LEFT JOIN "j0"
  ON "j0"."__row_id" = "e"."__row_id"
ORDER BY
  "e"."__row_id"
