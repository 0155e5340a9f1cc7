SELECT
  COUNT(*) AS "m0",
  MAX("__event_ts") AS "m1",
  SUM(
    CASE
      WHEN CASE WHEN ISNAN("conv_rate") THEN NULL ELSE "conv_rate" END IS NULL
      THEN 1
      ELSE 0
    END
  ) AS "m2",
  SUM(
    CASE
      WHEN CAST(CASE WHEN ISNAN("conv_rate") THEN NULL ELSE "conv_rate" END AS DOUBLE) < 0
      OR CAST(CASE WHEN ISNAN("conv_rate") THEN NULL ELSE "conv_rate" END AS DOUBLE) > 1.5
      THEN 1
      ELSE 0
    END
  ) AS "m3",
  MIN(CASE WHEN ISNAN("conv_rate") THEN NULL ELSE "conv_rate" END) AS "m4",
  MAX(CASE WHEN ISNAN("conv_rate") THEN NULL ELSE "conv_rate" END) AS "m5",
  SUM(
    CASE WHEN NOT "tier" IS NULL AND NOT "tier" IN ('gold', 'it''s') THEN 1 ELSE 0 END
  ) AS "m6"
FROM (
  SELECT
    "driver_id",
    "__event_ts",
    "conv_rate",
    "tier"
  FROM "latest_rows"
) AS "rows"
