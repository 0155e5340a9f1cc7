WITH "fe" AS (
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
      AND "ts" <= CAST('2024-01-02 00:00:00.000000' AS TIMESTAMP)
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
)
SELECT
  *
FROM "fs"
