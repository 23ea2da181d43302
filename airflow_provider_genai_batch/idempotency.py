"""Deterministic idempotency keys, and the identity (key + input fingerprint) a job carries to be found again.

The same task instance, on any try, always names the same key; the fingerprint tells the input a job
was made for from an edited one. Providers keep both in a structured place (metadata, a client token)
or, where they have only a display name, in a fixed suffix at its very end, read back with an anchored
pattern: a key anywhere else in a name (a user's text, another task's key) is never taken for this one.
:func:`lookup_floor` bounds how far back a look-up by key has to read a provider's listing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

KEY_PATTERN = r"gbk-[0-9a-f]{20}"
"""What :func:`idempotency_key` returns: ``gbk-`` and 20 lowercase hex digits."""
FINGERPRINT_PATTERN = r"[0-9a-f]{64}"
"""An input fingerprint: the sha256 hex digest of the translated request stream, model, provider and kind."""
FINGERPRINT_TAG_CHARS = 16
"""How much of the fingerprint a display-name suffix keeps (64 bits): the least a partial fingerprint may be."""
DISPLAY_NAME_MAX = 128
"""The longest display name this package writes onto a job, suffix included."""
LOOKUP_CLOCK_SKEW = timedelta(minutes=15)
"""How far the provider's clock may run behind Airflow's: a look-up reads this much further back."""

UPLOAD_NAME_MAX = 100
"""The longest input file name this package gives an upload, tag and ``.jsonl`` included: within what every provider
keeps of a file name (an S3 or Cloud Storage object name is cut to 100 characters)."""

_KEY = re.compile(KEY_PATTERN)
_FINGERPRINT = re.compile(FINGERPRINT_PATTERN)
_TAGGED_NAME = re.compile(
    rf"(?s)(?P<name>.*) \[(?P<key>{KEY_PATTERN})(?:/(?P<fingerprint>[0-9a-f]{{{FINGERPRINT_TAG_CHARS}}}))?\]\Z"
)


def idempotency_key(dag_id: str, task_id: str, run_id: str, map_index: int | None) -> str:
    """The key of one task instance; the try number is left out on purpose so retries share it."""
    identity = "\x1f".join((dag_id, task_id, run_id, str(map_index if map_index is not None else -1)))
    return "gbk-" + hashlib.sha256(identity.encode()).hexdigest()[:20]


def part_key(task_key: str, round: int, index: int) -> str:
    """The idempotency key of part ``index`` of follow-up ``round`` of a task instance's input.

    Part 0 of round 0 keeps the task's own key, so an input that goes as one job is found as it always was;
    every other part has a key of its own, of the same shape, derived from the task's.
    """
    if round == 0 and index == 0:
        return task_key
    identity = f"{task_key}\x1fround {round}\x1fpart {index}"
    return "gbk-" + hashlib.sha256(identity.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class JobIdentity:
    """The idempotency key a job carries and its input fingerprint: whole, or its first
    :data:`FINGERPRINT_TAG_CHARS` characters where the provider has only a display name; None if it has none."""

    key: str
    fingerprint: str | None = None

    def matches(self, key: str, fingerprint: str | None = None) -> bool:
        """True for the job of task ``key``; with ``fingerprint``, only if it was also made for that input."""
        if self.key != key:
            return False
        if fingerprint is None:
            return True
        kept = self.fingerprint
        return kept is not None and len(kept) >= FINGERPRINT_TAG_CHARS and fingerprint.startswith(kept)


def check_identity(key: str, fingerprint: str | None) -> None:
    """Raise ValueError unless ``key`` and ``fingerprint`` have the shapes a lookup can read back."""
    if not _KEY.fullmatch(key):
        raise ValueError(f"idempotency key {key!r} is not 'gbk-' and 20 lowercase hex digits")
    if fingerprint is not None and not _FINGERPRINT.fullmatch(fingerprint):
        raise ValueError(f"input fingerprint {fingerprint!r} is not a lowercase sha256 hex digest")


def tag_display_name(
    display_name: str, key: str, fingerprint: str | None = None, max_length: int = DISPLAY_NAME_MAX
) -> str:
    """``display_name`` cut to fit ``max_length`` with `` [<key>/<fingerprint start>]`` at its very end."""
    check_identity(key, fingerprint)
    tag = key if fingerprint is None else f"{key}/{fingerprint[:FINGERPRINT_TAG_CHARS]}"
    suffix = f" [{tag}]"
    if max_length < len(suffix):
        raise ValueError(f"a display name of at most {max_length} characters cannot hold the suffix {suffix!r}")
    return display_name[: max_length - len(suffix)] + suffix


def tag_file_name(stem: str, key: str, fingerprint: str) -> str:
    """The name of the input file uploaded for the job of ``key`` and ``fingerprint``: ``stem`` cut to fit
    :data:`UPLOAD_NAME_MAX`, then ``.<key>.<fingerprint start>.jsonl``, so that a later try finds that upload again."""
    check_identity(key, fingerprint)
    tag = f".{key}.{fingerprint[:FINGERPRINT_TAG_CHARS]}.jsonl"
    return stem[: UPLOAD_NAME_MAX - len(tag)] + tag


def identity_in_file_name(name: str | None) -> JobIdentity | None:
    """The identity in the end :func:`tag_file_name` wrote, read only at the very end of the name."""
    match = _TAGGED_FILE.match(name or "")
    if match is None:
        return None
    return JobIdentity(match["key"], match["fingerprint"])


_TAGGED_FILE = re.compile(
    rf"(?s).*\.(?P<key>{KEY_PATTERN})\.(?P<fingerprint>[0-9a-f]{{{FINGERPRINT_TAG_CHARS}}})\.jsonl\Z"
)

_TAG_MAX = len(" [gbk-") + 20 + 1 + FINGERPRINT_TAG_CHARS + len("]")
"""The longest suffix :func:`tag_display_name` writes: a key and a partial fingerprint."""


def titled_display_name(display_name: str, title: str) -> str:
    """``display_name`` with ``title`` (`` part 2/5``) after it, the name cut rather than the title, so the title
    outlasts the cut of :func:`tag_display_name` and any provider's limit of :data:`DISPLAY_NAME_MAX`."""
    if not title:
        return display_name
    return display_name[: max(DISPLAY_NAME_MAX - _TAG_MAX - len(title), 0)] + title


def identity_in_display_name(display_name: str | None) -> JobIdentity | None:
    """The identity in the suffix :func:`tag_display_name` wrote, read only at the very end of the name."""
    match = _TAGGED_NAME.match(display_name or "")
    if match is None:
        return None
    return JobIdentity(match["key"], match["fingerprint"])


def lookup_floor(context: Mapping[str, Any]) -> datetime | None:
    """The earliest creation time a job carrying this task instance's key can have, less
    :data:`LOOKUP_CLOCK_SKEW`; None (read the whole listing) where no such time can be shown.

    The key names dag, task, run id and map index, so its jobs were made by tries of this task in a dag run
    with this run id. No try runs before its run's ``run_after`` (the scheduler starts no run earlier, and a
    clear keeps it, unlike ``start_date`` and ``queued_at``). A run deleted and made again under the same
    run id (``DAG.test`` with a fixed ``run_after``, a re-trigger with the same id) shares the key but not its
    task state or history; its jobs are bounded by the same ``run_after`` only when Airflow generated the run
    id from it (``<run type>__<run_after>``, then perhaps ``_<random>``), so a run id chosen by hand gets no
    floor.
    """
    dag_run = context.get("dag_run")
    run_after = getattr(dag_run, "run_after", None)
    run_id = getattr(dag_run, "run_id", None)
    if not isinstance(run_after, datetime) or run_after.tzinfo is None or not isinstance(run_id, str):
        return None
    stamp = _run_id_stamp(run_id)
    if stamp is None or stamp != run_after:
        return None
    return stamp.astimezone(timezone.utc) - LOOKUP_CLOCK_SKEW


def retried(context: Mapping[str, Any]) -> bool:
    """Whether this is a try after the task instance's first (a retry, or a clear): only then can an earlier try
    have left an upload to use again. A first try looks for none, so a submit reads no file listing that grows with
    what other tasks stored."""
    return (getattr(context.get("ti"), "try_number", 1) or 1) > 1


def _run_id_stamp(run_id: str) -> datetime | None:
    """The time in a run id Airflow generated (``<run type>__<ISO time>[_<random>]``), or None."""
    _, separator, suffix = run_id.partition("__")
    if not separator:
        return None
    try:
        stamp = datetime.fromisoformat(suffix.split("_", 1)[0])
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else None
