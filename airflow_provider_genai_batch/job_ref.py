"""The job reference: the one thing that travels in XCom, the task state store and trigger kwargs.

It names a job and carries what a later task needs to land its results (keys file, output URI,
request count, input fingerprint); it is JSON-safe and never holds a secret. This module is also the
one place that parses it and the one place that stores and recalls it for a task instance.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from airflow_provider_genai_batch import __version__
from airflow_provider_genai_batch.rendered import rendered_mapping

JOB_REF_XCOM_KEY = "job_ref"
"""The XCom key a task pushes its job reference under (read by the extra link and by cancel paths)."""

STATE_STORE_KEY = "genai_batch_job_ref"
"""The task state store key (Airflow 3.3+) a submit keeps its job reference under, across tries."""


class PartRef(BaseModel):
    """One job of a split input (a part), or a part still waiting for a free slot to be created.

    Parts are numbered across the whole group (``index``), in the order they were planned; ``round`` 0 holds
    the input itself, each later round the rows a follow-up batch sent again. A part not created yet names
    the file its requests were uploaded as (``upload``), so any worker can create it later.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int
    round: int = 0
    idempotency_key: str
    input_fingerprint: str
    request_count: int
    byte_count: int
    job_name: str | None = None
    upload: str | None = None
    """The uploaded input file a part not yet created will be created from; None once created (or inline)."""
    keys_uri: str | None = None
    """For a follow-up round's part: the keys file of that round (every part of the round shares it)."""
    keys_digest: str | None = None
    """The sha256 of that keys file as the round wrote it, checked before landing (another task's round into the
    same output directory writes a keys file of the same name); None in refs made before it was recorded."""
    gone: str | None = None
    """For a part whose job the provider no longer has (deleted, or aged out) and every row of which a follow-up
    round sent again: that job's name. It is not created again (those rounds' answers stand); its rows land as the
    rounds left them."""
    landed: str | None = None
    """For a round-0 part kept ``gone`` that no round sent again: the results file landed under ``output_uri`` whose
    rows at the part's positions are its own answers (that landing's manifest named its job, key and fingerprint,
    every row of it succeeded, over the same keys), read back instead of paying for the part again."""
    carried: bool = False
    """For a follow-up round's part: a job an earlier try sent as that round (for other rows as a whole) whose every
    row is one this round sends again, with its lines unchanged, so its answers are taken instead of paying again.
    It has no keys file of its own (``keys_uri`` None): its rows are landed by their keys."""

    @property
    def waiting(self) -> bool:
        """Whether the part still waits to be created: no job yet, and none that is gone."""
        return self.job_name is None and self.gone is None


class PartCreate(BaseModel):
    """A part's job a try went on to create where the provider's jobs carry no key (Anthropic, a gateway), stored in
    the ref just before the create and gone from it once the job is named: a later try that finds it knows that a job
    nothing names may have been made for the part since ``since`` (:mod:`~airflow_provider_genai_batch.keyless_jobs`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    round: int
    idempotency_key: str
    input_fingerprint: str
    request_count: int
    since: datetime
    """When the try went on to create it, by the worker's clock."""
    named_before: tuple[str, ...] = ()
    """The jobs the ref this one replaced named and this one does not (an edited part's earlier job, say): jobs of this
    task instance, not the part's."""


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
    keys_digest: str | None = None
    """The sha256 of the keys file as the submit wrote it, checked before landing (a submit of another job into the
    same output directory replaces that file); None in refs made before it was recorded, or without a keys file."""
    output_uri: str | None = None
    embeddings: bool = False
    destination: str | None = None
    """Where the job was told to write its output (``gs://...``, ``bq://...``); None for the provider's default."""
    console_url: str | None = None
    """Where a person looks at the job (``consoles.job_page``), worked out by the submitting worker, which knows
    the connection's host; None in refs made before it was recorded (the link then uses the public console)."""
    parts: tuple[PartRef, ...] | None = None
    """The jobs of an input split over provider limits or sent again in follow-up rounds, in plan order; None for
    an input that went as one job (``job_name``). In a group, ``job_name`` is the first part's job and
    ``input_fingerprint``, ``request_count`` and ``keys_uri`` describe the whole input."""
    max_concurrent_jobs: int | None = None
    """At most this many parts of the group run at once; the rest wait (uploaded) for a slot."""
    endpoint: str | None = None
    """The endpoint the requests' own lines name (OpenAI native lines), which a part created later needs too."""
    model: str | None = None
    """The model the input was submitted for, as the submit named it: what its usage is priced at where neither the
    job nor its result rows name one (a gateway's batch, and the text-and-usage rows it makes of Gemini answers);
    None in refs made before it was recorded."""
    earlier_rounds: tuple[PartRef, ...] | None = None
    """Follow-up rounds' parts an earlier try sent that this ref does not wait on (round 0 was sent again since, or
    a round's keys file is gone): a round that sends the same rows again re-attaches to them, found here by key and
    fingerprint where the provider cannot look jobs up by key. Never waited on, landed or cancelled through this ref."""
    creating: PartCreate | None = None
    """The part whose job a try was creating when this ref was stored, where jobs carry no key; None once it is named
    (or when its create was refused), and in every ref not stored mid-way."""

    @property
    def is_group(self) -> bool:
        """Whether the ref names parts (a split input or follow-up rounds), not one job."""
        return self.parts is not None

    def job_names(self) -> list[str]:
        """Every job created for the ref so far: the parts' jobs in plan order, else the one job."""
        if self.parts is None:
            return [self.job_name]
        return [part.job_name for part in self.parts if part.job_name is not None]

    def to_xcom(self) -> dict[str, Any]:
        """The JSON dict pushed to XCom, stored, and passed to triggers."""
        return self.model_dump(mode="json")

    @classmethod
    def parse(cls, value: Any) -> BatchJobRef:
        """A ref from anything it travels as: the model, a dict, JSON text, or the Python-literal text Jinja renders."""
        if isinstance(value, BatchJobRef):
            return value
        mapping = rendered_mapping(value)
        if mapping is None:
            raise TypeError(f"not a batch job reference: {value!r}")
        try:
            return cls.model_validate(dict(mapping))
        except ValidationError as err:
            unknown = [
                ".".join(str(part) for part in error["loc"])
                for error in err.errors()
                if error["type"] == "extra_forbidden"
            ]
            if unknown:
                raise TypeError(_unknown_fields(unknown, mapping)) from None
            raise TypeError(f"not a batch job reference ({err.error_count()} problems): {value!r}") from None


def _unknown_fields(fields: list[str], mapping: Mapping[str, Any]) -> str:
    """Why a ref with fields this version does not know is refused, naming them (not their values) and the job."""
    job = mapping.get("job_name")
    named = f" of job {job!r}" if isinstance(job, str) else ""
    return (
        f"not a batch job reference this version of airflow-provider-genai-batch ({__version__}) can read: the "
        f"reference{named} holds fields it does not know ({', '.join(fields)}). A newer version most likely stored "
        "it, and a worker or triggerer not yet upgraded read it (a rolling upgrade): run the task again once every "
        "worker and triggerer runs that version. The fields are not dropped, as they may change how the job is "
        "found, waited on or landed"
    )


def job_name_of(value: Any) -> str:
    """The job a value names: a plain job name, or a job reference in any form :meth:`BatchJobRef.parse` takes."""
    if isinstance(value, str) and rendered_mapping(value) is None:
        return value
    return BatchJobRef.parse(value).job_name


def remember(context: Any, ref: BatchJobRef) -> None:
    """Keep ``ref`` for this task instance: in the task state store (kept across tries) and in its XCom."""
    store = context.get("task_state_store")
    if store is not None:
        store.set(STATE_STORE_KEY, ref.to_xcom())
    context["ti"].xcom_push(key=JOB_REF_XCOM_KEY, value=ref.to_xcom())


def remember_creating(context: Any, ref: BatchJobRef, creating: PartCreate | None) -> None:
    """Keep ``ref`` marked as creating ``creating`` (unmarked with None), which also names the jobs the ref it replaces
    named that ``ref`` does not: a later try takes none of them for the marked part's job."""
    ref = ref.model_copy(update={"creating": None})
    if creating is not None and (before := recall(context)) is not None:
        dropped = named_jobs(before) - named_jobs(ref)
        creating = creating.model_copy(update={"named_before": tuple(sorted(dropped))})
    remember(context, ref.model_copy(update={"creating": creating}))


def named_jobs(ref: BatchJobRef) -> set[str]:
    """Every job ``ref`` names as this task instance's: its parts' (or its one job), the rounds it keeps from before,
    the jobs gone at the provider, and those its mark names (``PartCreate.named_before``)."""
    return {
        *ref.job_names(),
        *(part.job_name for part in ref.earlier_rounds or () if part.job_name is not None),
        *(part.gone for part in ref.parts or () if part.gone is not None),
        *(ref.creating.named_before if ref.creating is not None else ()),
    }


def recall(context: Any) -> BatchJobRef | None:
    """This task instance's job reference: from its state store, else its own (map-index specific) XCom."""
    store = context.get("task_state_store")
    stored = store.get(STATE_STORE_KEY) if store is not None else None
    if not stored:
        ti = context["ti"]
        stored = ti.xcom_pull(task_ids=ti.task_id, key=JOB_REF_XCOM_KEY, map_indexes=ti.map_index)
    return BatchJobRef.parse(stored) if stored else None
