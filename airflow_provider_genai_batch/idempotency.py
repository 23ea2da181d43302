"""Deterministic idempotency keys: the same task instance, on any try, always names the same job."""

from __future__ import annotations

import hashlib
import re

_KEY = re.compile(r"gbk-[0-9a-f]{20}")


def idempotency_key(dag_id: str, task_id: str, run_id: str, map_index: int | None) -> str:
    """The key of one task instance; the try number is left out on purpose so retries share it."""
    identity = "\x1f".join((dag_id, task_id, run_id, str(map_index if map_index is not None else -1)))
    return "gbk-" + hashlib.sha256(identity.encode()).hexdigest()[:20]


def tag_display_name(display_name: str, key: str, max_length: int = 128) -> str:
    """A display name that carries the key at its end, cut to fit ``max_length``."""
    suffix = f" [{key}]"
    return display_name[: max_length - len(suffix)] + suffix


def key_in_text(text: str | None) -> str | None:
    """The idempotency key carried in a display name, label or metadata value, if any."""
    match = _KEY.search(text or "")
    return match.group(0) if match else None
