-- training set
WITH "ev" AS NOT MATERIALIZED (
  SELECT
    "customer_id",
    CAST("ts" AS TIMESTAMP) AS "__ts",
    CAST("created" AS TIMESTAMP) AS "__created",
    "merchant"
  FROM READ_PARQUET('/data/payments.parquet')
  WHERE
    NOT "customer_id" IS NULL AND NOT "ts" IS NULL
), "ent" AS (
  SELECT
    "__row_id",
    "__t",
    "customer_id"
  FROM "entity_rows"
  WHERE
    NOT "__t" IS NULL AND NOT "customer_id" IS NULL
), "l0" AS (
  SELECT
    "e"."__row_id",
    "v"."__ts" AS "__lt",
    "v"."__v" AS "__lv"
  FROM "ent" AS "e"
  ASOF LEFT JOIN (
    SELECT
      "customer_id",
      "__ts",
      "merchant" AS "__v"
    FROM "ev"
    WHERE
      NOT "merchant" IS NULL
    QUALIFY
      ROW_NUMBER() OVER (PARTITION BY "customer_id", "__ts" ORDER BY "__created" DESC, "merchant" DESC) = 1
  ) AS "v"
    ON "e"."customer_id" = "v"."customer_id" AND "e"."__t" >= "v"."__ts"
)
SELECT
  "e"."__row_id",
  CAST(CASE
    WHEN "l0"."__lt" > "e"."__t" - INTERVAL '3600000000' MICROSECOND
    THEN "l0"."__lv"
  END AS TEXT) AS "w1h",
  CAST("l0"."__lv" AS TEXT) AS "life"
FROM "entity_rows" AS "e"
LEFT JOIN "l0"
  ON "l0"."__row_id" = "e"."__row_id";

-- materialize
WITH "ev" AS (
  SELECT
    "customer_id",
    CAST("ts" AS TIMESTAMP) AS "__ts",
    CAST("created" AS TIMESTAMP) AS "__created",
    "merchant"
  FROM READ_PARQUET('/data/payments.parquet')
  WHERE
    NOT "customer_id" IS NULL
    AND NOT "ts" IS NULL
    AND "ts" <= CAST('2024-01-02 00:00:00.000000' AS TIMESTAMP)
), "touched" AS (
  SELECT DISTINCT
    "customer_id"
  FROM "ev"
), "win" AS (
  SELECT
    "customer_id",
    ARG_MAX(
      "v"."merchant",
      STRUCT_PACK(
        "t" := "v"."__ts",
        "c" := COALESCE("v"."__created", CAST('-infinity' AS TIMESTAMP)),
        "v" := "v"."merchant"
      )
    ) FILTER(WHERE
      "v"."__ts" > CAST('2024-01-02 00:00:00.000000' AS TIMESTAMP) - INTERVAL '3600000000' MICROSECOND
      AND NOT "v"."merchant" IS NULL) AS "__w0"
  FROM "ev" AS "v"
  WHERE
    "__ts" > CAST('2024-01-02 00:00:00.000000' AS TIMESTAMP) - INTERVAL '3600000000' MICROSECOND
  GROUP BY
    "customer_id"
), "ne" AS (
  SELECT
    *
  FROM "ev"
  WHERE
    "__ts" > CAST('2024-01-01 00:00:00.000000' AS TIMESTAMP)
  UNION ALL
  SELECT
    "customer_id",
    CAST("ts" AS TIMESTAMP) AS "__ts",
    CAST("created" AS TIMESTAMP) AS "__created",
    "merchant"
  FROM READ_PARQUET('/data/payments.parquet')
  WHERE
    (
      NOT "customer_id" IS NULL
      AND NOT "ts" IS NULL
      AND "ts" <= CAST('2024-01-01 00:00:00.000000' AS TIMESTAMP)
    )
    AND "__created" > CAST('2024-01-01 00:05:00.000000' AS TIMESTAMP)
), "ns" AS (
  SELECT
    "customer_id",
    MAX(
      STRUCT_PACK(
        "t" := "__ts",
        "c" := COALESCE("__created", CAST('-infinity' AS TIMESTAMP)),
        "v" := "merchant"
      )
    ) FILTER(WHERE
      NOT "merchant" IS NULL) AS "__p1_l"
  FROM "ne"
  GROUP BY
    "customer_id"
), "old" AS (
  SELECT
    *
  FROM READ_PARQUET('/state/payments/v1.parquet')
), "life" AS (
  SELECT
    COALESCE("o"."customer_id", "f"."customer_id") AS "customer_id",
    GREATEST("o"."__p1_l", "f"."__p1_l") AS "__p1_l"
  FROM "old" AS "o"
  FULL OUTER JOIN "ns" AS "f"
    ON "o"."customer_id" = "f"."customer_id"
)
SELECT
  "k"."customer_id",
  CAST(CAST('2024-01-02 00:00:00.000000' AS TIMESTAMP) AS TIMESTAMPTZ) AS "__event_ts",
  CAST("w"."__w0" AS TEXT) AS "w1h",
  CAST(STRUCT_EXTRACT("p"."__p1_l", 'v') AS TEXT) AS "life"
FROM "touched" AS "k"
LEFT JOIN "win" AS "w"
  ON "k"."customer_id" = "w"."customer_id"
LEFT JOIN "life" AS "p"
  ON "k"."customer_id" = "p"."customer_id";
