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
), "fr" AS (
  SELECT
    "__row_id",
    COUNT(DISTINCT "merchant") OVER (
      PARTITION BY "customer_id"
      ORDER BY "__us"
      RANGE BETWEEN 3599999999 PRECEDING AND CURRENT ROW
    ) AS "__f0",
    COUNT(DISTINCT "merchant") OVER (
      PARTITION BY "customer_id"
      ORDER BY "__us"
      RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS "__f1"
  FROM (
    SELECT
      "customer_id",
      EPOCH_US("__ts") AS "__us",
      "merchant"
    FROM "ev"
    WHERE
      NOT "merchant" IS NULL
    UNION ALL BY NAME
    SELECT
      "customer_id",
      EPOCH_US("__t") AS "__us",
      "__row_id"
    FROM "ent"
  ) AS "u"
  QUALIFY
    NOT "__row_id" IS NULL
)
SELECT
  "e"."__row_id",
  CAST(COALESCE("fr"."__f0", 0) AS BIGINT) AS "w1h",
  CAST(COALESCE("fr"."__f1", 0) AS BIGINT) AS "life"
FROM "entity_rows" AS "e"
LEFT JOIN "fr"
  ON "fr"."__row_id" = "e"."__row_id";

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
    COALESCE(
      COUNT(DISTINCT "v"."merchant") FILTER(WHERE
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
    ARRAY_AGG(DISTINCT "merchant") FILTER(WHERE
      NOT "merchant" IS NULL) AS "__p1_d"
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
    LIST_DISTINCT(LIST_CONCAT(COALESCE("o"."__p1_d", []), COALESCE("f"."__p1_d", []))) AS "__p1_d"
  FROM "old" AS "o"
  FULL OUTER JOIN "ns" AS "f"
    ON "o"."customer_id" = "f"."customer_id"
)
SELECT
  "k"."customer_id",
  CAST(CAST('2024-01-02 00:00:00.000000' AS TIMESTAMP) AS TIMESTAMPTZ) AS "__event_ts",
  CAST(COALESCE("w"."__w0", 0) AS BIGINT) AS "w1h",
  CAST(COALESCE(LEN("p"."__p1_d"), 0) AS BIGINT) AS "life"
FROM "touched" AS "k"
LEFT JOIN "win" AS "w"
  ON "k"."customer_id" = "w"."customer_id"
LEFT JOIN "life" AS "p"
  ON "k"."customer_id" = "p"."customer_id";
