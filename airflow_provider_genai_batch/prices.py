"""Batch prices per model and the estimated cost of a job's tokens.

The shipped table (``data/batch_prices.json``) holds each provider's batch price per million tokens with
the date it was taken and its source; a user's ``batch_prices`` (operator or connection extra) overrides it
model by model. A model is found by its name with any path or region prefix taken off
(``models/gemini-2.5-flash``, a Bedrock ARN, ``us.anthropic...``). A shipped row prices its own name and the
snapshot ids its source lists for it (``gpt-4o-mini-2024-07-18`` is ``gpt-4o-mini``), nothing else: a snapshot
may cost more than its alias (``gpt-4o-2024-05-13`` does). A user's row also prices its name with a version
or date after it (``anthropic.claude-3-haiku`` prices ``anthropic.claude-3-haiku-20240307-v1:0``), the longest
such name winning, and the ids of the shipped row it replaces; ``claude-opus-4-8`` is not ``claude-opus-4``. A
model not found has no cost, with the reason, never a guess."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictFloat, ValidationError, field_validator

from airflow_provider_genai_batch.models import (
    LONG_PROMPT_TOKENS,
    CostEstimate,
    PartUsage,
    Price,
    Rates,
    TokenUsage,
    UsageSummary,
)
from airflow_provider_genai_batch.rendered import rendered_mapping

PRICES_FILE = "batch_prices.json"
PER_TOKENS = 1_000_000
GATEWAY_TARGETS = ("gemini", "openai", "anthropic")
"""The providers whose prices a gateway model is looked up in (their model names do not overlap)."""

_VERSION_SUFFIX = re.compile(
    r"(?:-\d{8}|-\d{4}-\d{2}-\d{2}|-\d{3}|-latest|-v\d+(?::\d+)?|@\d{8}|@latest|@\d{3}|:\d+)+",
)
"""What may follow a user's row name in a model name the row prices: dates, ``-001``, ``-latest``, Bedrock's
``-v1:0`` and Vertex's ``@20240307``."""
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_REGION_PREFIX = re.compile(r"^(?:us|eu|apac|global|us-gov|jp|au|ca)\.")


class RatesOverride(BaseModel):
    """Rates as a user gives them: USD per million tokens, each a finite number (not a bool or a string, which lax
    parsing read as 1.0 or converted) and not negative."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: StrictFloat
    output: StrictFloat
    cached_input: StrictFloat | None = None
    cache_write: StrictFloat | None = None
    cache_write_1h: StrictFloat | None = None

    @field_validator("input", "output", "cached_input", "cache_write", "cache_write_1h")
    @classmethod
    def _rate(cls, value: float | None) -> float | None:
        if value is not None and (not math.isfinite(value) or value < 0):
            raise ValueError("a price per million tokens must be a finite number, 0 or more")
        return value


class PriceOverride(RatesOverride):
    """One model's price as a user gives it: its rates; ``over_200k``, the rates of a request whose prompt exceeds
    200,000 tokens (without them, such a request leaves the cost unknown); ``taken_on`` a date or its ISO text."""

    over_200k: RatesOverride | None = None
    taken_on: date | None = None
    note: str | None = None

    @field_validator("taken_on", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        """A date or YYYY-MM-DD, not a number (which lax parsing read as a Unix time) or a datetime."""
        if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
            return value
        if isinstance(value, str) and _ISO_DATE.fullmatch(value):
            return value
        raise ValueError(f"taken_on must be a date as YYYY-MM-DD, got {value!r}")


class PriceTable:
    """Prices by provider and model name: the shipped rows, each with the ids it prices, and the user's on top.

    A shipped row prices exactly the model names it lists (its own and its source's snapshot ids); a user's row
    prices its name and its name with a version or date after it, and the ids of the shipped row it replaces.
    """

    def __init__(self, rows: Iterable[tuple[Price, Iterable[str], bool]]) -> None:
        self._rows: dict[tuple[str, str], tuple[Price, frozenset[str], bool]] = {}
        for row, ids, versioned in rows:
            name = model_name(row.model)
            self._rows[(row.provider, name)] = (
                row,
                frozenset({name, *(model_name(given) for given in ids)}),
                versioned,
            )

    def with_overrides(self, provider: str, overrides: Mapping[str, PriceOverride], source: str) -> PriceTable:
        """This table with ``overrides`` as ``provider``'s rows, ``source`` naming where they were given."""
        given = []
        for model, rates in overrides.items():
            replaced = self._rows.get((provider, model_name(model)))
            listed = replaced[1] if replaced is not None else frozenset()
            price = Price(
                provider=provider,
                model=model,
                source=source,
                long_prompts_unpriced=rates.over_200k is None,
                **rates.model_dump(),
            )
            given.append((price, listed, True))
        return PriceTable([*self._rows.values(), *given])

    def lookup(self, provider: str, model: str | None) -> tuple[Price | None, str | None]:
        """The price of ``model`` at ``provider``, or None and why there is none.

        A gateway model is looked up among the gateway's own rows (from overrides), then its targets'.
        """
        if not model:
            return None, "the job names no model"
        name = model_name(model)
        searched = (provider, *GATEWAY_TARGETS) if provider == "gateway" else (provider,)
        for each in searched:
            found = self._match(each, name)
            if found is not None:
                return found, None
        return None, (
            f"no batch price for {provider} model {model!r} (looked up as {name!r}) in the price table"
            f"{self._unlisted(searched, name)}; give its prices in batch_prices"
        )

    def _match(self, provider: str, name: str) -> Price | None:
        """The row naming ``name`` exactly, else the one listing it, else the user's longest versioned name."""
        own = self._rows.get((provider, name))
        if own is not None:
            return own[0]
        best: Price | None = None
        best_length = -1
        for (row_provider, row_name), (row, ids, versioned) in self._rows.items():
            if row_provider != provider:
                continue
            if name in ids:
                return row
            if versioned and len(row_name) > best_length and _versioned(name, row_name):
                best, best_length = row, len(row_name)
        return best

    def _unlisted(self, providers: Iterable[str], name: str) -> str:
        """Why a shipped row whose name ``name`` is a version of does not price it, or nothing."""
        for provider in providers:
            for (row_provider, row_name), (_, _, versioned) in self._rows.items():
                if row_provider == provider and not versioned and _versioned(name, row_name):
                    return (
                        f" (its {row_name!r} row prices only the ids its source lists, and a snapshot's price "
                        "may differ from its alias's)"
                    )
        return ""


def _versioned(name: str, row_name: str) -> bool:
    """Whether ``name`` is ``row_name`` with only a version or date after it."""
    return name.startswith(row_name) and _VERSION_SUFFIX.fullmatch(name[len(row_name) :]) is not None


def model_name(model: str) -> str:
    """A model named the way the price table names it: no resource path, ARN or cross-region prefix, lower case.

    ``models/gemini-2.5-flash``, ``projects/p/locations/l/publishers/google/models/gemini-2.5-flash``,
    ``arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0`` and
    ``us.anthropic.claude-3-haiku-20240307-v1:0`` lose everything up to the model's own name.
    """
    name = model.strip().lower()
    if name.startswith("arn:"):
        name = name.split(":", 5)[-1]
    name = name.rsplit("/", 1)[-1]
    return _REGION_PREFIX.sub("", name)


@cache
def shipped_table() -> PriceTable:
    """The price table shipped with the package."""
    document = json.loads(
        resources.files("airflow_provider_genai_batch").joinpath("data").joinpath(PRICES_FILE).read_text("utf-8")
    )
    rows: list[tuple[Price, list[str], bool]] = []
    for provider, block in document["providers"].items():
        for model, given in block["models"].items():
            rates = dict(given)
            snapshots = rates.pop("snapshots", [])
            rows.append(
                (
                    Price(
                        provider=provider,
                        model=model,
                        taken_on=block["taken_on"],
                        source=block["source"],
                        **rates,
                    ),
                    snapshots,
                    False,
                )
            )
    return PriceTable(rows)


def parse_overrides(value: Any, where: str) -> dict[str, PriceOverride]:
    """A user's ``batch_prices`` (``{model: {input, output, cached_input?, cache_write?, cache_write_1h?, over_200k?,
    taken_on?, note?}}``, or its JSON or Python-literal text, as a template renders it).

    Raise ValueError naming ``where`` it was given, the model, the field and why, for anything else.
    """
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as err:
            literal = rendered_mapping(value)  # a template rendered without render_template_as_native_obj
            if literal is None:
                raise ValueError(f"{where}: batch_prices is not JSON: {err}") from None
            value = literal
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: batch_prices must map model names to prices, got {type(value).__name__}")
    parsed: dict[str, PriceOverride] = {}
    for model, rates in value.items():
        if not isinstance(model, str) or not model.strip():
            raise ValueError(f"{where}: batch_prices has a model name {model!r}: it must be a non-empty string")
        try:
            parsed[model] = PriceOverride.model_validate(rates)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'prices'}: {error['msg']}" for error in err.errors()
            )
            raise ValueError(f"{where}: batch_prices[{model!r}]: {problems}") from None
    return parsed


def price_table(provider: str, operator_prices: Any = None, connection_prices: Any = None) -> PriceTable:
    """The shipped table with the connection's ``batch_prices`` over it and the operator's over both."""
    table = shipped_table()
    connection = parse_overrides(connection_prices, "the connection extra")
    if connection:
        table = table.with_overrides(provider, connection, "batch_prices in the connection extra")
    operator = parse_overrides(operator_prices, "the operator's batch_prices")
    if operator:
        table = table.with_overrides(provider, operator, "batch_prices given to the operator")
    return table


def estimate_cost(usage: TokenUsage, price: Price | None, reason: str | None = None) -> CostEstimate:
    """The cost of ``usage`` at ``price``; with no price, no amount and ``reason``.

    Input not read from or written to a cache is billed at ``input``, cache reads at ``cached_input``, cache
    writes at ``cache_write`` (each at ``input`` when the row has no such rate, said in ``notes``) but those kept
    an hour at ``cache_write_1h`` (at the ``cache_write`` rate when the row has none, said in ``notes``), and all
    output, thinking included, at ``output``. Usage that does not break its cache writes down is priced as before.
    Usage holding audio tokens has no amount: audio is billed at rates of its own, which no price here holds.
    The requests whose prompt exceeded the long-prompt threshold are priced at the price's ``over_200k`` rates; with
    none, at its one rate where the model bills every prompt alike (a shipped row), else there is no amount (a guess
    at the lower rate would be a confidently wrong bill).
    """
    if price is None:
        return CostEstimate(reason=reason or "no price")
    if usage.audio_tokens:
        return CostEstimate(
            reason=(
                f"{usage.audio_tokens} audio tokens, which {price.provider} bills at rates of their own; the price "
                f"of {price.model} here is for text"
            )
        )
    long = usage.over_200k()
    if long is not None and price.over_200k is None and price.long_prompts_unpriced:
        return CostEstimate(
            reason=(
                f"{long.rows} request(s) with a prompt over {LONG_PROMPT_TOKENS:,} tokens, which some models bill at "
                f"higher rates, and the price of {price.model} here does not say how they are billed; give its "
                "over_200k rates in batch_prices (its own rates again where it bills every prompt alike)"
            )
        )
    notes = [
        f"{getattr(usage, count)} {what}"
        for rate, count, what in _MISSING_RATES
        if getattr(price, rate) is None and getattr(usage, count)
    ]
    return CostEstimate(amount=round(_amount(usage, price), 6), price=price, notes=notes)


_MISSING_RATES: tuple[tuple[str, str, str], ...] = (
    ("cached_input", "cached_tokens", "cached input tokens priced at the input rate (no cached price)"),
    ("cache_write", "cache_write_tokens", "cache-write tokens priced at the input rate (no cache-write price)"),
    (
        "cache_write_1h",
        "cache_write_1h_tokens",
        "one-hour cache-write tokens priced at the cache-write rate (no one-hour cache-write price)",
    ),
)
"""A rate a price may lack, the tokens priced at another rate for it, and what the cost's note says of them."""


def _amount(usage: TokenUsage, price: Price) -> float:
    """The cost of ``usage`` at ``price`` in USD, unrounded: its long-prompt requests at ``over_200k`` where the price
    has such rates, the rest at the price's own."""
    long = usage.over_200k()
    if long is None or price.over_200k is None:
        return _at(usage, price)
    return _at(usage.up_to_200k(), price) + _at(long, price.over_200k)


def _at(usage: TokenUsage, price: Rates | Price) -> float:
    """The cost of ``usage`` at one set of rates in USD, unrounded, each rate they lack taken as
    :func:`estimate_cost` says."""
    write_rate = price.input if price.cache_write is None else price.cache_write
    fresh = max(usage.input_tokens - usage.cached_tokens - usage.cache_write_tokens, 0)
    return (
        fresh * price.input
        + usage.cached_tokens * (price.input if price.cached_input is None else price.cached_input)
        + (usage.cache_write_tokens - usage.cache_write_1h_tokens) * write_rate
        + usage.cache_write_1h_tokens * (write_rate if price.cache_write_1h is None else price.cache_write_1h)
        + usage.output_tokens * price.output
    ) / PER_TOKENS


def priced(summary: UsageSummary, provider: str, table: PriceTable) -> tuple[UsageSummary, CostEstimate]:
    """Each part with its cost, and the cost of them all: None, naming the part, when any part has none.

    A part naming no model that used no tokens (and has no unreadable usage) costs nothing: an Anthropic job names
    no model, its rows do, and one none of whose rows succeeded (a follow-up round whose rows all failed again)
    names none; without a price it left the whole total unknown.
    """
    parts: list[PartUsage] = []
    for part in summary.parts:
        price, reason = table.lookup(provider, part.model)
        if part.model is None and not part.unreadable_rows and _no_tokens(part.counted):
            cost = CostEstimate(amount=0.0, notes=["no tokens were used and no row names a model: nothing was billed"])
        else:
            cost = estimate_cost(part.counted, price, reason)
        parts.append(part.model_copy(update={"cost": cost}))
    return summary.model_copy(update={"parts": parts}), total_cost(parts)


def _no_tokens(usage: TokenUsage) -> bool:
    """Whether ``usage`` counts no token of any kind."""
    return not (usage.input_tokens or usage.output_tokens or usage.cache_write_tokens or usage.audio_tokens)


def total_cost(parts: Iterable[PartUsage]) -> CostEstimate:
    """The sum of the parts' costs; None with the first unpriced part's reason when any part has no amount.

    Each priced part adds its unrounded amount, so the total is rounded once: parts' amounts rounded each to a
    millionth of a dollar drifted by up to half of one per part (a thousand parts of a few tokens each added up to 0).
    """
    listed = list(parts)
    if not listed:
        return CostEstimate(reason="no jobs")
    amounts: list[float] = []
    for part in listed:
        cost = part.cost
        if cost is None or cost.amount is None:
            return CostEstimate(reason=f"{part.job_name}: {cost.reason if cost else 'not priced'}")
        amounts.append(cost.amount if cost.price is None else _amount(part.counted, cost.price))
    prices = {part.cost.price for part in listed if part.cost is not None and part.cost.price is not None}
    return CostEstimate(
        amount=round(math.fsum(amounts), 6),
        price=prices.pop() if len(prices) == 1 else None,
        notes=_total_notes(listed),
    )


def _total_notes(parts: list[PartUsage]) -> list[str]:
    """The parts' notes, each said once for the total (each part's own stay in its cost): the tokens priced at another
    rate because a price lacks one, summed over the parts priced at it, naming the part when there is one, else how
    many; and the note of a part priced at no price (one that cost nothing), naming it."""
    notes: list[str] = []
    by_price: dict[Price, list[PartUsage]] = {}
    for part in parts:
        assert part.cost is not None  # every part is priced before its total
        if part.cost.price is None:
            notes.extend(f"{part.job_name}: {note}" for note in part.cost.notes)
        else:
            by_price.setdefault(part.cost.price, []).append(part)
    for price, priced_at in by_price.items():
        for rate, count, what in _MISSING_RATES:
            if getattr(price, rate) is not None:
                continue
            counted = [part for part in priced_at if getattr(part.counted, count)]
            if counted:
                who = counted[0].job_name if len(counted) == 1 else f"{len(counted)} parts"
                notes.append(f"{who}: {sum(getattr(part.counted, count) for part in counted)} {what}")
    return notes
