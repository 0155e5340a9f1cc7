"""Bulk data storage: the push log, the feature log and the lifetime-aggregate states.

What lives here
    ``base.py``    the ``Storage`` protocol (atomic writes of bytes / Parquet to relative keys, reads,
                   listings, deletes, and the ``uri`` / ``glob_uri`` an engine reads), ``StoredObject``
    ``local.py``   ``LocalStorage``: a folder (temp file + fsync + rename); the default, ``.featurestore/``
    ``s3.py``      ``S3Storage``: ``s3://bucket/prefix`` on pyarrow's ``S3FileSystem``; ``s3_filesystem``,
                   the same filesystem the engines read ``s3://`` paths with
    ``open.py``    ``open_storage(config.storage, root)`` and ``storage_for(root)``, the storage of a repo

The layout under the base is the same everywhere (``push_log/<view>/``, ``feature_log/<service>/``,
``aggregates/<view>/``), so the default local storage keeps exactly the paths of ``.featurestore/``.
May import ``config`` and ``errors`` only. To add a backend (say ``gs://``): a class with the
``Storage`` methods, and one branch in ``open_storage``.
"""

from featurestore.storage.base import Storage, StoredObject, join_key
from featurestore.storage.local import LocalStorage
from featurestore.storage.open import open_storage, remember_storage, storage_for
from featurestore.storage.s3 import S3Storage, s3_filesystem

__all__ = [
    "LocalStorage",
    "S3Storage",
    "Storage",
    "StoredObject",
    "join_key",
    "open_storage",
    "remember_storage",
    "s3_filesystem",
    "storage_for",
]
