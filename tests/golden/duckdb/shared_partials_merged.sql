WITH "fe" AS (
  SELECT
    "customer_id",
    CAST("ts" AS TIMESTAMP) AS "__ts",
    CAST("created" AS TIMESTAMP) AS "__created",
    "amount"
  FROM READ_PARQUET('/data/payments.parquet')
  WHERE
    (
      (
        NOT "customer_id" IS NULL
        AND NOT "ts" IS NULL
        AND "ts" >= CAST('2024-01-01 00:00:00.000000' AS TIMESTAMP)
        AND "ts" <= CAST('2024-01-02 00:00:00.000000' AS TIMESTAMP)
      )
      AND "ts" > CAST('2024-01-01 00:00:00.000000' AS TIMESTAMP)
    )
    AND (
      "__created" IS NULL
      OR "__created" <= CAST('2024-01-02 00:05:00.000000' AS TIMESTAMP)
    )
  UNION ALL
  SELECT
    "customer_id",
    CAST("ts" AS TIMESTAMP) AS "__ts",
    CAST("created" AS TIMESTAMP) AS "__created",
    "amount"
  FROM READ_PARQUET('/data/payments.parquet')
  WHERE
    (
      (
        NOT "customer_id" IS NULL
        AND NOT "ts" IS NULL
        AND "ts" <= CAST('2024-01-01 00:00:00.000000' AS TIMESTAMP)
      )
      AND "__created" > CAST('2024-01-01 00:05:00.000000' AS TIMESTAMP)
    )
    AND (
      "__created" IS NULL
      OR "__created" <= CAST('2024-01-02 00:05:00.000000' AS TIMESTAMP)
    )
), "fs" AS (
  SELECT
    "customer_id",
    CAST(FSUM(CAST("amount" AS DOUBLE)) AS DOUBLE) AS "__p1_s"
  FROM "fe"
  GROUP BY
    "customer_id"
), "old" AS (
  SELECT
    *
  FROM READ_PARQUET('/state/payments/v1.parquet')
), "merged" AS (
  SELECT
    COALESCE("o"."customer_id", "f"."customer_id") AS "customer_id",
    CASE
      WHEN "o"."__p1_s" IS NULL
      THEN "f"."__p1_s"
      WHEN "f"."__p1_s" IS NULL
      THEN "o"."__p1_s"
      ELSE "o"."__p1_s" + "f"."__p1_s"
    END AS "__p1_s"
  FROM "old" AS "o"
  FULL OUTER JOIN "fs" AS "f"
    ON "o"."customer_id" = "f"."customer_id"
)
SELECT
  *
FROM "merged"
