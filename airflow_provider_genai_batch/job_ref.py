"""The job reference: the one thing that travels in XCom, the task state store and trigger kwargs.

It names a job and carries what a later task needs to land its results (keys file, output URI,
request count, input fingerprint); it is JSON-safe and never holds a secret. This module is also the
one place that parses it and the one place that stores and recalls it for a task instance.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

JOB_REF_XCOM_KEY = "job_ref"
"""The XCom key a task pushes its job reference under (read by the extra link and by cancel paths)."""

STATE_STORE_KEY = "genai_batch_job_ref"
"""The task state store key (Airflow 3.3+) a submit keeps its job reference under, across tries."""


class BatchJobRef(BaseModel):
    """Everything a later task or a trigger needs to find a job again: JSON-safe, never a secret.

    ``input_fingerprint`` is the hash of the translated request stream with the provider, model and
    kind, computed while the input is validated: what tells an edited input from the one a job was made for.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str
    conn_id: str
    job_name: str
    idempotency_key: str | None = None
    input_fingerprint: str | None = None
    request_count: int | None = None
    keys_uri: str | None = None
    output_uri: str | None = None
    embeddings: bool = False
    destination: str | None = None
    """Where the job was told to write its output (``gs://...``, ``bq://...``); None for the provider's default."""
    console_url: str | None = None
    """Where a person looks at the job (``consoles.job_page``), worked out by the submitting worker, which knows
    the connection's host; None in refs made before it was recorded (the link then uses the public console)."""

    def to_xcom(self) -> dict[str, Any]:
        """The JSON dict pushed to XCom, stored, and passed to triggers."""
        return self.model_dump(mode="json")

    @classmethod
    def parse(cls, value: Any) -> BatchJobRef:
        """A ref from anything it travels as: the model, a dict, JSON text, or the Python-literal text Jinja renders."""
        if isinstance(value, BatchJobRef):
            return value
        mapping = _as_mapping(value)
        if mapping is None:
            raise TypeError(f"not a batch job reference: {value!r}")
        try:
            return cls.model_validate(dict(mapping))
        except ValidationError as err:
            raise TypeError(f"not a batch job reference ({err.error_count()} problems): {value!r}") from None


def job_name_of(value: Any) -> str:
    """The job a value names: a plain job name, or a job reference in any form :meth:`BatchJobRef.parse` takes."""
    if isinstance(value, str) and _as_mapping(value) is None:
        return value
    return BatchJobRef.parse(value).job_name


def remember(context: Any, ref: BatchJobRef) -> None:
    """Keep ``ref`` for this task instance: in the task state store (kept across tries) and in its XCom."""
    store = context.get("task_state_store")
    if store is not None:
        store.set(STATE_STORE_KEY, ref.to_xcom())
    context["ti"].xcom_push(key=JOB_REF_XCOM_KEY, value=ref.to_xcom())


def recall(context: Any) -> BatchJobRef | None:
    """This task instance's job reference: from its state store, else its own (map-index specific) XCom."""
    store = context.get("task_state_store")
    stored = store.get(STATE_STORE_KEY) if store is not None else None
    if not stored:
        ti = context["ti"]
        stored = ti.xcom_pull(task_ids=ti.task_id, key=JOB_REF_XCOM_KEY, map_indexes=ti.map_index)
    return BatchJobRef.parse(stored) if stored else None


def _as_mapping(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text.startswith("{"):
        return None
    try:
        decoded = json.loads(text)
    except ValueError:
        try:
            decoded = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return None
    return decoded if isinstance(decoded, Mapping) else None
