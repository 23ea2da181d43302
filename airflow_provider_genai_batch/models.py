"""Provider-neutral types: job state, batch job, file info, and the results manifest."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from airflow_provider_genai_batch.job_ref import BatchJobRef


class JobState(str, enum.Enum):
    """Job states, named as google-genai names them; every provider's statuses map onto this set."""

    UNSPECIFIED = "JOB_STATE_UNSPECIFIED"
    QUEUED = "JOB_STATE_QUEUED"
    PENDING = "JOB_STATE_PENDING"
    RUNNING = "JOB_STATE_RUNNING"
    SUCCEEDED = "JOB_STATE_SUCCEEDED"
    FAILED = "JOB_STATE_FAILED"
    CANCELLING = "JOB_STATE_CANCELLING"
    CANCELLED = "JOB_STATE_CANCELLED"
    PAUSED = "JOB_STATE_PAUSED"
    EXPIRED = "JOB_STATE_EXPIRED"
    UPDATING = "JOB_STATE_UPDATING"
    PARTIALLY_SUCCEEDED = "JOB_STATE_PARTIALLY_SUCCEEDED"

    @property
    def is_terminal(self) -> bool:
        """True once the job will not change again (PARTIALLY_SUCCEEDED is terminal with partial output)."""
        return self in TERMINAL_STATES

    @property
    def is_success(self) -> bool:
        """True for the terminal states that carry results to fetch."""
        return self in (JobState.SUCCEEDED, JobState.PARTIALLY_SUCCEEDED)


TERMINAL_STATES = frozenset(
    {
        JobState.SUCCEEDED,
        JobState.FAILED,
        JobState.CANCELLED,
        JobState.EXPIRED,
        JobState.PARTIALLY_SUCCEEDED,
    }
)


class BatchStats(BaseModel):
    """Request counts of a job; providers omit zeros, so every count defaults to 0."""

    model_config = ConfigDict(frozen=True)

    total: int = 0
    succeeded: int = 0
    failed: int = 0
    pending: int = 0


class BatchJob(BaseModel):
    """A batch job as one provider reported it, normalised; ``raw`` keeps the provider's own payload."""

    name: str
    provider: str
    display_name: str | None = None
    model: str | None = None
    state: JobState = JobState.UNSPECIFIED
    provider_state: str | None = None
    create_time: datetime | None = None
    update_time: datetime | None = None
    end_time: datetime | None = None
    stats: BatchStats = Field(default_factory=BatchStats)
    input_file: str | None = None
    output_file: str | None = None
    error_file: str | None = None
    has_inline_output: bool = False
    error_message: str | None = None
    output_location: str | None = None
    """The exact place the provider wrote the job's output (a GCS directory, a table URI), where it says."""
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


class FileInfo(BaseModel):
    """A file stored at a provider (uploaded input or generated results)."""

    name: str
    display_name: str | None = None
    mime_type: str | None = None
    size_bytes: int | None = None
    create_time: datetime | None = None
    expiration_time: datetime | None = None
    state: str | None = None
    uri: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


class ResultCounts(BaseModel):
    """Outcome counts of one job's input rows: the five statuses add up to ``total``, the input count.

    Result rows that joined no input row are counted apart: ``unmatched`` (a key never submitted, or
    none), ``duplicates`` (a second row for a key, set aside by the duplicate rule) and ``unparseable``
    (provider lines that could not be read, wherever they were filed: as a key's failed row, unmatched
    or duplicate).
    """

    total: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    expired: int = 0
    missing: int = 0
    unmatched: int = 0
    duplicates: int = 0
    unparseable: int = 0

    @property
    def failed_ratio(self) -> float:
        """Share of input rows that did not succeed."""
        return (self.total - self.succeeded) / self.total if self.total else 0.0


class TokenUsage(BaseModel):
    """Token counts in one meaning for every provider (see :mod:`.usage` for how each provider's fields map).

    ``input_tokens`` is the whole prompt, cache reads and writes included; ``cached_tokens`` and
    ``cache_write_tokens`` are the parts of it read from and written to a prompt cache. ``output_tokens`` is
    everything generated, thinking included; ``thinking_tokens`` is the part of it spent thinking. ``rows``
    is how many result rows carried usage.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    thinking_tokens: int = 0
    rows: int = 0
    cache_write_1h_tokens: int = Field(default=0, exclude_if=lambda count: not count)
    """The part of ``cache_write_tokens`` written to be kept an hour (Anthropic), billed at ``Price.cache_write_1h``;
    written only when there are some."""
    audio_tokens: int = Field(default=0, exclude_if=lambda count: not count)
    """Input and output tokens of audio (Gemini's ``AUDIO`` modality, OpenAI's ``audio_tokens``), part of
    ``input_tokens`` and ``output_tokens``: billed at rates of their own, which no price here holds, so usage with
    some has no cost estimate; written only when there are some."""

    over_200k_rows: int = Field(default=0, exclude_if=lambda count: not count)
    """How many of ``rows`` had a prompt (``input_tokens``, cache reads and writes included) over
    :data:`LONG_PROMPT_TOKENS`, which some models bill at higher rates (:attr:`Price.over_200k`); the ``over_200k_*``
    counts are those rows' part of the counts above. Each written only when there were some."""
    over_200k_input_tokens: int = Field(default=0, exclude_if=lambda count: not count)
    over_200k_cached_tokens: int = Field(default=0, exclude_if=lambda count: not count)
    over_200k_cache_write_tokens: int = Field(default=0, exclude_if=lambda count: not count)
    over_200k_cache_write_1h_tokens: int = Field(default=0, exclude_if=lambda count: not count)
    over_200k_output_tokens: int = Field(default=0, exclude_if=lambda count: not count)

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage.model_validate(
            {name: getattr(self, name) + getattr(other, name) for name in TokenUsage.model_fields}
        )

    def over_200k(self) -> TokenUsage | None:
        """The counts of the rows whose prompt was over :data:`LONG_PROMPT_TOKENS`; None when there were none."""
        if not self.over_200k_rows:
            return None
        return TokenUsage(**{name: getattr(self, f"over_200k_{name}") for name in _LONG_COUNTS})

    def up_to_200k(self) -> TokenUsage:
        """The counts of the other rows, each at least 0 (a job total reported without a breakdown its rows had)."""
        return TokenUsage(
            **{name: max(getattr(self, name) - getattr(self, f"over_200k_{name}"), 0) for name in _LONG_COUNTS}
        )


LONG_PROMPT_TOKENS = 200_000
"""The prompt size above which some models bill a request at higher rates (Gemini 2.5 Pro, Claude with the
1M-token context window): the whole request, not only the tokens past it."""
_LONG_COUNTS = ("rows", "input_tokens", "cached_tokens", "cache_write_tokens", "cache_write_1h_tokens", "output_tokens")
"""The counts a long-prompt row's own rates apply to (thinking is inside output; audio leaves a cost unpriced)."""
_BREAKDOWN = ("cached_tokens", "cache_write_tokens", "cache_write_1h_tokens", "thinking_tokens", "audio_tokens")
"""The parts of the input and output a job total the provider reports may not break down."""
LONG_PROMPT_FIELDS = tuple(f"over_200k_{name}" for name in _LONG_COUNTS)
"""The :class:`TokenUsage` fields counting the rows whose prompt was over :data:`LONG_PROMPT_TOKENS`."""


class Rates(BaseModel):
    """USD per million tokens for each kind of token, as :class:`Price` gives them."""

    model_config = ConfigDict(frozen=True)

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    cache_write_1h: float | None = Field(default=None, exclude_if=lambda rate: rate is None)


class Price(BaseModel):
    """One model's batch price in USD per million tokens, with when and where it was taken.

    Thinking is output (every provider here bills it at the output rate). ``cached_input`` and
    ``cache_write`` are the rates of prompt-cache reads and writes, where the source gives them.
    """

    model_config = ConfigDict(frozen=True)

    provider: str
    model: str
    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    cache_write_1h: float | None = Field(default=None, exclude_if=lambda rate: rate is None)
    """The rate of cache writes kept an hour (Anthropic's), where they are priced apart from ``cache_write``."""
    over_200k: Rates | None = Field(default=None, exclude_if=lambda rates: rates is None)
    """The rates of a request whose prompt exceeds :data:`LONG_PROMPT_TOKENS`, where the model bills it higher."""
    long_prompts_unpriced: bool = Field(default=False, exclude_if=lambda unpriced: not unpriced)
    """Whether a request whose prompt exceeds :data:`LONG_PROMPT_TOKENS` has no price here: a user's row, which does
    not say whether the model bills such requests higher. A shipped row says: its ``over_200k`` rates, or none where
    the model bills every prompt alike. Written only when true."""
    taken_on: date | None = None
    source: str
    note: str | None = None


class CostEstimate(BaseModel):
    """An estimated cost in USD from token counts and a :class:`Price`, or None with the reason it has none."""

    currency: Literal["USD"] = "USD"
    amount: float | None = None
    reason: str | None = None
    """Why there is no amount (an unknown model, no token counts); None when there is one."""
    price: Price | None = None
    notes: list[str] = Field(default_factory=list)
    """How the amount was reached where a rate was missing (e.g. cache reads priced at the input rate)."""


class PartUsage(BaseModel):
    """The tokens of one job of the input: counted from its result rows, and as the provider reported them.

    ``counted`` is the figure that holds: the provider's own job totals where it reports them (OpenAI's
    batch ``usage``, Bedrock's ``manifest.json.out``), else the sum over the rows. A reported total of no
    tokens at all beside rows that used some is taken as not reported (a status that left them unset). A job
    total cannot say which requests had long prompts, so the rows' ``over_200k_*`` counts go with the reported total;
    and a total that agrees with the rows' input and output takes the rows' figure of each part it does not break
    down (Bedrock's has no cache reads or writes, OpenAI's no audio), which the bill prices apart.
    """

    job_name: str
    model: str | None = None
    from_rows: TokenUsage = Field(default_factory=TokenUsage)
    reported: TokenUsage | None = None
    cost: CostEstimate | None = None
    unreadable_rows: int = Field(default=0, exclude_if=lambda count: not count)
    """Result rows whose usage could not be read (a count that is not an integer from 0 to 2**53 - 1): they add
    nothing to ``from_rows``. Written only when there are some."""
    unreadable_key: str | None = Field(default=None, exclude_if=lambda key: key is None)
    """The key of the first of them (None for a row without a key)."""

    @property
    def counted(self) -> TokenUsage:
        """The provider's totals when it reported them, else the rows' sum."""
        reported, rows = self.reported, self.from_rows
        if reported is None:
            return rows
        unset = not (reported.input_tokens or reported.output_tokens) and bool(rows.input_tokens or rows.output_tokens)
        if unset:
            return rows
        taken = LONG_PROMPT_FIELDS if rows.over_200k_rows else ()
        if (reported.input_tokens, reported.output_tokens) == (rows.input_tokens, rows.output_tokens):
            taken += tuple(name for name in _BREAKDOWN if not getattr(reported, name))
        if not taken:
            return reported
        counted = reported.model_copy(update={name: getattr(rows, name) for name in taken})
        if counted.cache_write_1h_tokens > counted.cache_write_tokens:  # the rows' one-hour writes, the total's writes
            return counted.model_copy(update={"cache_write_1h_tokens": counted.cache_write_tokens})
        return counted


class UsageSummary(BaseModel):
    """Tokens per job (one entry per job; several once an input is split) and over all of them."""

    total: TokenUsage = Field(default_factory=TokenUsage)
    parts: list[PartUsage] = Field(default_factory=list)
    unreadable_rows: int = Field(default=0, exclude_if=lambda count: not count)
    """The parts' ``unreadable_rows`` added up; written only when there are some."""
    unreadable_key: str | None = Field(default=None, exclude_if=lambda key: key is None)
    """The first of those rows' key."""


class PartOutcome(BaseModel):
    """How one job of a group ended: its state and the outcome of the rows it was sent.

    ``counts`` are over the input positions this part answered for (its own rows, before any later round
    replaced them); None where they were not counted. A part never created has no ``job_name`` and its
    state stays ``JOB_STATE_UNSPECIFIED``, as does a part whose job is gone at the provider (``PartRef.gone``), which
    names that job; one whose answers were read back from the results landed before (``PartRef.landed``) is
    ``JOB_STATE_SUCCEEDED``.
    """

    index: int
    round: int
    job_name: str | None
    state: JobState
    provider_state: str | None = None
    request_count: int
    counts: ResultCounts | None = None
    error_message: str | None = None
    console_url: str | None = None
    """Where a person looks at the part's job (the task's extra link shows one part of a group); None for a part
    never created, or gone, and in a manifest written before it was recorded."""


class RoundOutcome(BaseModel):
    """One round of a group: round 0 sent the input, each later round the rows sent again.

    ``parts`` are the indices of its parts (see ``ResultsManifest.parts``); ``sent`` its rows; ``recovered``
    the rows that succeeded in this round; ``still_failing`` the rows it sent that did not succeed in it.
    """

    round: int
    parts: list[int]
    sent: int
    recovered: int
    still_failing: int


class ResultsManifest(BaseModel):
    """The small summary written next to the results and returned as XCom (never the results themselves).

    The price every part was priced at is written once, as ``cost.price``: a part's ``cost`` priced at it is written
    without a ``price`` of its own (a thousand parts repeated it a thousand times), and read back with it.
    """

    job_ref: BatchJobRef
    state: JobState
    provider_state: str | None = None
    error_message: str | None = None
    counts: ResultCounts
    results_uri: str | None
    """The landed ``results.jsonl``; None when the results stayed where the provider wrote them (a table)."""
    manifest_uri: str
    written_at: datetime
    unmatched_uri: str | None = None
    """Rows that joined no input key, when there were any."""
    duplicates_uri: str | None = None
    """Rows that lost to another row for the same key, when there were any."""
    output_location: str | None = None
    """Where the provider wrote the job's output (its GCS directory, its table), where it says."""
    usage: UsageSummary | None = None
    """Tokens per job and in total; None in a manifest written before they were counted."""
    cost: CostEstimate | None = None
    """The estimated cost of all the jobs; None in a manifest written before costs were estimated."""
    replaced_uri: str | None = None
    """Rows a later round of a group replaced (``replaced.jsonl``), when there were any."""
    parts: list[PartOutcome] | None = None
    """Every job of a group (a split input, follow-up rounds), in plan order; None for one job."""
    rounds: list[RoundOutcome] | None = None
    """A group's rounds, in order; None for one job."""

    @model_serializer(mode="wrap")
    def _price_once(self, handler: SerializerFunctionWrapHandler) -> Any:
        """The manifest as written: each part's cost without the price when it is the total's ``cost.price``."""
        data = handler(self)
        shared = self.cost.price if self.cost is not None else None
        usage = data.get("usage") if isinstance(data, dict) else None
        if shared is None or self.usage is None or not isinstance(usage, dict):
            return data
        for part, written in zip(self.usage.parts, usage.get("parts") or (), strict=False):
            if part.cost is not None and part.cost.price == shared and isinstance(written.get("cost"), dict):
                written["cost"].pop("price", None)
        return data

    @model_validator(mode="before")
    @classmethod
    def _shared_price(cls, data: Any) -> Any:
        """A written manifest with each part cost written without a ``price`` given the total's ``cost.price`` back (a
        cost written with ``"price": null`` had none, and keeps none)."""
        if not isinstance(data, dict):
            return data
        cost, usage = data.get("cost"), data.get("usage")
        price = cost.get("price") if isinstance(cost, dict) else None
        if price is None or not isinstance(usage, dict) or not isinstance(usage.get("parts"), list):
            return data
        parts = [
            {**part, "cost": {**part["cost"], "price": price}}
            if isinstance(part, dict) and isinstance(part.get("cost"), dict) and "price" not in part["cost"]
            else part
            for part in usage["parts"]
        ]
        return {**data, "usage": {**usage, "parts": parts}}
