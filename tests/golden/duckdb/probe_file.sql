SELECT * FROM READ_PARQUET('/repo/data/driver_stats.parquet')
