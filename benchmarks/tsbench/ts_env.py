"""What the measured systems run on: the Feast virtualenv, and a snapshot of featurestore's code."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

FEAST_REQUIREMENT = "feast[duckdb]==0.67.0"


def _feast_version(python: Path) -> str | None:
    probe = "import feast.version, feast.infra.offline_stores.duckdb; print(feast.version.get_version())"
    try:
        done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_feast_venv(venv: Path) -> tuple[Path | None, str]:
    """The Feast virtualenv's python (created and installed once, then reused), or None and why not."""
    python = venv / "bin" / "python"
    if python.exists() and _feast_version(python):
        return python, ""
    print(f"installing {FEAST_REQUIREMENT} into {venv} (once) ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", FEAST_REQUIREMENT],
            check=True,
            timeout=1800,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        return None, f"installing Feast failed: {(exc.stderr or '').strip()[-500:]}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"installing Feast failed: {exc}"
    if not _feast_version(python):
        return None, "Feast installed but `import feast.infra.offline_stores.duckdb` fails"
    return python, ""


@dataclass(frozen=True)
class CodeUnderTest:
    """Where featurestore is imported from (None: the working tree) and how to name it in the report."""

    path: Path | None
    label: str


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], capture_output=True, cwd=repo, timeout=60)


def featurestore_code(repo: Path, work_dir: Path, working_tree: bool) -> CodeUnderTest:
    """The committed featurestore package (HEAD) extracted under ``work_dir``, so that edits in progress
    in a shared working tree cannot break or change a run; or the working tree itself when asked."""
    head = _git(repo, "rev-parse", "--short", "HEAD").stdout.decode().strip()
    if working_tree or not head:
        dirty = _git(repo, "status", "--porcelain", "--", "featurestore").stdout.strip()
        return CodeUnderTest(None, f"the working tree at {head or 'unknown'}" + (" + edits" if dirty else ""))
    target = work_dir / f"featurestore-{head}"
    if not (target / "featurestore" / "__init__.py").exists():
        archive = _git(repo, "archive", "--format=tar", "HEAD", "featurestore")
        if archive.returncode != 0:
            return CodeUnderTest(None, f"the working tree at {head} (git archive failed)")
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(target, filter="data")
    return CodeUnderTest(target, f"commit {head}")
