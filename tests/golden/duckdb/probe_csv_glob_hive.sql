SELECT * FROM READ_CSV('/repo/data/orders/**/*.csv', hive_partitioning = TRUE)
