"""What one batch job is to be: the single argument of every provider's create call."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


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
    ``labels`` go where the provider keeps user labels, and are refused where it has none.
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

    @property
    def embeddings(self) -> bool:
        """True for an embeddings batch."""
        return self.kind is BatchKind.EMBED
