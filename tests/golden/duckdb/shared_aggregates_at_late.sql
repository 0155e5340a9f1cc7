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
  WHERE
    "__ts" > CAST('2024-01-01 12:00:00.000000' AS TIMESTAMP)
    OR (
      "__ts" > CAST('2024-01-01 11:00:00.000000' AS TIMESTAMP)
      AND "__ts" <= CAST('2024-01-01 23:00:00.000000' AS TIMESTAMP)
    )
  UNION
  SELECT
    "customer_id"
  FROM (
    SELECT
      "customer_id",
      CAST("ts" AS TIMESTAMP) AS "__ts",
      CAST("created" AS TIMESTAMP) AS "__created"
    FROM READ_PARQUET('/data/payments.parquet')
    WHERE
      (
        NOT "customer_id" IS NULL
        AND NOT "ts" IS NULL
        AND "ts" <= CAST('2024-01-02 00:00:00.000000' AS TIMESTAMP)
      )
      AND "__created" > CAST('2024-01-01 12:05:00.000000' AS TIMESTAMP)
  ) AS l
), "win" AS (
  SELECT
    "customer_id",
    FSUM(CAST("v"."amount" AS DOUBLE)) FILTER(WHERE
      "v"."__ts" > CAST('2024-01-02 00:00:00.000000' AS TIMESTAMP) - INTERVAL '3600000000' MICROSECOND) AS "__w0"
  FROM "ev" AS "v"
  WHERE
    "__ts" > CAST('2024-01-02 00:00:00.000000' AS TIMESTAMP) - INTERVAL '3600000000' MICROSECOND
  GROUP BY
    "customer_id"
), "ne" AS (
  SELECT
    *
  FROM "ev"
), "ns" AS (
  SELECT
    "customer_id",
    CAST(FSUM(CAST("amount" AS DOUBLE)) AS DOUBLE) AS "__p1_s"
  FROM "ne"
  GROUP BY
    "customer_id"
), "life" AS (
  SELECT
    *
  FROM "ns"
)
SELECT
  "k"."customer_id",
  CAST(CAST('2024-01-02 00:00:00.000000' AS TIMESTAMP) AS TIMESTAMPTZ) AS "__event_ts",
  CAST("w"."__w0" AS DOUBLE) AS "w1h",
  CAST("p"."__p1_s" AS DOUBLE) AS "life"
FROM "touched" AS "k"
LEFT JOIN "win" AS "w"
  ON "k"."customer_id" = "w"."customer_id"
LEFT JOIN "life" AS "p"
  ON "k"."customer_id" = "p"."customer_id"
