"""A provider's batch *dialect*: its format policy, with no connection, no HTTP and no Airflow.

A dialect says which native line format a provider reads, its up-front limits, what its batch API can
do, how a canonical (Gemini-format) line is translated and a native line checked, the id a key
travels under, and how one result line becomes a :class:`ResultRow`. Hooks hold one; input
validation takes one, so both are testable without any Airflow connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from airflow_provider_genai_batch.formats.detect import InputFormat
from airflow_provider_genai_batch.formats.results import ResultRow


class ProviderLimits(BaseModel):
    """Up-front input limits of one provider, checked before anything is uploaded or billed."""

    model_config = ConfigDict(frozen=True)

    max_requests: int | None = None
    min_requests: int = 1
    max_embedding_inputs: int | None = None
    """The most embedding inputs one batch may hold across its requests (OpenAI's ``/v1/embeddings``, where a
    request's ``input`` may list many; counted by :func:`~.openai.embedding_inputs`)."""
    max_file_bytes: int | None = None
    max_inline_bytes: int | None = None
    """The most one inline create request body may hold, envelope and all."""
    inline_request_overhead: int = 0
    """The most bytes a request sent inline costs in that body beyond its JSONL line (its LF standing for the
    separator after it): the wrapping the hook puts around it."""
    inline_envelope_bytes: int = 0
    """The most that body holds besides its requests (display name, JSON punctuation)."""

    @property
    def inline_request_bytes(self) -> int | None:
        """What the requests of one inline body may cost (each its line plus ``inline_request_overhead``):
        ``max_inline_bytes`` less the envelope."""
        return None if self.max_inline_bytes is None else self.max_inline_bytes - self.inline_envelope_bytes

    def inline_body_bytes(self, line_bytes: int, requests: int) -> int:
        """The most bytes an inline body carrying ``requests`` lines of ``line_bytes`` in all can take."""
        return line_bytes + requests * self.inline_request_overhead + self.inline_envelope_bytes


class ProviderCapabilities(BaseModel):
    """What a provider's batch API can do; shown in the README's provider table.

    ``find_by_key``: a job can be found again by the idempotency key it carries (so a failed create can
    be checked before it is retried). ``labels``: user labels can be put on a job. ``destinations``: the
    URI schemes a job may be told to write its output to (``gs``, ``bq``); empty where the provider writes
    where its own service (or connection) says, so a ``destination`` is refused before anything is read.
    """

    model_config = ConfigDict(frozen=True)

    file_input: bool
    inline_input: bool
    embeddings: bool
    cancel: bool = True
    delete: bool = True
    find_by_key: bool = True
    labels: bool = False
    destinations: frozenset[str] = frozenset()


class Dialect(Protocol):
    """One provider's format policy. Options that shape it (a default ``max_tokens``, an API version)
    are given when the dialect is built, never read from a connection by the dialect itself."""

    @property
    def provider(self) -> str:
        """The provider's name, as a :class:`BatchJobRef` carries it."""

    @property
    def native_format(self) -> InputFormat:
        """The batch line format the provider reads."""

    @property
    def vertex_fields(self) -> bool:
        """Whether requests may hold the fields only Vertex AI reads (``routingConfig``, ``Tool.retrieval``, ...),
        which the Gemini Developer API, and every provider translating Gemini requests, refuses."""

    @property
    def limits(self) -> ProviderLimits:
        """Limits of one batch job."""

    @property
    def capabilities(self) -> ProviderCapabilities:
        """What the provider's batch API can do."""

    @property
    def inline(self) -> Dialect:
        """The dialect of requests sent inline: this one, unless the provider takes inline requests in another
        format than its files (a gateway: Gemini requests, which it translates itself)."""

    def to_native(self, line: Mapping[str, Any], *, model: str, embeddings: bool) -> dict[str, Any]:
        """A canonical line in the provider's format; ValueError naming what cannot be expressed."""

    def passes_through(self, *, model: str, embeddings: bool) -> bool:
        """Whether a canonical (Gemini-format) line is sent as it is where the native format is Gemini's; False
        where even such a line is translated (Vertex text-embedding models read instances)."""

    def check_native(self, line: Mapping[str, Any], *, model: str) -> str | None:
        """Check a line already in the provider's format; returns the endpoint it targets, if any."""

    def provider_key(self, key: str) -> str:
        """The id a key travels under at the provider (some restrict ids); mapped back on landing."""

    def result_row(self, line: Mapping[str, Any]) -> ResultRow:
        """One line of the provider's results, normalised."""
