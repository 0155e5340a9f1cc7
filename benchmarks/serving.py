"""HTTP online-features benchmark: featurestore serve vs a minimal ASGI app vs feast serve, in one run.

    python benchmarks/serving.py           # 10,000 timed requests per run; updates benchmarks/README.md
    python benchmarks/serving.py --quick   # a smoke run; leaves the README alone

One redis-server on a free loopback port holds the values of every system (featurestore's and Feast's
keys side by side). Each server runs with the same number of worker processes; the load generator
(``http_load.py``) is a separate process with keep-alive connections. For 1 and 100 entities per request
(2 feature views, 6 features): a latency run (one connection, requests back to back) and a throughput run
(``--concurrency`` connections). See benchmarks/README.md.
"""

# This file is named like the standard library's ``http`` package; keep its folder off the front of the
# import path so that ``import http.client`` (used by the libraries below) finds the real one.
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE] + [_HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

BENCH_DIR = Path(_HERE)
REPO_ROOT = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / ".work" / "http"
README = BENCH_DIR / "README.md"
START, END = "<!-- http:start -->", "<!-- http:end -->"
SECTION_TITLE = "## Online features over HTTP: `serving.py`"
VIEWS = [
    {"name": "driver_stats", "features": [["conv_rate", "float64"], ["acc_rate", "float64"],
                                          ["avg_daily_trips", "int64"]]},
    {"name": "driver_profile", "features": [["rating", "float64"], ["lifetime_trips", "int64"],
                                            ["days_active", "int64"]]},
]  # fmt: skip
REFS = [f"{v['name']}:{f}" for v in VIEWS for f, _ in v["features"]]
LABELS = {
    "minimal": "minimal ASGI app (orjson + MGET, raw limit)",
    "ours": "featurestore serve",
    "feast": "feast serve (Feast 0.67)",
}


@dataclass
class Outcome:
    system: str
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str = ""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--drivers", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=10_000, help="timed requests per run")
    parser.add_argument("--warmup", type=int, default=1_000, help="untimed requests before each run")
    parser.add_argument("--concurrency", type=int, default=16, help="connections in the throughput runs")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server worker processes")
    parser.add_argument("--systems", default="minimal,ours,feast")
    parser.add_argument("--entities", default="1,100", help="entities per request, comma-separated")
    parser.add_argument("--quick", action="store_true", help="1,000 requests, 200 warm-up; README untouched")
    parser.add_argument(
        "--working-tree",
        action="store_true",
        help="run featurestore's uncommitted edits (default: the committed code, extracted from HEAD)",
    )
    parser.add_argument("--readme", action=argparse.BooleanOptionalAction, default=None)
    args = parser.parse_args()
    if args.quick:
        args.requests, args.warmup = min(args.requests, 1_000), min(args.warmup, 200)
    if args.readme is None:
        args.readme = not args.quick
    return args


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# -- setup --------------------------------------------------------------------------------------------


def start_redis(folder: Path, port: int | None = None) -> tuple[subprocess.Popen[bytes], int]:
    """A private redis-server (no persistence) on ``port`` (default: a free one), answering PING."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install redis-server)")
    port = port or free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder), "--logfile", str(folder / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    sys.exit("redis-server did not start")


def write_data(folder: Path, drivers: int) -> datetime:
    """One row per driver per view, an hour old (well inside every ttl)."""
    rng = np.random.default_rng(11)
    at = datetime.now(UTC).replace(microsecond=0, tzinfo=None) - timedelta(hours=1)
    folder.mkdir(parents=True, exist_ok=True)
    ids = np.arange(1, drivers + 1, dtype=np.int64)
    stamps = pa.array([at] * drivers, pa.timestamp("us"))
    for view in VIEWS:
        columns: dict[str, Any] = {"driver_id": ids, "event_timestamp": stamps, "created": stamps}
        for name, dtype in view["features"]:
            columns[name] = (
                np.round(rng.random(drivers), 4) if dtype == "float64" else rng.integers(0, 1000, drivers)
            )
        pq.write_table(pa.table(columns), folder / f"{view['name']}.parquet")
    return at


OURS_DEFINITIONS = """
from datetime import timedelta

from featurestore import Entity, Feature, FeatureView, FileSource

driver = Entity(name="driver", join_keys=["driver_id"])
{views}
"""
OURS_VIEW = """
{name} = FeatureView(
    name="{name}", entities=[driver], ttl=timedelta(days=7),
    source=FileSource(name="{name}", path="{path}", created_timestamp_field="created"),
    features=[{features}],
)
"""


def setup_ours(repo: Path, data: Path, redis_port: int) -> dict[str, Any]:
    """Our repo on the benchmark Redis, applied and materialized; the minimal app's key layout."""
    from featurestore import FeatureStore
    from featurestore.online import keys

    (repo / "definitions").mkdir(parents=True, exist_ok=True)
    (repo / "featurestore.toml").write_text(
        f'project = "bench"\n[online]\ntype = "redis"\nurl = "redis://127.0.0.1:{redis_port}/0"\n'
    )
    views = "".join(
        OURS_VIEW.format(
            name=v["name"],
            path=data / f"{v['name']}.parquet",
            features=", ".join(f'Feature("{n}", "{d}")' for n, d in v["features"]),
        )
        for v in VIEWS
    )
    (repo / "definitions" / "bench.py").write_text(OURS_DEFINITIONS.format(views=views))
    with FeatureStore(repo) as store:
        store.apply()
        began = time.perf_counter()
        store.materialize(end=datetime.now(UTC))
        print(f"featurestore materialized in {time.perf_counter() - began:.1f}s", flush=True)
        served = store.served_views()
        layout = []
        for v in VIEWS:
            target = served[v["name"]].current
            fmt = "<qB" + "".join("d" if d == "float64" else "q" for _, d in v["features"])
            layout.append(
                {
                    "prefix": keys.redis_key(target.namespace, "")[:-1],
                    "struct": fmt,
                    "features": [n for n, _ in v["features"]],
                }
            )
    return {"redis_port": redis_port, "views": layout}


FEAST_VENV = BENCH_DIR / ".feast-venv"


def setup_feast(repo: Path, data: Path, redis_port: int) -> tuple[Path | None, str]:
    # The training-set benchmark's helper creates (once) and checks the shared Feast virtualenv.
    sys.path.append(str(BENCH_DIR / "tsbench"))
    from ts_env import ensure_feast_venv

    python, why = ensure_feast_venv(FEAST_VENV)
    if python is None:
        return None, why
    probe = subprocess.run([str(python), "-c", "import redis"], capture_output=True)
    if probe.returncode != 0:
        print("installing feast[redis]==0.67.0 into the Feast virtualenv (once) ...", flush=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "feast[redis,duckdb]==0.67.0"],
            check=True, timeout=1800,
        )  # fmt: skip
    job = {"repo": str(repo), "data": str(data), "redis_port": redis_port, "views": VIEWS}
    done = subprocess.run(
        [str(python), "-P", str(BENCH_DIR / "http_feast_setup.py"), json.dumps(job)],
        capture_output=True, text=True, timeout=1800, env={**os.environ, "FEAST_USAGE": "False"},
    )  # fmt: skip
    if done.returncode != 0:
        return None, f"Feast setup failed: {done.stderr.strip()[-800:]}"
    print(done.stdout.strip(), flush=True)
    return FEAST_VENV / "bin" / "feast", ""


# -- servers ------------------------------------------------------------------------------------------


def server_command(
    system: str, port: int, workers: int, ctx: dict[str, Any]
) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ}
    if system == "ours":
        env.pop("FEATURESTORE_SERVER_TOKEN", None)
        if ctx.get("code") is not None:
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ctx["code"]), env.get("PYTHONPATH")]))
        return [sys.executable, "-m", "featurestore.cli", "--repo", str(ctx["ours_repo"]), "serve",
                "--port", str(port), "--workers", str(workers)], env  # fmt: skip
    if system == "minimal":
        env["HTTP_MINIMAL_CONFIG"] = json.dumps(ctx["minimal"])
        launcher = (
            f"import sys; sys.path.append({str(BENCH_DIR)!r}); import uvicorn; "
            f"uvicorn.run('http_minimal:app', factory=True, host='127.0.0.1', port={port}, "
            f"workers={workers}, http='httptools', loop='uvloop', access_log=False, log_level='warning')"
        )
        return [sys.executable, "-c", launcher], env
    env["FEAST_USAGE"] = "False"
    return [str(ctx["feast_bin"]), "-c", str(ctx["feast_repo"]), "serve", "-p", str(port), "-w", str(workers),
            "--no-access-log", "--max-requests", "100000000"], env  # fmt: skip


def path_of(system: str) -> str:
    return "/get-online-features" if system == "feast" else "/online-features"


def body_for(ids: list[int]) -> str:
    return json.dumps({"features": REFS, "entities": {"driver_id": ids}})


def post(port: int, path: str, body: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()[:300]


def conv_rates(system: str, answer: Any) -> list[Any]:
    if system == "feast":
        names = answer["metadata"]["feature_names"]
        return answer["results"][names.index("conv_rate")]["values"]  # type: ignore[no-any-return]
    return answer["values"]["conv_rate"]  # type: ignore[no-any-return]


def start_server(
    system: str, workers: int, ctx: dict[str, Any], log: Path
) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    command, env = server_command(system, port, workers, ctx)
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=str(WORK_DIR))
    deadline = time.monotonic() + 180
    probe = body_for([1])
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{system} exited at startup: {log.read_text()[-1500:]}")
        try:
            status, _ = post(port, path_of(system), probe)
            if status == 200:
                return process, port
        except OSError:
            pass
        time.sleep(0.2)
    stop(process)
    raise RuntimeError(f"{system} did not answer within 180s: {log.read_text()[-1500:]}")


def tree_cpu_seconds(root_pid: int) -> float:
    """User + system CPU seconds of a process and all its descendants (from /proc), for CPU per request:
    the steadier figure when other work shares the machine."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        children.setdefault(int(fields[1]), []).append(pid)
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    total, todo = 0.0, [root_pid]
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo += children.get(pid, [])
    return total


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def load(
    port: int, path: str, bodies: list[str], warmup: int, requests: int, concurrency: int
) -> dict[str, Any]:
    job = {"host": "127.0.0.1", "port": port, "path": path, "bodies": bodies, "warmup": warmup,
           "requests": requests, "concurrency": concurrency}  # fmt: skip
    # -P: do not put benchmarks/ first on the path (this file would shadow the http package)
    done = subprocess.run(
        [sys.executable, "-P", str(BENCH_DIR / "http_load.py"), json.dumps(job)],
        capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[7:])
            return result
    raise RuntimeError(f"load generator failed: {done.stderr.strip()[-1500:]}")


# -- the run --------------------------------------------------------------------------------------------


def measure(
    system: str, args: argparse.Namespace, ctx: dict[str, Any], expected: dict[int, float]
) -> Outcome:
    outcome = Outcome(system)
    log = WORK_DIR / f"{system}-server.log"
    try:
        process, port = start_server(system, args.workers, ctx, log)
    except RuntimeError as exc:
        outcome.error = str(exc)
        return outcome
    try:
        rng = np.random.default_rng(5)
        for n in [int(x) for x in args.entities.split(",")]:
            id_sets = [sorted(rng.choice(args.drivers, n, replace=False) + 1) for _ in range(64)]
            bodies = [body_for([int(i) for i in ids]) for ids in id_sets]
            status, answer = post(port, path_of(system), bodies[0])
            got = conv_rates(system, answer) if status == 200 else None
            want = [expected[int(i)] for i in id_sets[0]]
            if got != want:
                outcome.error = f"wrong values for {n} entities: {str(got)[:200]} != {str(want)[:200]}"
                return outcome
            for mode, concurrency in (("latency", 1), ("throughput", args.concurrency)):
                key = f"{n}:{mode}"
                print(f"  {system}: {n} entities, {mode} (c={concurrency}) ...", flush=True)
                load(port, path_of(system), bodies, 0, args.warmup, concurrency)  # warm-up, untimed
                cpu_before = tree_cpu_seconds(process.pid)
                redis_before = tree_cpu_seconds(ctx["redis_pid"])
                outcome.runs[key] = load(port, path_of(system), bodies, 0, args.requests, concurrency)
                r = outcome.runs[key]
                r["server_cpu_us"] = (tree_cpu_seconds(process.pid) - cpu_before) / args.requests * 1e6
                r["redis_cpu_us"] = (tree_cpu_seconds(ctx["redis_pid"]) - redis_before) / args.requests * 1e6
                print(
                    f"    p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  {r['rps']:,.0f} req/s"
                    f"  CPU us/request: server {r['server_cpu_us']:.0f}, redis {r['redis_cpu_us']:.0f}, "
                    f"client {r['client_cpu_us']:.0f}  errors {r['errors']}",
                    flush=True,
                )
    finally:
        stop(process)
    return outcome


def table(outcomes: list[Outcome], args: argparse.Namespace) -> str:
    """p50/p99 of the latency runs, req/s of both runs; ratios: p50 over the minimal app's (1.00x = the
    raw limit), Feast's p50 over this one's and this one's throughput over Feast's (> 1: faster)."""
    by = {o.system: o for o in outcomes}
    lines = [
        "| system | entities | p50 ms | p99 ms | req/s, 1 conn | req/s, "
        f"{args.concurrency} conns | CPU µs/req: server, Redis, client | p50 / minimal's | CPU / minimal's | "
        "Feast's p50 / p50 | req/s / Feast's |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in [int(x) for x in args.entities.split(",")]:
        for o in outcomes:
            if o.error:
                continue
            lat, thr = o.runs[f"{n}:latency"], o.runs[f"{n}:throughput"]
            cells = []
            for other, run, metric, invert in (
                ("minimal", "latency", "p50_ms", False),
                ("minimal", "throughput", "server_cpu_us", False),
                ("feast", "latency", "p50_ms", True),
                ("feast", "throughput", "rps", False),
            ):
                ref = by.get(other)
                if ref is None or ref.error or other == o.system:
                    cells.append("-")
                    continue
                mine, theirs = o.runs[f"{n}:{run}"][metric], ref.runs[f"{n}:{run}"][metric]
                cells.append(f"{(theirs / mine) if invert else (mine / theirs):.2f}x")
            lines.append(
                f"| {LABELS[o.system]} | {n} | {lat['p50_ms']:.3f} | {lat['p99_ms']:.3f} | "
                f"{lat['rps']:,.0f} | {thr['rps']:,.0f} | {thr['server_cpu_us']:.0f}, "
                f"{thr['redis_cpu_us']:.0f}, {thr['client_cpu_us']:.0f} | {' | '.join(cells)} |"
            )
    for o in outcomes:
        if o.error:
            lines.append(f"\n{LABELS[o.system]} failed: {o.error}")
    return "\n".join(lines)


def update_readme(text: str) -> None:
    current = README.read_text()
    block = f"{START}\n{text}\n{END}"
    if START in current and END in current:
        head, rest = current.split(START, 1)
        tail = rest.split(END, 1)[1]
        README.write_text(head + block + tail)
    else:
        README.write_text(current.rstrip("\n") + "\n\n" + block + "\n")


def main() -> None:
    args = parse_args()
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    # The committed featurestore (HEAD, extracted once), so edits in progress in a shared working tree
    # cannot break or change a run: the training-set benchmark's helper.
    sys.path.append(str(BENCH_DIR / "tsbench"))
    from ts_env import featurestore_code

    code = featurestore_code(REPO_ROOT, WORK_DIR, args.working_tree)
    # The working tree: this checkout's package (here and in the servers), not whichever one the
    # interpreter would import first.
    code_path = REPO_ROOT if code.path is None else code.path
    sys.path.insert(0, str(code_path))
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="httpbench-") as tmp:
        tmp_path = Path(tmp)
        redis, redis_port = start_redis(tmp_path)
        try:
            data = WORK_DIR / "data"
            write_data(data, args.drivers)
            expected = dict(
                zip(
                    pq.read_table(data / "driver_stats.parquet").column("driver_id").to_pylist(),
                    pq.read_table(data / "driver_stats.parquet").column("conv_rate").to_pylist(),
                    strict=True,
                )
            )
            ctx: dict[str, Any] = {
                "ours_repo": tmp_path / "ours",
                "feast_repo": tmp_path / "feast",
                "code": code_path,
                "redis_pid": redis.pid,
            }
            ctx["minimal"] = setup_ours(ctx["ours_repo"], data, redis_port)
            outcomes = []
            if "feast" in systems:
                ctx["feast_bin"], why = setup_feast(ctx["feast_repo"], data, redis_port)
                if ctx["feast_bin"] is None:
                    outcomes.append(Outcome("feast", error=why))
                    systems.remove("feast")
            for system in systems:
                print(f"{LABELS[system]}:", flush=True)
                outcomes.append(measure(system, args, ctx, expected))
        finally:
            redis.terminate()
            redis.wait()
    order = {s: i for i, s in enumerate(LABELS)}
    outcomes.sort(key=lambda o: order[o.system])
    result = table(outcomes, args)
    load_after = os.getloadavg()
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    summary = (
        f"Run {stamp} on {machine}; featurestore from {code.label}. {args.drivers:,} drivers, "
        "2 views x 3 features in one Redis; "
        f"{args.workers} worker process(es) per server; {args.requests:,} timed requests per run after "
        f"{args.warmup:,} warm-up; 64 rotating request bodies.\n\n{result}"
    )
    print("\n" + summary)
    if args.readme:
        update_readme(summary)
        print(f"\nrecorded in {README}")


if __name__ == "__main__":
    main()
