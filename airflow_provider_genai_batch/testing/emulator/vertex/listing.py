"""Listing batchPredictionJobs: the query parameters the method binds, page sizes and tokens, and the
subset of the AIP-160 filter grammar the emulator evaluates.

Filter terms, joined by `AND`: `labels.<k>="<v>"`, `labels.<k>=<v>`, `labels.<k>:*`, `state=<JOB_STATE_*>`,
`display_name="<v>"` and `create_time` compared (`>`, `>=`, `<`, `<=`) with a quoted RFC 3339 time.
Anything else is refused with INVALID_ARGUMENT, so a client relying on more of the grammar finds out here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from airflow_provider_genai_batch.testing.emulator.common import IntParam, parse_rfc3339
from airflow_provider_genai_batch.testing.emulator.store import JobRecord, decode_page_token
from airflow_provider_genai_batch.testing.emulator.vertex.wire import invalid_argument

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
LIST_PARAMETERS = frozenset(
    {
        "filter",
        "pageSize",
        "page_size",
        "pageToken",
        "page_token",
        "readMask",
        "read_mask",
        "$alt",
        "alt",
        "prettyPrint",
    }
)
JOB_STATES = frozenset(
    {
        "JOB_STATE_QUEUED",
        "JOB_STATE_PENDING",
        "JOB_STATE_RUNNING",
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_FAILED",
        "JOB_STATE_CANCELLING",
        "JOB_STATE_CANCELLED",
        "JOB_STATE_PAUSED",
        "JOB_STATE_EXPIRED",
        "JOB_STATE_UPDATING",
        "JOB_STATE_PARTIALLY_SUCCEEDED",
    }
)
LABEL_KEY = r"[a-z][a-z0-9_-]{0,62}"
TERMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("label_quoted", re.compile(rf'labels\.({LABEL_KEY})\s*=\s*"([^"]*)"')),
    ("label_bare", re.compile(rf"labels\.({LABEL_KEY})\s*=\s*([a-z0-9_-]+)")),
    ("label_exists", re.compile(rf"labels\.({LABEL_KEY})\s*:\s*\*")),
    ("state", re.compile(r'state\s*=\s*"?(JOB_STATE_[A-Z_]+)"?')),
    ("display_name", re.compile(r'display_name\s*=\s*"([^"]*)"')),
    ("create_time", re.compile(r'create_time\s*(>=|<=|>|<)\s*"([^"]+)"')),
)

JobTest = Callable[[JobRecord, str], bool]
"""A compiled filter term: (job, its wire state) → whether it matches."""

PAGE_SIZE = IntParam(
    default=DEFAULT_PAGE_SIZE,
    minimum=0,
    maximum=MAX_PAGE_SIZE,
    not_an_integer=lambda raw: invalid_argument(f"Invalid value at 'page_size' (TYPE_INT32), \"{raw}\""),
    too_small=lambda value: invalid_argument(f"Invalid page_size: {value}; it must not be negative."),
)
"""pageSize: 0 or absent means the default of 100; above 1000 it is cut to 1000; negative is refused."""


def filter_error(text: str, reason: str) -> Exception:
    """INVALID_ARGUMENT naming the filter and what is wrong with it."""
    return invalid_argument(f'Invalid filter "{text}": {reason}')


def time_test(operator: str, bound: float) -> JobTest:
    """create_time compared with a bound."""
    compare: dict[str, Callable[[float], bool]] = {
        ">": lambda t: t > bound,
        ">=": lambda t: t >= bound,
        "<": lambda t: t < bound,
        "<=": lambda t: t <= bound,
    }
    test = compare[operator]
    return lambda job, _state: test(job.created)


def compile_term(term: str, text: str) -> JobTest:
    """One filter term as a test on a job."""
    for kind, pattern in TERMS:
        match = pattern.fullmatch(term)
        if match is None:
            continue
        if kind in ("label_quoted", "label_bare"):
            key, value = match.groups()
            return lambda job, _state: job.extra["request"]["labels"].get(key) == value
        if kind == "label_exists":
            key = match.group(1)
            return lambda job, _state: key in job.extra["request"]["labels"]
        if kind == "state":
            wanted = match.group(1)
            if wanted not in JOB_STATES:
                raise filter_error(text, f"{wanted} is not a job state.")
            return lambda _job, state: state == wanted
        if kind == "display_name":
            name = match.group(1)
            return lambda job, _state: job.display_name == name
        operator, moment = match.groups()
        try:
            bound = parse_rfc3339(moment)
        except ValueError as exc:
            raise filter_error(text, f"{moment} is not an RFC 3339 time.") from exc
        return time_test(operator, bound)
    raise filter_error(text, f"the term {term!r} is not supported.")


def compile_filter(text: str | None) -> list[JobTest]:
    """A filter as the tests a job must all pass; an empty filter matches every job."""
    if text is None or not text.strip():
        return []
    return [compile_term(term.strip(), text) for term in re.split(r"\s+AND\s+", text.strip())]


@dataclass(frozen=True)
class ListQuery:
    """A list call's parameters, checked."""

    tests: list[JobTest]
    page_size: int
    after_seq: int | None
    listing: str
    """What a page token of this call resumes: the collection and the filter (the page size may change)."""


def parse_list_query(query: Mapping[str, str], collection: str) -> ListQuery:
    """Bind the query parameters as the service does: unknown ones are refused, and so is a page token made for
    another collection or another filter."""
    for name in query:
        if name not in LIST_PARAMETERS:
            raise invalid_argument(
                f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query parameter.'
            )
    page_size = PAGE_SIZE.parse(query.get("pageSize", query.get("page_size"))) or DEFAULT_PAGE_SIZE
    filter_text = query.get("filter") or ""
    listing = f"{collection} {filter_text}"
    token = query.get("pageToken", query.get("page_token")) or None
    after_seq = None
    if token is not None:
        try:
            after_seq = decode_page_token(token, listing)
        except ValueError as exc:
            raise invalid_argument(f"Invalid page token: {token}") from exc
    return ListQuery(tests=compile_filter(filter_text), page_size=page_size, after_seq=after_seq, listing=listing)
