"""The quickstart that `featurestore init` prints, run as a user runs it, with its results checked.

    python .ci/quickstart.py WORKDIR [--featurestore COMMAND]

Creates WORKDIR/quickstart with `featurestore init`, runs every printed command (apply, training-set,
materialize --end now, get-online, verify) and checks exit codes, that get-online shows PRESENT values,
and that the --json documents parse. COMMAND defaults to the `featurestore` script beside this Python,
so `<venv>/bin/python .ci/quickstart.py DIR` tests what is installed in that virtualenv.

Standard library only: it runs in a virtualenv holding nothing but featurestore's core dependencies.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any


def featurestore_command() -> list[str]:
    script = Path(sys.executable).parent / "featurestore"
    if not script.exists():
        sys.exit(f"{script} does not exist: is featurestore installed in this virtualenv?")
    return [str(script)]


def run(command: list[str], args: list[str], cwd: Path) -> str:
    done = subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        sys.exit(
            f"`featurestore {shlex.join(args)}` exited {done.returncode}\n"
            f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
    return done.stdout


def check(condition: bool, message: str, output: Any) -> None:
    if not condition:
        sys.exit(f"{message}\n--- output\n{output}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--featurestore", help="the command to run (default: the installed script)")
    options = parser.parse_args()
    command = shlex.split(options.featurestore) if options.featurestore else featurestore_command()
    workdir: Path = options.workdir
    workdir.mkdir(parents=True, exist_ok=True)

    out = run(command, ["init", "quickstart"], workdir)
    hint = [line.strip() for line in out.split("Next:", 1)[1].splitlines() if line.strip()]
    check(hint[0] == "cd quickstart", "init's hint does not start with `cd quickstart`", out)
    repo = workdir / "quickstart"
    outputs: dict[str, str] = {}
    for line in hint[1:]:
        words = shlex.split(line)
        check(words[0] == "featurestore", f"unexpected hint line {line!r}", out)
        outputs[words[1]] = run(command, words[1:], repo)
    expected = ["apply", "training-set", "materialize", "get-online", "verify"]
    check(list(outputs) == expected, f"the hint runs {list(outputs)}, not {expected}", out)
    for status in ("NOT_FOUND", "EXPIRED"):
        check(status not in outputs["get-online"], f"get-online shows {status}", outputs["get-online"])

    # The same steps as JSON documents, checked value by value.
    read = [
        "get-online",
        "--features",
        "fraud_model_v1",
        "--entity",
        "account_id=1",
        "--entity",
        "account_id=2",
    ]
    online = json.loads(run(command, [*read, "--json"], repo))
    present = {"balance": ["PRESENT", "PRESENT"], "logins": ["PRESENT", "PRESENT"]}
    check(online["statuses"] == present, "get-online --json: not every value is PRESENT", online)
    check(None not in online["values"]["balance"], "get-online --json: a null balance", online)
    checks = json.loads(run(command, ["verify", "--json"], repo))
    got = [(c["view"], c["entities"], c["matches"], c["failures"]) for c in checks]
    check(got == [("account_daily", 50, 50, 0)], "verify --json: not 50 of 50 matching", checks)
    build = ["training-set", "--entities", "data/entity_rows.parquet", "--features", "fraud_model_v1"]
    summary = json.loads(run(command, [*build, "--json"], repo))
    check(summary["rows"] == 6, "training-set --json: not 6 rows", summary)
    check(summary["columns"][-2:] == ["balance", "logins"], "training-set --json: columns", summary)
    plan = json.loads(run(command, ["plan", "--json"], repo))
    check(plan["changes"] == [], "plan --json after apply: changes", plan)
    print(f"quickstart ok: {repo}")


if __name__ == "__main__":
    main()
