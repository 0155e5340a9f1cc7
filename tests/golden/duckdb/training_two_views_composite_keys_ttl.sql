WITH "j0" AS (
  SELECT
    "e"."__row_id",
    "e"."__t",
    "e"."customer_id",
    "e"."store_id",
    CAST(CASE
      WHEN "v"."__ts" >= "e"."__t" - INTERVAL '86400000000' MICROSECOND
      THEN "v"."conv_rate"
    END AS DOUBLE) AS "__f0_0"
  FROM (
    SELECT
      "__row_id",
      "__t",
      "driver_id",
      "customer_id",
      "store_id"
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
), "j1" AS (
  SELECT
    "e"."__row_id",
    "e"."__f0_0",
    CAST(CASE
      WHEN "v"."__ts" >= "e"."__t" - INTERVAL '7200000000' MICROSECOND
      THEN "v"."amount"
    END AS DOUBLE) AS "__f1_0",
    CAST(CASE
      WHEN "v"."__ts" >= "e"."__t" - INTERVAL '7200000000' MICROSECOND
      THEN "v"."items"
    END AS BIGINT) AS "__f1_1"
  FROM "j0" AS "e"
  ASOF LEFT JOIN (
    SELECT
      "customer_id",
      "store_id",
      CAST("ts" AS TIMESTAMP) AS "__ts",
      CAST(NULL AS TIMESTAMP) AS "__created",
      "amount",
      "items"
    FROM READ_CSV('/repo/data/orders/**/*.csv', hive_partitioning = TRUE)
    WHERE
      NOT "customer_id" IS NULL
      AND NOT "store_id" IS NULL
      AND NOT "ts" IS NULL
      AND "ts" >= CAST('2023-12-31 22:00:00.000000+00' AS TIMESTAMPTZ)
      AND "ts" <= CAST('2024-01-31 23:59:59.999999+00' AS TIMESTAMPTZ)
    QUALIFY
      LAG("__ts") OVER (
        PARTITION BY "customer_id", "store_id"
        ORDER BY "__ts", "__created" DESC, "amount" DESC, "items" DESC
      ) IS DISTINCT FROM "__ts"
  ) AS "v"
    ON "e"."customer_id" = "v"."customer_id"
    AND "e"."store_id" = "v"."store_id"
    AND "e"."__t" >= "v"."__ts"
)
SELECT
  "j1"."__f1_1" AS "orders__items",
  "j1"."__f0_0" AS "conv_rate",
  "j1"."__f1_0" AS "orders__amount"
FROM "j1"
ORDER BY
  "j1"."__row_id"
