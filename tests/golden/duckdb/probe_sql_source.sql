SELECT * FROM (SELECT user_id, ts, clicks FROM READ_PARQUET('data/clicks/*.parquet') WHERE clicks >= 0) AS "src"
