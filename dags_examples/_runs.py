"""What each example run reads and writes: a folder of its own, and its results read back row by row.

A run always has a ``run_id`` and a ``run_after``; it has a logical date only when it was scheduled or
triggered with one (``airflow dags trigger`` in Airflow 3, or the REST API with ``logical_date: null``,
make runs without one, and then ``{{ ds }}`` is undefined). So the examples never template ``ds``:
they use these helpers, as ``user_defined_macros`` in templates and as plain calls in tasks.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

from airflow.sdk import ObjectStoragePath

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def run_day(dag_run: Any) -> str:
    """The run's day, ``YYYY-MM-DD``: of its logical date, or of ``run_after`` for a run without one."""
    moment = dag_run.logical_date or dag_run.run_after
    return str(moment.strftime("%Y-%m-%d"))


def run_folder(dag_run: Any) -> str:
    """``<run day>/<run id>``: a folder no other run of the DAG writes to, whether or not it has a logical date.

    The run id is made path-safe (``:`` and ``+`` become ``_``); when that changes it, a short hash of the
    real id keeps two ids that differ only in those characters apart.
    """
    run_id = str(dag_run.run_id)
    safe = _UNSAFE.sub("_", run_id)
    if safe != run_id:
        safe += "-" + hashlib.sha256(run_id.encode()).hexdigest()[:8]
    return f"{run_day(dag_run)}/{safe}"


RUN_MACROS = {"run_day": run_day, "run_folder": run_folder}
"""The helpers as Jinja macros: ``{{ run_folder(dag_run) }}``, ``{{ run_day(dag_run) }}``."""


def iter_result_rows(uri: str) -> Iterator[dict[str, Any]]:
    """The rows of a landed ``results.jsonl``, streamed one line at a time.

    Lines end at ``\\n`` only: the file is read as bytes, so a row whose text holds U+2028 or U+2029
    (line breaks to ``str.splitlines``, raw characters inside a JSON string) stays one row.
    """
    with ObjectStoragePath(uri).open("rb") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError(f"{uri}, line {number}: expected a JSON object, got {type(row).__name__}")
            yield row
