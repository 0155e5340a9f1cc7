"""Online stores: the latest feature values per entity, written in bulk and read in one round trip.

What lives here
    ``base.py``       the ``OnlineStore`` protocol, ``OnlineView`` (what a store knows of a view),
                      ``ViewResult``, ``Status`` and ``StoreCapabilities``; the contract in its docstring;
                      ``SinkSpec``: a store as picklable settings a Spark executor opens to write with the
                      same code (``store.sink_spec()``: Redis, Redis Cluster; SQLite: None)
    ``keys.py``       the one canonical entity-key encoding, namespaces and the Redis key layout
    ``codec.py``      the packed value (event time + null bits + features), encoded/decoded in bulk
    ``readplan.py``   ``compile_read_plan``: a read request compiled once (keys, decoders), cached by callers
    ``batch.py``      a write batch (Arrow) checked and encoded, shared by every store
    ``sqlite.py``     the embedded default: a SQLite file in WAL mode
    ``redis.py``      standalone Redis (redis-py + hiredis): MGET reads, newer-wins Lua writes
    ``redis_async.py``  standalone Redis reads awaited on an event loop (the server's ``read_async``)
    ``redis_cluster.py``  Redis Cluster: the same, grouped per node
    ``factory.py``    ``open_online_store(config, repo_root)``

Using it::

    store = open_online_store(config.online, repo_root)
    store.write(view, batch)          # batch: join keys, __event_ts, features  -> values written
    plan = compile_read_plan([(view, ["conv_rate"]), (other_view, None)])      # once per feature list
    results = store.read(plan, {"driver_id": [1001, 1002]})   # one ViewResult per plan entry
    results[0].column("conv_rate")    # Arrow (built on first access); .status, .event_ts likewise
    results[0].values("conv_rate")    # the same as Python values, without Arrow (fast for few entities)
    store.delete_namespaces(project, view.name, keep_version=view.version)

What it may import: ``featurestore.errors``, ``featurestore.config`` (factory only) and
``featurestore.dsl.dtypes``; pyarrow; ``redis`` only inside ``redis.py`` / ``redis_async.py`` /
``redis_cluster.py`` (imported lazily by the factory). Never plans, the registry, the CLI or the server.

Adding a store: one module with a class satisfying ``OnlineStore`` that reuses ``batch.encode_batch``,
``ReadPlan.encode_keys`` / ``ReadPlan.results`` (so keys, values and statuses mean the same everywhere),
one branch in ``factory.py``, and its fixture in ``tests/online/conftest.py`` so the contract suite runs
against it.
"""

from featurestore.online.base import (
    EVENT_TS,
    OnlineStore,
    OnlineView,
    Status,
    StoreCapabilities,
    ViewResult,
)
from featurestore.online.factory import open_online_store
from featurestore.online.readplan import ReadPlan, compile_read_plan

__all__ = [
    "EVENT_TS",
    "OnlineStore",
    "OnlineView",
    "ReadPlan",
    "Status",
    "StoreCapabilities",
    "ViewResult",
    "compile_read_plan",
    "open_online_store",
]
