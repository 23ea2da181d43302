"""Token usage: read from each result row while it lands, and from a job where the provider totals it.

Every provider's fields are brought to one meaning (:class:`~.models.TokenUsage`):

* ``input_tokens``: the whole prompt, including any part read from or written to a prompt cache;
* ``cached_tokens`` / ``cache_write_tokens``: the parts of ``input_tokens`` read from / written to a cache;
* ``cache_write_1h_tokens``: the part of ``cache_write_tokens`` written to be kept an hour (Anthropic's
  ``usage.cache_creation.ephemeral_1h_input_tokens``), billed at a higher rate than writes kept five minutes;
* ``output_tokens``: everything generated, thinking included (every provider here bills it as output);
* ``thinking_tokens``: the part of ``output_tokens`` spent thinking or reasoning;
* ``audio_tokens``: the input and output tokens of audio, which providers bill at rates of their own (so usage
  with some is not priced): Gemini's and Vertex's ``AUDIO`` entries of ``promptTokensDetails`` and
  ``candidatesTokensDetails``, OpenAI's ``audio_tokens`` of the prompt's and the completion's details.

Per provider (the fields of the response body each result row holds as ``ResultRow.response``):

* Gemini and Vertex (``usageMetadata``): input = ``promptTokenCount`` (which already holds
  ``cachedContentTokenCount``) + ``toolUsePromptTokenCount``; cached = ``cachedContentTokenCount``;
  output = ``candidatesTokenCount`` + ``thoughtsTokenCount`` (candidates leave thoughts out);
  thinking = ``thoughtsTokenCount``. A Gemini API batch embedding (``SingleEmbedContentResponse``): input =
  ``tokenCount``. A Vertex text-embedding prediction: input = ``statistics.token_count``.
* OpenAI (``usage``): chat and completions: input = ``prompt_tokens`` (cached included), cached =
  ``prompt_tokens_details.cached_tokens``, output = ``completion_tokens`` (reasoning included), thinking =
  ``completion_tokens_details.reasoning_tokens``; the Responses API's ``input_tokens``/``output_tokens`` and
  ``*_details`` the same way (``cache_write_tokens`` too); embeddings: ``prompt_tokens`` only.
* Anthropic (``usage``, also a Bedrock InvokeModel body): ``input_tokens`` leaves cache reads and writes
  out, so input = ``input_tokens`` + ``cache_creation_input_tokens`` + ``cache_read_input_tokens``; cached =
  ``cache_read_input_tokens``; cache writes = ``cache_creation_input_tokens``, of which
  ``cache_creation.ephemeral_1h_input_tokens`` kept an hour; output = ``output_tokens`` (thinking included);
  thinking = ``output_tokens_details.thinking_tokens`` where given.
* Bedrock Converse (``usage``): ``inputTokens`` leaves cache reads and writes out, like Anthropic's:
  input = ``inputTokens`` + ``cacheReadInputTokens`` + ``cacheWriteInputTokens``; output = ``outputTokens``;
  one-hour cache writes = the ``inputTokens`` of ``cacheDetails``' entries whose ``ttl`` is ``1h``.
  Amazon Nova's InvokeModel body the same, its cache counts named ``cacheReadInputTokenCount`` and
  ``cacheWriteInputTokenCount``. Other InvokeModel bodies: Titan Text input = ``inputTextTokenCount``, output =
  ``results[].tokenCount``; Titan Embeddings input = ``inputTextTokenCount``; Llama input = ``prompt_token_count``,
  output = ``generation_token_count``; Cohere input = ``meta.billed_units.input_tokens``, output =
  ``meta.billed_units.output_tokens``; a chat completion body (AI21 Jamba, OpenAI gpt-oss) OpenAI's ``usage``;
  Mistral's and DeepSeek-R1's carry none.
* The gateway: each target's own body (OpenAI, Anthropic), or a Gemini result flattened to
  ``usage{prompt_tokens, completion_tokens, total_tokens}``, whose thoughts are what ``total_tokens`` holds beyond
  the other two (thinking, inside output).

A count is read only as an integer from 0 to 2**53 - 1 (the integers JSON carries exactly): a row whose usage
holds anything else (a negative count, a fraction, ``1e308``, a string) is unreadable and counts nothing, so a
provider answering garbage can neither crash a landing nor move its totals.

Job totals the provider reports itself: OpenAI's Batch ``usage`` and Bedrock's ``manifest.json.out``
(``inputTokenCount``, ``outputTokenCount``). Where there are both, the job's totals are the ones counted.

Some models bill a whole request at higher rates when its prompt exceeds 200,000 tokens (Claude with the 1M-token
context window, Gemini 2.5 Pro), so the rows over it are also summed apart (``over_200k_*``): a job total cannot
tell them, and one such row priced at the lower rate would understate the bill.

Before anything is sent, :func:`estimate_input_tokens` (from :mod:`.token_estimate`) estimates a request's
input tokens from its text, for dry runs and enqueued-token budgets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import chain
from typing import Any

from airflow_provider_genai_batch.formats.gemini import embed_token_count
from airflow_provider_genai_batch.formats.results import COUNT_BITS, ResultRow
from airflow_provider_genai_batch.models import (
    LONG_PROMPT_TOKENS,
    BatchJob,
    CostEstimate,
    PartUsage,
    TokenUsage,
    UsageSummary,
)
from airflow_provider_genai_batch.prices import PriceTable, estimate_cost, priced
from airflow_provider_genai_batch.token_estimate import InputEstimate as InputEstimate
from airflow_provider_genai_batch.token_estimate import estimate_input_tokens as estimate_input_tokens

Counts = tuple[int, int, int, int, int, int, int]
"""One row's (input, output, cached, cache write, thinking, one-hour cache write, audio) tokens, in the meanings
above."""
ReadUsage = Callable[[Mapping[str, Any]], "Counts | None"]
"""Where a provider's response body keeps its usage: the counts, or None when it carries none."""

_EMPTY: Mapping[str, Any] = {}
# A count is below ``2**COUNT_BITS``. The readers take each count as given (absent: 0) and check a row's counts at
# once: every one's type is int (a bool, a string, a list, an object or a fraction is not; one given as null goes
# through :func:`_strict`), then ``(a | b | ...) >> COUNT_BITS`` is non-zero when any is negative or too large.
BAD_COUNT = "a token count is not an integer from 0 to 2**53 - 1"


def _strict(*counts: Any) -> tuple[int, ...]:
    """``counts`` with null read as 0, as results.jsonl's row usage reads them (formats.results.counted_usage);
    ValueError for any other than an integer: the readers' slower path, taken only when a count is not an int."""
    read = tuple(0 if count is None else count for count in counts)
    if any(type(count) is not int for count in read):
        raise ValueError(BAD_COUNT)
    return read


def gemini_counts(response: Mapping[str, Any]) -> Counts | None:
    """A ``GenerateContentResponse``'s ``usageMetadata``, or a batch embedding's ``tokenCount`` (its input tokens)."""
    meta = response.get("usageMetadata")
    if not meta:
        if response.get("tokenCount") is None:
            return None
        tokens = embed_token_count(response)
        if type(tokens) is not int or tokens >> COUNT_BITS:
            raise ValueError(BAD_COUNT)
        return tokens, 0, 0, 0, 0, 0, 0
    get = meta.get
    prompt = get("promptTokenCount", 0)
    tool = get("toolUsePromptTokenCount", 0)
    candidates = get("candidatesTokenCount", 0)
    thoughts = get("thoughtsTokenCount", 0)
    cached = get("cachedContentTokenCount", 0)
    if (
        type(prompt) is not int
        or type(tool) is not int
        or type(candidates) is not int
        or type(thoughts) is not int
        or type(cached) is not int
    ):
        prompt, tool, candidates, thoughts, cached = _strict(prompt, tool, candidates, thoughts, cached)
    if (prompt | tool | candidates | thoughts | cached) >> COUNT_BITS:
        raise ValueError(BAD_COUNT)
    audio = 0
    heard, spoken = get("promptTokensDetails"), get("candidatesTokensDetails")
    if heard or spoken:  # lists of {modality, tokenCount}: audio is billed apart from text
        for entry in chain(heard or (), spoken or ()):
            if entry.get("modality") == "AUDIO":
                (tokens,) = _strict(entry.get("tokenCount"))
                audio += tokens
        if audio >> COUNT_BITS:
            raise ValueError(BAD_COUNT)
    return prompt + tool, candidates + thoughts, cached, 0, thoughts, 0, audio


def vertex_counts(response: Mapping[str, Any]) -> Counts | None:
    """A Vertex generation's ``usageMetadata``, or a text-embedding prediction's ``statistics.token_count``."""
    counts = gemini_counts(response)
    if counts is not None:
        return counts
    statistics = (response.get("embeddings") or _EMPTY).get("statistics")
    if not statistics or statistics.get("token_count") is None:
        return None
    tokens = statistics["token_count"]
    if type(tokens) is float and tokens.is_integer():
        tokens = int(tokens)  # a prediction's statistics are JSON numbers, which may be written 7.0
    if type(tokens) is not int or tokens >> COUNT_BITS:
        raise ValueError(BAD_COUNT)
    return tokens, 0, 0, 0, 0, 0, 0


def openai_usage_counts(usage: Mapping[str, Any]) -> Counts:
    """An OpenAI ``usage`` object: chat/completions/embeddings names (told by either count, so one missing the other
    still counts what it has), or the Responses API's."""
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        given = usage.get("prompt_tokens", 0)
        made = usage.get("completion_tokens", 0)
        details = usage.get("prompt_tokens_details") or _EMPTY
        made_details = usage.get("completion_tokens_details") or _EMPTY
    else:
        given = usage.get("input_tokens", 0)
        made = usage.get("output_tokens", 0)
        details = usage.get("input_tokens_details") or _EMPTY
        made_details = usage.get("output_tokens_details") or _EMPTY
    thought = made_details.get("reasoning_tokens", 0)
    cached = details.get("cached_tokens", 0)
    written = details.get("cache_write_tokens", 0)
    heard, spoken = _strict(details.get("audio_tokens"), made_details.get("audio_tokens"))
    if (
        type(given) is not int
        or type(made) is not int
        or type(cached) is not int
        or type(written) is not int
        or type(thought) is not int
    ):
        given, made, cached, written, thought = _strict(given, made, cached, written, thought)
    if (given | made | cached | written | thought | heard | spoken) >> COUNT_BITS:
        raise ValueError(BAD_COUNT)
    return given, made, cached, written, thought, 0, heard + spoken


def openai_counts(response: Mapping[str, Any]) -> Counts | None:
    """An OpenAI response body's ``usage``."""
    usage = response.get("usage")
    return openai_usage_counts(usage) if usage else None


def anthropic_usage_counts(usage: Mapping[str, Any]) -> Counts:
    """An Anthropic ``usage`` object, cache reads and writes added to the input they were left out of, and the
    writes kept an hour (``cache_creation.ephemeral_1h_input_tokens``, part of ``cache_creation_input_tokens``)."""
    given = usage.get("input_tokens", 0)
    made = usage.get("output_tokens", 0)
    read = usage.get("cache_read_input_tokens", 0)
    written = usage.get("cache_creation_input_tokens", 0)
    thought = (usage.get("output_tokens_details") or _EMPTY).get("thinking_tokens", 0)
    hour = (usage.get("cache_creation") or _EMPTY).get("ephemeral_1h_input_tokens", 0)
    if (
        type(given) is not int
        or type(made) is not int
        or type(read) is not int
        or type(written) is not int
        or type(thought) is not int
        or type(hour) is not int
    ):
        given, made, read, written, thought, hour = _strict(given, made, read, written, thought, hour)
    if (given | made | read | written | thought | hour) >> COUNT_BITS or hour > written:
        raise ValueError(BAD_COUNT)
    return given + read + written, made, read, written, thought, hour, 0


def anthropic_counts(response: Mapping[str, Any]) -> Counts | None:
    """An Anthropic Message's ``usage``."""
    usage = response.get("usage")
    return anthropic_usage_counts(usage) if usage else None


def bedrock_counts(response: Mapping[str, Any]) -> Counts | None:
    """A Bedrock ``modelOutput``'s ``usage``: Converse names (``inputTokens``..., Amazon Nova's InvokeModel body's
    ``cacheReadInputTokenCount``..., the cache writes kept an hour in ``cacheDetails``' ``1h`` entries), a chat
    completion's (``prompt_tokens``...: AI21 Jamba, OpenAI gpt-oss) or an Anthropic Message's; without one, another
    model's InvokeModel counts."""
    usage = response.get("usage")
    if not usage:
        return bedrock_native_counts(response)
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        return openai_usage_counts(usage)
    if usage.keys().isdisjoint(_CONVERSE_COUNTS):
        return anthropic_usage_counts(usage)
    read = usage.get("cacheReadInputTokens")
    written = usage.get("cacheWriteInputTokens")
    given, made, read, written = _strict(
        usage.get("inputTokens"),
        usage.get("outputTokens"),
        usage.get("cacheReadInputTokenCount") if read is None else read,
        usage.get("cacheWriteInputTokenCount") if written is None else written,
    )
    hour = sum(
        _strict(*(item.get("inputTokens") for item in usage.get("cacheDetails") or () if item.get("ttl") == "1h"))
    )
    if (given | made | read | written | hour) >> COUNT_BITS or hour > written:
        raise ValueError(BAD_COUNT)
    return given + read + written, made, read, written, 0, hour, 0


_CONVERSE_COUNTS = frozenset(
    {
        "inputTokens",
        "outputTokens",
        "totalTokens",
        "cacheReadInputTokens",
        "cacheWriteInputTokens",
        "cacheReadInputTokenCount",
        "cacheWriteInputTokenCount",
    }
)
"""The counts of a Converse (or Amazon Nova InvokeModel) ``usage``: any one of them tells it from an Anthropic one, so
a usage missing ``inputTokens`` is not read under Anthropic's names, as counting nothing."""


def bedrock_native_counts(response: Mapping[str, Any]) -> Counts | None:
    """The counts of an InvokeModel body without ``usage``: Amazon Titan Text (``inputTextTokenCount``, each of
    ``results`` its ``tokenCount``), Titan Embeddings (``inputTextTokenCount``), Cohere's ``meta.billed_units``
    (``input_tokens``, ``output_tokens``) or Meta Llama (``prompt_token_count``, ``generation_token_count``); None for
    another (Mistral's and DeepSeek-R1's bodies have no counts)."""
    given: Any = response.get("inputTextTokenCount")
    made: Any
    billed = (response.get("meta") or _EMPTY).get("billed_units")
    if given is not None:
        made = sum(_strict(*(item.get("tokenCount") for item in response.get("results") or ())))
    elif billed:
        given, made = billed.get("input_tokens"), billed.get("output_tokens")
    else:
        given = response.get("prompt_token_count")
        made = response.get("generation_token_count")
        if given is None and (made is None or made == 0):
            return None
    given, made = _strict(given, made)
    if (given | made) >> COUNT_BITS:
        raise ValueError(BAD_COUNT)
    return given, made, 0, 0, 0, 0, 0


def gateway_counts(response: Mapping[str, Any]) -> Counts | None:
    """A gateway result body's ``usage``: OpenAI's names (and the flattened Gemini result's), or Anthropic's.

    A flattened Gemini result's ``completion_tokens`` is the candidates' count alone while its ``total_tokens`` is
    Gemini's total, thoughts included: what the total holds beyond prompt and completion is thinking, billed as
    output (an OpenAI body's total is exactly its prompt and completion)."""
    usage = response.get("usage")
    if not usage:
        return None
    if "prompt_tokens" not in usage and "completion_tokens" not in usage and "input_tokens_details" not in usage:
        return anthropic_usage_counts(usage)
    given, made, cached, written, thought, hour, audio = openai_usage_counts(usage)
    (total,) = _strict(usage.get("total_tokens"))
    if total >> COUNT_BITS:
        raise ValueError(BAD_COUNT)
    unsaid = max(total - given - made, 0)
    return given, made + unsaid, cached, written, thought + unsaid, hour, audio


READERS: dict[str, ReadUsage] = {
    "gemini": gemini_counts,
    "vertex": vertex_counts,
    "openai": openai_counts,
    "anthropic": anthropic_counts,
    "bedrock": bedrock_counts,
    "gateway": gateway_counts,
}
"""Each provider's reader of a result row's response body."""


class UsageTally:
    """Token counts summed over result rows as they land: landing reads the rows :meth:`counted` passes on.

    One dict lookup chain per row on the response body the row already holds decoded; nothing is copied.
    A row without usage (a failure, an expired request) counts nothing; a usage the reader cannot add up
    (not an object, a count that is not an integer from 0 to 2**53 - 1) adds nothing and is counted in
    ``unreadable``, the first such row's key kept in ``unreadable_key``, so landing never stops. The row's own
    usage and the reader agree on which usage is unreadable: a row with counts whose ``usage`` its dialect left
    None (it refused a count the reader does not read, such as a total) is unreadable here, and a row the reader
    refuses has its ``usage`` set to None, so results.jsonl does not show counts of a usage the manifest left out.
    The rows whose prompt exceeds :data:`~.models.LONG_PROMPT_TOKENS` are also summed apart (``long``: the counts,
    then the rows), since some models bill such a request at higher rates.
    ``model`` is the ``model`` the first row with usage names (an Anthropic Message, an OpenAI body), looked at in
    that row alone: the model to price a job by whose status names none (an Anthropic batch, whose requests all
    name the model it was submitted for).
    """

    __slots__ = (
        "_read",
        "audio_tokens",
        "cache_write_1h_tokens",
        "cache_write_tokens",
        "cached_tokens",
        "input_tokens",
        "long",
        "model",
        "output_tokens",
        "rows",
        "thinking_tokens",
        "unreadable",
        "unreadable_key",
    )

    def __init__(self, provider: str) -> None:
        try:
            self._read = READERS[provider]
        except KeyError:
            raise ValueError(f"no usage reader for provider {provider!r}; known: {', '.join(READERS)}") from None
        self.input_tokens = self.output_tokens = self.cached_tokens = 0
        self.cache_write_tokens = self.thinking_tokens = self.cache_write_1h_tokens = self.rows = self.unreadable = 0
        self.audio_tokens = 0
        self.long: tuple[int, ...] = (0,) * 8
        self.model: str | None = None
        self.unreadable_key: str | None = None

    def counted(self, rows: Iterable[ResultRow]) -> Iterator[ResultRow]:
        """``rows`` as they come, each one's usage added as it passes; the sums are stored once the rows end
        (or the stream is closed). Every row of a landing passes here, so the sums are kept in locals: no
        call and no attribute written per row."""
        read = self._read
        given_sum, made_sum, cached_sum = self.input_tokens, self.output_tokens, self.cached_tokens
        written_sum, thought_sum, hour_sum = self.cache_write_tokens, self.thinking_tokens, self.cache_write_1h_tokens
        audio_sum = self.audio_tokens
        long, threshold = self.long, LONG_PROMPT_TOKENS
        added = unreadable = 0
        model = self.model
        try:
            for row in rows:
                response = row.response
                if type(response) is dict:
                    try:
                        counts = read(response)
                        if counts is not None:
                            if row.usage is None:  # the row's reader refused a count this reader does not add up
                                raise ValueError(BAD_COUNT)
                            given, made, cached, written, thought, hour, audio = counts
                            given_sum, made_sum, cached_sum, written_sum, thought_sum, hour_sum, audio_sum = (
                                given_sum + given,
                                made_sum + made,
                                cached_sum + cached,
                                written_sum + written,
                                thought_sum + thought,
                                hour_sum + hour,
                                audio_sum + audio,
                            )
                            if given > threshold:
                                long = tuple(map(sum, zip(long, (*counts, 1), strict=True)))
                            if not added and model is None and type(named := response.get("model")) is str:
                                model = named
                            added += 1
                    except (TypeError, AttributeError, ValueError):
                        row.usage = None  # results.jsonl says so too, rather than counts a part of the usage refused
                        if not unreadable and not self.unreadable:
                            self.unreadable_key = row.key
                        unreadable += 1
                yield row
        finally:
            self.input_tokens, self.output_tokens, self.cached_tokens = given_sum, made_sum, cached_sum
            self.cache_write_tokens, self.thinking_tokens, self.cache_write_1h_tokens = (
                written_sum,
                thought_sum,
                hour_sum,
            )
            self.audio_tokens = audio_sum
            self.long = long
            self.rows += added
            self.unreadable += unreadable
            self.model = model

    def usage(self) -> TokenUsage:
        """The sums so far, with those of the requests over the long-prompt threshold where there were some."""
        given, made, cached, written, _, hour, _, rows = self.long
        return TokenUsage(
            input_tokens=int(self.input_tokens),
            output_tokens=int(self.output_tokens),
            cached_tokens=int(self.cached_tokens),
            cache_write_tokens=int(self.cache_write_tokens),
            thinking_tokens=int(self.thinking_tokens),
            cache_write_1h_tokens=int(self.cache_write_1h_tokens),
            audio_tokens=int(self.audio_tokens),
            rows=self.rows,
            over_200k_rows=rows,
            over_200k_input_tokens=given,
            over_200k_cached_tokens=cached,
            over_200k_cache_write_tokens=written,
            over_200k_cache_write_1h_tokens=hour,
            over_200k_output_tokens=made,
        )


def openai_batch_usage(batch: Mapping[str, Any]) -> TokenUsage | None:
    """An OpenAI Batch object's own ``usage`` (set on batches created since September 2025), else None (also when
    a count in it cannot be read).

    ``rows`` is the batch's ``request_counts.completed``.
    """
    usage = batch.get("usage")
    if not isinstance(usage, Mapping):
        return None
    try:
        given, made, cached, written, thought, _, audio = openai_usage_counts(usage)
    except (TypeError, ValueError, AttributeError):
        return None  # a total that cannot be read is not one: the rows' sum counts instead
    completed = (batch.get("request_counts") or _EMPTY).get("completed") or 0
    return TokenUsage(
        input_tokens=given,
        output_tokens=made,
        cached_tokens=cached,
        cache_write_tokens=written,
        thinking_tokens=thought,
        audio_tokens=audio,
        rows=completed,
    )


def bedrock_manifest_usage(manifest: Mapping[str, Any]) -> TokenUsage | None:
    """A Bedrock job's ``manifest.json.out`` totals (``rows`` is ``successRecordCount``), else None.

    Bedrock reports only input and output there, so cache reads and writes stay inside the input.
    """
    if "inputTokenCount" not in manifest and "outputTokenCount" not in manifest:
        return None
    try:
        given, made, succeeded = _strict(
            manifest.get("inputTokenCount"), manifest.get("outputTokenCount"), manifest.get("successRecordCount")
        )
        if (given | made | succeeded) >> COUNT_BITS:
            raise ValueError(BAD_COUNT)
    except ValueError:
        return None  # totals that cannot be read are not reported ones: the rows' sum counts instead
    return TokenUsage(input_tokens=given, output_tokens=made, rows=succeeded)


def reported_usage(job: BatchJob) -> TokenUsage | None:
    """The job's own token totals where its status carries them (OpenAI's Batch ``usage``), else None.

    Bedrock's totals are in a file next to the output, not in the status: see :func:`bedrock_manifest_usage`.
    """
    if job.provider == "openai":
        return openai_batch_usage(job.raw)
    return None


def part_usage(
    job: BatchJob, tally: UsageTally, reported: TokenUsage | None = None, submitted: str | None = None
) -> PartUsage:
    """One job's entry: what its rows added up to, and the provider's own totals (given, or in its status).

    Its model is the job's, or where the job names none (Anthropic), the one its rows name, else ``submitted``, the
    model the submit named (a gateway's batch names none, nor do the rows it makes of Gemini answers).
    """
    return PartUsage(
        job_name=job.name,
        model=job.model or tally.model or submitted,
        from_rows=tally.usage(),
        reported=reported if reported is not None else reported_usage(job),
        unreadable_rows=tally.unreadable,
        unreadable_key=tally.unreadable_key,
    )


def summarise(parts: Iterable[PartUsage]) -> UsageSummary:
    """The parts and their total (each part's counted figure: its reported totals, else its rows'), and the rows
    whose usage could not be read, with the first one's key."""
    listed = list(parts)
    total = TokenUsage()
    for part in listed:
        total = total + part.counted
    unreadable = [part for part in listed if part.unreadable_rows]
    return UsageSummary(
        total=total,
        parts=listed,
        unreadable_rows=sum(part.unreadable_rows for part in unreadable),
        unreadable_key=unreadable[0].unreadable_key if unreadable else None,
    )


def usage_and_cost(
    job: BatchJob,
    tally: UsageTally,
    table: PriceTable,
    reported: TokenUsage | None = None,
    submitted: str | None = None,
) -> tuple[UsageSummary, CostEstimate]:
    """A landed job's manifest ``usage`` (one part: this job) and ``cost``, priced with ``table`` (``submitted``: as
    in :func:`part_usage`)."""
    return priced_parts([part_usage(job, tally, reported, submitted)], job.provider, table)


def priced_parts(parts: Iterable[PartUsage], provider: str, table: PriceTable) -> tuple[UsageSummary, CostEstimate]:
    """The manifest ``usage`` and ``cost`` of several jobs of one provider (a group), each priced with ``table``."""
    return priced(summarise(parts), provider, table)


def running_cost(job: BatchJob, table: PriceTable) -> str | None:
    """A progress-log note of the tokens and cost so far, where the job's status reports its tokens; else None."""
    usage = reported_usage(job)
    if usage is None or not (usage.input_tokens or usage.output_tokens):
        return None
    price, reason = table.lookup(job.provider, job.model)
    cost = estimate_cost(usage, price, reason)
    money = f"est. ${cost.amount:.4f}" if cost.amount is not None else "cost unknown"
    return f"tokens so far: {usage.input_tokens} in, {usage.output_tokens} out ({money})"


def unreadable_line(usage: UsageSummary | None) -> str | None:
    """The task log's warning about result rows whose usage could not be read; None when there were none."""
    if usage is None or not usage.unreadable_rows:
        return None
    first = "a row without a key" if usage.unreadable_key is None else f"key {usage.unreadable_key!r}"
    return (
        f"the usage of {usage.unreadable_rows} result row(s) could not be read (not an object, or {BAD_COUNT}) "
        f"and is not counted in the manifest's usage or cost; the first: {first}"
    )


def summary_line(usage: UsageSummary | None, cost: CostEstimate | None) -> str | None:
    """The task log's words for a manifest's tokens and cost; None for a manifest without them."""
    if usage is None:
        return None
    total = usage.total
    tokens = (
        f"tokens: {total.input_tokens} in ({total.cached_tokens} cached), "
        f"{total.output_tokens} out ({total.thinking_tokens} thinking) over {total.rows} rows"
    )
    if cost is None or cost.amount is None:
        return f"{tokens}; cost unknown: {cost.reason if cost else 'not estimated'}"
    basis = (
        f" at {cost.price.model} batch prices of {cost.price.taken_on}" if cost.price and cost.price.taken_on else ""
    )
    return f"{tokens}; est. ${cost.amount:.6f}{basis}"
