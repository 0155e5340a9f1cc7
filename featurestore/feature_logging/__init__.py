"""Feature logging: what feature services serve, logged to Parquet and replayed offline.

What lives here
    ``writer.py``   ``FeatureLogger``: sampling, a bounded queue (a full queue drops and counts, never
                    blocks), a background thread writing atomic Parquet files per service
    ``replay.py``   ``verify_log``: logged rows recomputed as a training set at their request time
    ``consistency.py`` ``ConsistencyMetrics`` per feature (training/serving skew): match, mismatch,
                    missing, extra, the SMAPE of numbers; the per-row table (``write_rows``)

Turned on per feature service: ``FeatureService(..., logging=FeatureLogging(sample_rate=0.1))``. The
HTTP server logs requests made by feature-service name. May import the core (store, registry, dsl);
never the server or the CLI.
"""

from featurestore.feature_logging.consistency import ConsistencyMetrics, SmapeSummary, write_rows
from featurestore.feature_logging.replay import FeatureSkew, verify_log
from featurestore.feature_logging.writer import REQUEST_TS, FeatureLogger

__all__ = [
    "REQUEST_TS",
    "ConsistencyMetrics",
    "FeatureLogger",
    "FeatureSkew",
    "SmapeSummary",
    "verify_log",
    "write_rows",
]
