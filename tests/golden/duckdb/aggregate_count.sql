-- training set
WITH "ev" AS NOT MATERIALIZED (
  SELECT
    "customer_id",
    CAST("ts" AS TIMESTAMP) AS "__ts",
    CAST("created" AS TIMESTAMP) AS "__created",
    "amount"
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
), "cum" AS (
  SELECT
    "customer_id",
    "__ts",
    COUNT("amount") OVER (PARTITION BY "customer_id" ORDER BY "__ts") AS "__n0"
  FROM "ev"
), "rr" AS (
  SELECT
    "p"."__row_id",
    "p"."__edge",
    "v"."__n0"
  FROM (
    SELECT
      "customer_id",
      "__t",
      "__row_id",
      0 AS "__edge"
    FROM "ent"
    UNION ALL
    SELECT
      "customer_id",
      "__t" - INTERVAL '3600000000' MICROSECOND AS "__t",
      "__row_id",
      1 AS "__edge"
    FROM "ent"
  ) AS "p"
  ASOF LEFT JOIN "cum" AS "v"
    ON "p"."customer_id" = "v"."customer_id" AND "p"."__t" >= "v"."__ts"
), "rp" AS (
  SELECT
    "__row_id",
    MAX("__n0") FILTER(WHERE
      "__edge" = 0) AS "__n0_0",
    MAX("__n0") FILTER(WHERE
      "__edge" = 1) AS "__n0_1"
  FROM "rr"
  GROUP BY
    "__row_id"
)
SELECT
  "e"."__row_id",
  CAST(COALESCE((
    "rp"."__n0_0" - COALESCE("rp"."__n0_1", 0)
  ), 0) AS BIGINT) AS "w1h",
  CAST(COALESCE("rp"."__n0_0", 0) AS BIGINT) AS "life"
FROM "entity_rows" AS "e"
LEFT JOIN "rp"
  ON "rp"."__row_id" = "e"."__row_id";

-- materialize
WITH "ev" AS (
  SELECT
    "customer_id",
    CAST("ts" AS TIMESTAMP) AS "__ts",
    CAST("created" AS TIMESTAMP) AS "__created",
    "amount"
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
    COALESCE(
      COUNT("v"."amount") FILTER(WHERE
        "v"."__ts" > CAST('2024-01-02 00:00:00.000000' AS TIMESTAMP) - INTERVAL '3600000000' MICROSECOND),
      0
    ) AS "__w0"
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
    "amount"
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
    COUNT("amount") AS "__p1_n"
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
    COALESCE("o"."__p1_n", 0) + COALESCE("f"."__p1_n", 0) AS "__p1_n"
  FROM "old" AS "o"
  FULL OUTER JOIN "ns" AS "f"
    ON "o"."customer_id" = "f"."customer_id"
)
SELECT
  "k"."customer_id",
  CAST(CAST('2024-01-02 00:00:00.000000' AS TIMESTAMP) AS TIMESTAMPTZ) AS "__event_ts",
  CAST(COALESCE("w"."__w0", 0) AS BIGINT) AS "w1h",
  CAST(COALESCE("p"."__p1_n", 0) AS BIGINT) AS "life"
FROM "touched" AS "k"
LEFT JOIN "win" AS "w"
  ON "k"."customer_id" = "w"."customer_id"
LEFT JOIN "life" AS "p"
  ON "k"."customer_id" = "p"."customer_id";
