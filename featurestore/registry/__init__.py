"""The registry: definitions loaded from ``definitions/*.py``, fingerprinted, diffed and stored as JSON.

May import ``featurestore.dsl``, ``featurestore.errors`` and ``featurestore.config``; never an engine
or an online store (schemas are handed in by the caller). Runtime state (watermarks) lives in
``state.py``, beside the registry, never inside it. Both are stored by a backend (``backend.py``:
files, SQLite or PostgreSQL); to add one, subclass ``RegistryBackend`` in a module of its own and add
a line to ``backends.py::open_backend`` (its driver imported there, lazily).
"""

from featurestore.registry.diff import Change, RegistryDiff, diff_registries
from featurestore.registry.loader import Definitions, load_definitions
from featurestore.registry.model import RegisteredView, Registry
from featurestore.registry.storage import read_registry, write_registry

__all__ = [
    "Change",
    "Definitions",
    "RegisteredView",
    "Registry",
    "RegistryDiff",
    "diff_registries",
    "load_definitions",
    "read_registry",
    "write_registry",
]
