"""The package as it was at an earlier revision, for benchmarks that measure it beside this tree.

``unpack_rev`` unpacks ``git archive REV`` of the package; ``tree_env`` is the environment of a process that
imports the package from such a tree (or from this checkout).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_genai_batch"


def tree_env(tree: Path) -> dict[str, str]:
    """This process's environment with ``tree`` first on the path, and not the working directory
    (``PYTHONSAFEPATH``), which in this checkout would put its package before the tree's."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(tree), os.environ.get("PYTHONPATH")])),
        "PYTHONSAFEPATH": "1",
    }


def unpack_rev(rev: str, target: Path) -> Path:
    """The package of ``rev`` (``git archive`` unpacked into ``target``), checked to be what a process run with
    ``tree_env(target)`` imports: otherwise a benchmark would silently measure this checkout's package twice."""
    target.mkdir(parents=True, exist_ok=True)
    target = target.resolve()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, PACKAGE], capture_output=True)
    if archive.returncode != 0:
        raise SystemExit(f"git archive {rev}: {archive.stderr.decode(errors='replace').strip()}")
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    probe = f"import {PACKAGE}; print({PACKAGE}.__file__)"
    imported = subprocess.run(
        [sys.executable, "-c", probe], env=tree_env(target), capture_output=True, text=True, check=True
    ).stdout.strip()
    if not Path(imported).is_relative_to(target):
        raise SystemExit(f"{rev}: the package imports from {imported}, not from {target}")
    return target
