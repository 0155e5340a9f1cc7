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
), "sc" AS (
  SELECT
    "customer_id",
    CASE
      WHEN "__bad0" = 0
      AND (
        "__lo0" IS NULL
        OR (
          "__hi0" - "__lo0" + 54 + CAST(CEIL(LOG2("__c0" + 1)) AS INT) <= 126
          AND 53 - "__lo0" <= 1000
        )
      )
      THEN COALESCE(53 - "__lo0", 0)
    END AS "__scale0"
  FROM (
    SELECT
      "customer_id",
      MIN(FLOOR(LOG2(ABS(CAST("amount" AS DOUBLE))))) FILTER(WHERE
        CAST("amount" AS DOUBLE) <> 0 AND ISFINITE(CAST("amount" AS DOUBLE))) AS "__lo0",
      MAX(FLOOR(LOG2(ABS(CAST("amount" AS DOUBLE))))) FILTER(WHERE
        CAST("amount" AS DOUBLE) <> 0 AND ISFINITE(CAST("amount" AS DOUBLE))) AS "__hi0",
      COUNT(CAST("amount" AS DOUBLE)) AS "__c0",
      COUNT(*) FILTER(WHERE
        NOT ISFINITE(CAST("amount" AS DOUBLE))) AS "__bad0"
    FROM "ev"
    GROUP BY
      "customer_id"
  ) AS "g"
), "cum" AS (
  SELECT
    "customer_id",
    "__ts",
    COUNT("amount") OVER (PARTITION BY "customer_id" ORDER BY "__ts") AS "__n0",
    "__scale0" AS "__k0",
    SUM(CAST(CAST("amount" AS DOUBLE) * POWER(2.0, "__scale0") AS INT128)) OVER (PARTITION BY "customer_id" ORDER BY "__ts") AS "__s0"
  FROM "ev"
  JOIN "sc"
    USING ("customer_id")
), "rr" AS (
  SELECT
    "p"."__row_id",
    "p"."__edge",
    "v"."__n0",
    "v"."__s0",
    "v"."__k0"
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
      "__edge" = 1) AS "__n0_1",
    MAX("__s0") FILTER(WHERE
      "__edge" = 0) AS "__s0_0",
    MAX("__s0") FILTER(WHERE
      "__edge" = 1) AS "__s0_1",
    MAX("__k0") FILTER(WHERE
      "__edge" = 0) AS "__k0_0"
  FROM "rr"
  GROUP BY
    "__row_id"
), "fk" AS (
  SELECT
    "customer_id"
  FROM "sc"
  WHERE
    "__scale0" IS NULL
), "fb" AS (
  SELECT
    "__row_id",
    FSUM(CAST("amount" AS DOUBLE)) OVER (
      PARTITION BY "customer_id"
      ORDER BY "__us"
      RANGE BETWEEN 3599999999 PRECEDING AND CURRENT ROW
    ) AS "__f0",
    FSUM(CAST("amount" AS DOUBLE)) OVER (
      PARTITION BY "customer_id"
      ORDER BY "__us"
      RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS "__f1"
  FROM (
    SELECT
      "customer_id",
      EPOCH_US("__ts") AS "__us",
      "amount"
    FROM "ev"
    JOIN "fk"
      USING ("customer_id")
    WHERE
      NOT "amount" IS NULL
    UNION ALL BY NAME
    SELECT
      "customer_id",
      EPOCH_US("__t") AS "__us",
      "__row_id"
    FROM "ent"
    JOIN "fk"
      USING ("customer_id")
  ) AS "u"
  QUALIFY
    NOT "__row_id" IS NULL
)
SELECT
  "e"."__row_id",
  CAST(CASE
    WHEN (
      "rp"."__n0_0" - COALESCE("rp"."__n0_1", 0)
    ) > 0
    THEN COALESCE(
      CAST((
        "rp"."__s0_0" - COALESCE("rp"."__s0_1", 0)
      ) AS DOUBLE) / POWER(2.0, "rp"."__k0_0"),
      "fb"."__f0"
    )
  END AS DOUBLE) AS "w1h",
  CAST(CASE
    WHEN "rp"."__n0_0" > 0
    THEN COALESCE(CAST("rp"."__s0_0" AS DOUBLE) / POWER(2.0, "rp"."__k0_0"), "fb"."__f1")
  END AS DOUBLE) AS "life"
FROM "entity_rows" AS "e"
LEFT JOIN "rp"
  ON "rp"."__row_id" = "e"."__row_id"
LEFT JOIN "fb"
  ON "fb"."__row_id" = "e"."__row_id";

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
    CAST(FSUM(CAST("amount" AS DOUBLE)) AS DOUBLE) AS "__p1_s"
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
    CASE
      WHEN "o"."__p1_s" IS NULL
      THEN "f"."__p1_s"
      WHEN "f"."__p1_s" IS NULL
      THEN "o"."__p1_s"
      ELSE "o"."__p1_s" + "f"."__p1_s"
    END AS "__p1_s"
  FROM "old" AS "o"
  FULL OUTER JOIN "ns" AS "f"
    ON "o"."customer_id" = "f"."customer_id"
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
  ON "k"."customer_id" = "p"."customer_id";
