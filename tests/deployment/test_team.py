"""The team deployment, end to end: separate working directories that share no local file, only one
PostgreSQL (registry and state), one S3 server (sources, push log, feature log, aggregate states) and one
Redis (the online store).

* ``ci/`` holds ``definitions/`` (sources on ``s3://``): ``plan`` then ``apply``;
* ``scheduler/`` holds nothing: ``materialize``; a run SIGKILLed mid-way is rerun from ``scheduler2/``;
* ``serving/`` holds nothing: two ``featurestore serve`` processes, on-demand features included;
* ``notebook/`` holds nothing: a training set that sees rows pushed through a server, and
  ``verify --from-log`` over the feature logs both servers wrote.

Every process is configured by environment variables alone (``FEATURESTORE_*``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.conftest import copy_example_repo
from tests.server.conftest import SERVING_DEFINITIONS, materialized_at, start_server
from tests.storage.conftest import Bucket

pytestmark = [pytest.mark.postgres, pytest.mark.s3]

PROJECT = "team"
ENTITIES = {"driver_id": [1001, 1002, 1003], "customer_id": [5001, 5002, 5003]}
REQUEST = {"quoted_fare": [10.0, 22.5, 7.0], "distance_km": [2.0, 9.0, 1.0]}


@dataclass
class Deployment:
    """The shared services, and the environment every process of the deployment is given."""

    env: dict[str, str]
    bucket: Bucket
    at: datetime
    drivers: list[int]
    customers: list[int]

    def run(self, folder: Path, *args: str, project: str = PROJECT, check: bool = True) -> str:
        """``featurestore --repo folder ARGS`` in a process of its own; its standard output."""
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "featurestore.cli", "--repo", str(folder), *args],
            env={**self.env, "FEATURESTORE_PROJECT": project}, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if check:
            assert done.returncode == 0, f"{args}: {done.stdout[-2000:]} {done.stderr[-3000:]}"
        return done.stdout

    def python(self, folder: Path, code: str, project: str = PROJECT) -> Any:
        """Run ``code`` (which prints one JSON document) with the SDK in ``folder``; the document."""
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=folder, env={**self.env, "FEATURESTORE_PROJECT": project},
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])


SNAPSHOT = """
import itertools, json
from datetime import datetime
from featurestore import FeatureStore
drivers, customers, at = {drivers!r}, {customers!r}, datetime.fromisoformat({at!r})
pairs = list(itertools.product(drivers, customers))
rows = {{"driver_id": [d for d, _ in pairs], "customer_id": [c for _, c in pairs]}}
views = ["driver_hourly_stats", "customer_profile", "driver_customer_stats", "customer_payments"]
with FeatureStore(".") as store:
    online = store.get_online_features([v + ":*" for v in views], rows, full_feature_names=True, now=at)
    print(json.dumps({{"values": online.to_dict(), "statuses": online.statuses()}}, default=str))
"""


@pytest.fixture
def deployment(
    tmp_path: Path, postgres_url: str, s3: Bucket, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Deployment:
    """The example repo's data uploaded to the bucket (nothing local is read), and the environment."""
    from pyarrow import fs

    at = materialized_at()
    source = tmp_path / "generated"
    copy_example_repo(source, days=3, drivers=20, customers=40, rows=200, end=at)
    s3fs = fs.S3FileSystem(
        access_key=s3.server.access_key, secret_key=s3.server.secret_key,
        endpoint_override=s3.server.endpoint.removeprefix("http://"), scheme="http", region="us-east-1",
    )  # fmt: skip
    fs.copy_files(str(source / "data"), f"{s3.name}/{s3.prefix}/data", destination_filesystem=s3fs)
    drivers = sorted(
        set(pq.read_table(source / "data" / "driver_hourly_stats.parquet")["driver_id"].to_pylist())
    )
    customers = sorted(
        set(pq.read_table(source / "data" / "customer_payments.parquet")["customer_id"].to_pylist())
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEATURESTORE_")}
    env.update(s3.server.env())
    env.update({
        "FEATURESTORE_REGISTRY_URL": postgres_url,
        "FEATURESTORE_REGISTRY_REFRESH": "0.2s",
        "FEATURESTORE_STORAGE_URL": f"{s3.url}/state",
        "FEATURESTORE_ONLINE_URL": redis_url,
    })  # fmt: skip
    ci = tmp_path / "ci"
    (ci / "definitions").mkdir(parents=True)
    for file in (source / "definitions").glob("*.py"):
        if file.name != "_generate.py":
            text = (
                file.read_text().replace("'data/", f"'{s3.url}/data/").replace('"data/', f'"{s3.url}/data/')
            )
            (ci / "definitions" / file.name).write_text(text)
    (ci / "definitions" / "serving.py").write_text(SERVING_DEFINITIONS)
    return Deployment(env, s3, at, drivers, customers)


def test_a_team_deployment_shares_only_postgres_s3_and_redis(deployment: Deployment, tmp_path: Path) -> None:
    d, at = deployment, deployment.at.isoformat()

    # CI: plan, then apply exactly what was planned.
    ci = tmp_path / "ci"
    plan = json.loads(d.run(ci, "plan", "--json"))
    assert plan["base_version"] == 0
    d.run(ci, "apply", "--expect-version", "0")
    stale = subprocess.run(
        [sys.executable, "-m", "featurestore.cli", "--repo", str(ci), "apply", "--expect-version", "0"],
        env={**d.env, "FEATURESTORE_PROJECT": PROJECT}, capture_output=True, text=True,
    )  # fmt: skip
    assert stale.returncode == 1
    assert "the registry changed since your plan (version 0 -> 1); run plan again" in stale.stderr

    # The scheduler: a materialization killed mid-run (SIGKILL), rerun from another machine.
    scheduler = tmp_path / "scheduler"
    scheduler.mkdir()
    import redis

    client = redis.Redis.from_url(d.env["FEATURESTORE_ONLINE_URL"])
    before = client.dbsize()  # the Redis is shared with other tests' projects
    killed = subprocess.Popen(
        [sys.executable, "-m", "featurestore.cli", "--repo", str(scheduler), "materialize", "--end", at],
        env={**d.env, "FEATURESTORE_PROJECT": PROJECT, "FEATURESTORE_MATERIALIZE_BATCH_SIZE": "7"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while client.dbsize() < before + 30 and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL, "the run ended before it could be killed mid-way"
    marks = d.python(tmp_path / "ops", CHECKS_MARKS)
    assert len(marks) < len(VIEWS), "every view was complete before the kill: the kill was not mid-run"
    d.run(tmp_path / "scheduler2", "materialize", "--end", at)

    # One clean run of the same definitions, as another project sharing the same services.
    d.run(ci, "apply", project="clean")
    d.run(tmp_path / "clean-scheduler", "materialize", "--end", at, project="clean")
    code = SNAPSHOT.format(drivers=d.drivers, customers=d.customers, at=at)
    rerun = d.python(tmp_path / "notebook", code)
    clean = d.python(tmp_path / "notebook", code, project="clean")
    assert rerun == clean
    present = sum(s == "PRESENT" for statuses in rerun["statuses"].values() for s in statuses)
    assert present > 0
    checks = d.python(tmp_path / "notebook", CHECKS.format(at=at))
    assert checks["pending"] == [], "a version the killed run began is left pending"
    assert checks["watermarks"] == dict.fromkeys(VIEWS, at)
    assert checks["verify"], checks
    consistent = all(c["failures"] == 0 and c["matches"] > 0 for c in checks["verify"])
    assert consistent, json.dumps(checks["verify"])

    # Two servers from a folder holding nothing but what the environment says, on a read-only role.
    reader = read_only_role(d.env["FEATURESTORE_REGISTRY_URL"])
    serving = tmp_path / "serving"
    serving.mkdir()
    reading = {**d.env, "FEATURESTORE_PROJECT": PROJECT, "FEATURESTORE_REGISTRY_URL": reader}
    servers = [start_server(serving, tmp_path, env_extra=reading) for _ in "ab"]
    try:
        body = {"feature_service": "ranking_logged", "entities": ENTITIES, "request_data": REQUEST}
        answers = [server.request("POST", "/online-features", body) for server in servers]
        assert [a[0] for a in answers] == [200, 200], answers
        assert answers[0][1]["values"] == answers[1][1]["values"]
        assert answers[0][1]["values"]["fare_per_km"] == [5.0, 2.5, 7.0]  # on-demand, code from the registry

        # A push through the first server: online at once on the second, offline in the shared push log.
        # Stamped now, after the first requests: the replay of those must not see it (no skew anywhere).
        pushed_at = datetime.now(UTC).replace(tzinfo=None).isoformat()
        row = {"driver_id": 1001, "event_timestamp": pushed_at, "conv_rate": 0.4242, "acc_rate": 0.5,
               "avg_daily_trips": 7}  # fmt: skip
        code_, answer, _ = servers[0].request(
            "POST", "/push", {"view": "driver_hourly_stats", "rows": [row], "to": "both"}
        )
        assert code_ == 200, answer
        code_, answer, _ = servers[1].request(
            "POST", "/online-features",
            {"features": ["driver_hourly_stats:conv_rate"], "entities": {"driver_id": [1001]}},
        )  # fmt: skip
        assert (code_, answer["values"]["conv_rate"]) == (200, [0.4242]), answer
        # Both servers serve (and log) the service once more, after the push.
        for server in servers:
            assert server.request("POST", "/online-features", body)[0] == 200
    finally:
        for server in servers:
            assert server.stop() in (0, -signal.SIGTERM), server.log.read_text()[-3000:]

    # A notebook elsewhere: the training set sees the pushed row, the feature logs of both servers replay.
    d.env["FEATURESTORE_REGISTRY_URL"] = reader  # a data scientist's notebook reads, too
    seen = d.python(tmp_path / "notebook2", TRAINING.format(at=pushed_at))
    assert seen == [0.4242]
    replay = d.python(tmp_path / "notebook2", REPLAY.format(url=d.env["FEATURESTORE_STORAGE_URL"]))
    assert replay["files"] >= 2, replay  # one per server process at least
    assert replay["rows"] == 4 * len(ENTITIES["driver_id"]), replay  # two requests through each server
    assert replay["mismatches"] == 0, replay
    assert not (tmp_path / "serving" / ".featurestore").exists() or not any(
        (tmp_path / "serving" / ".featurestore").rglob("*.parquet")
    )


def read_only_role(url: str) -> str:
    """A role that may only read the registry's tables; the URL that logs in as it."""
    import psycopg

    role = f"reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    return url.replace("postgres@", f"{role}@", 1)


CHECKS_MARKS = """
import json
from featurestore import FeatureStore
with FeatureStore(".") as store:
    print(json.dumps(sorted(store.state.watermarks())))
"""

VIEWS = ["driver_hourly_stats", "customer_profile", "driver_customer_stats", "customer_payments"]

CHECKS = """
import json
from featurestore import FeatureStore
with FeatureStore(".") as store:
    marks = store.state.watermarks()
    pending = [r.view for r in store.state.versions() if r.status == "pending"]
    checks = store.verify(sample=None)
    print(json.dumps({{
        "watermarks": {{v: m.event_time.isoformat() for v, m in marks.items()}},
        "pending": pending,
        "verify": [{{"view": c.view, "failures": c.failures, "matches": c.matches, "entities": c.entities}}
                   for c in checks],
    }}))
"""

TRAINING = """
import json
from datetime import datetime
import pyarrow as pa
from featurestore import FeatureStore
at = datetime.fromisoformat({at!r})
with FeatureStore(".") as store:
    rows = pa.table({{"driver_id": [1001], "event_timestamp": [at]}})
    print(json.dumps(store.get_training_set(rows, ["driver_hourly_stats:conv_rate"]).to_arrow()
                     .column("conv_rate").to_pylist()))
"""

REPLAY = """
import json
from featurestore import FeatureStore
with FeatureStore(".") as store:
    files = store.storage.list("feature_log/ranking_logged")
    checks = store.verify_log({url!r} + "/feature_log")
    print(json.dumps({{"files": len(files), "rows": max(c.rows for c in checks),
                      "mismatches": sum(c.mismatches for c in checks)}}))
"""
