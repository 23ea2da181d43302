"""What one batch job is to be: the single argument of every provider's create call."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

TABLE_SCHEMES = frozenset({"bq"})
"""URI schemes that name a table (rows with columns), not a file: ``bq://project.dataset.table``."""


def is_table_uri(uri: str | None) -> bool:
    """Whether ``uri`` names a table: its scheme is one of :data:`TABLE_SCHEMES`."""
    if not uri:
        return False
    scheme, sep, _ = uri.partition("://")
    return bool(sep) and scheme.lower() in TABLE_SCHEMES


class BatchKind(str, enum.Enum):
    """What the job's requests ask for."""

    GENERATE = "generate"
    EMBED = "embed"


@dataclass(frozen=True)
class FileSource:
    """Requests in a file already uploaded to the provider (its file id, S3 URI, ...)."""

    file_name: str


@dataclass(frozen=True)
class InlineSource:
    """Requests sent in the create call itself, in the provider's format.

    ``requests`` is iterated while the body streams out, so a re-iterable spool keeps memory flat and a
    re-sent create sends the whole body again.
    """

    requests: Iterable[Mapping[str, Any]]


@dataclass(frozen=True)
class BatchSpec:
    """A batch job to create: model, requests, and how the job is named and found again.

    ``idempotency_key`` and ``input_fingerprint`` are written where the provider keeps them (display
    name, metadata, client token), so a lookup finds this job again only for this task and this input;
    ``replaces`` names the earlier job of the same task this one is made instead of (it ended badly, or
    the user forced a resubmit): where a create is idempotent by token, the token must differ from it;
    ``endpoint`` names the endpoint native lines target where a provider has several (OpenAI);
    ``labels`` go where the provider keeps user labels, and are refused where it has none;
    ``destination`` is where the provider writes the job's output (a URI whose scheme is one of its
    ``capabilities.destinations``), None for where it writes by default.
    """

    model: str
    display_name: str
    source: FileSource | InlineSource
    kind: BatchKind = BatchKind.GENERATE
    idempotency_key: str | None = None
    input_fingerprint: str | None = None
    replaces: str | None = None
    endpoint: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    destination: str | None = None

    @property
    def embeddings(self) -> bool:
        """True for an embeddings batch."""
        return self.kind is BatchKind.EMBED


@dataclass(frozen=True)
class StoredObject:
    """An object in the provider's own storage (a ``gs://`` object for Vertex) that its hook can read.

    ``open`` returns a fresh binary stream of the stored bytes, read as it streams (never whole in memory);
    a job can read the object in place, so an input that needs no rewriting is not uploaded again.
    """

    uri: str
    size: int
    """Bytes as stored."""
    open: Callable[[], IO[bytes]]
    named_exactly: bool = True
    """Whether a job given ``uri`` reads this one object; False where the provider reads the URI as a pattern
    (Vertex expands Cloud Storage wildcards in an input URI), so the object is copied rather than read in place."""


@dataclass(frozen=True)
class TableInput:
    """A table of requests a provider reads itself (``bq://project.dataset.table``), its schema already checked.

    ``version`` changes whenever the table's data changes, so it stands in for the requests in the input
    fingerprint: an edited table is a different input.
    """

    uri: str
    rows: int
    version: str
