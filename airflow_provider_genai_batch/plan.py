"""What a submit would send, without sending it: the dry run's plan of parts, sizes, tokens and cost.

Built from a validated, translated and split input (no look-up, no upload), so a DAG author sees the jobs
and the estimated bill, and every problem in the input, before paying for anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.models import Price
from airflow_provider_genai_batch.parts import PreparedPart
from airflow_provider_genai_batch.prices import PER_TOKENS, PriceTable

ERRORS_SHOWN = 5
"""How many of the input's problems the dry run's failure message names (the log and the plan list them all)."""


class PlanPart(BaseModel):
    """One job the input would go as: its requests, bytes, input lines, and estimated input tokens and cost."""

    model_config = ConfigDict(frozen=True)

    index: int
    requests: int
    bytes: int
    first_line: int
    last_line: int
    input_tokens: int | None = None
    input_cost: float | None = None
    """USD for the part's input tokens at the model's batch input rate; None where there is no price or estimate."""


class PlanError(BaseModel):
    """One problem in the input: where it is and what is wrong."""

    model_config = ConfigDict(frozen=True)

    source: str | None = None
    line: int | None = None
    message: str

    def describe(self) -> str:
        """``source, line n: message``, as the submit's own input errors read."""
        where = ", ".join(p for p in (self.source, f"line {self.line}" if self.line is not None else None) if p)
        return f"{where}: {self.message}" if where else self.message


class SubmitPlan(BaseModel):
    """The jobs a submit would create for its input, their totals, and every problem found in the input.

    ``errors`` holds the problems collected (at most the submit's bound), ``errors_total`` how many there were.
    ``input_cost`` is an estimate of the input side alone (output is not known before the jobs run).
    """

    model_config = ConfigDict(frozen=True)

    provider: str
    model: str
    parts: list[PlanPart]
    requests: int
    bytes: int
    input_tokens: int | None = None
    input_cost: float | None = None
    input_price: float | None = None
    """The model's batch input rate, USD per million tokens, from the price table."""
    cost_reason: str | None = None
    """Why there is no cost: no price for the model, or no token estimate."""
    errors: list[PlanError]
    errors_total: int

    def table(self) -> str:
        """The plan as text lines for the task log: one row per part, a total row, then every problem collected."""
        header = ("part", "requests", "bytes", "input lines", "est. input tokens", "est. input cost (USD)")
        rows = [
            (
                str(part.index + 1),
                f"{part.requests:,}",
                f"{part.bytes:,}",
                f"{part.first_line}-{part.last_line}",
                _count(part.input_tokens),
                _usd(part.input_cost),
            )
            for part in self.parts
        ]
        rows.append(
            ("total", f"{self.requests:,}", f"{self.bytes:,}", "", _count(self.input_tokens), _usd(self.input_cost))
        )
        widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
        lines = [f"dry run: {self.provider} {self.model}, {len(self.parts)} job(s); nothing was uploaded or created"]
        lines += [
            "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) for row in (header, *rows)
        ]
        if self.cost_reason:
            lines.append(f"no cost estimate: {self.cost_reason}")
        if self.errors_total:
            kept = "" if self.errors_total == len(self.errors) else f" (the first {len(self.errors)} listed)"
            lines.append(f"{self.errors_total} problem(s) in the input{kept}:")
            lines += [f"  {error.describe()}" for error in self.errors]
        return "\n".join(lines)

    def failure(self) -> InputValidationError:
        """The error a dry run fails with when the input has problems: their count and the first few."""
        first = "; ".join(error.describe() for error in self.errors[:ERRORS_SHOWN])
        more = f"; and {self.errors_total - ERRORS_SHOWN} more" if self.errors_total > ERRORS_SHOWN else ""
        return InputValidationError(
            f"dry run: {self.errors_total} problem(s) in the input (the plan, with every one, is in XCom under "
            f"'dry_run_plan'): {first}{more}"
        )


def build_plan(
    provider: str,
    model: str,
    parts: Sequence[PreparedPart],
    errors: Iterable[InputValidationError],
    errors_total: int,
    prices: PriceTable,
) -> SubmitPlan:
    """The plan for ``parts`` of ``model`` at ``provider``, each part's input priced from ``prices``."""
    price, reason = prices.lookup(provider, model)
    planned = [
        PlanPart(
            index=part.index,
            requests=part.request_count,
            bytes=part.byte_count,
            first_line=part.first_line,
            last_line=part.last_line,
            input_tokens=part.input_tokens,
            input_cost=_input_cost(part.input_tokens, price),
        )
        for part in parts
    ]
    tokens = [part.input_tokens for part in planned]
    total_tokens = None if any(t is None for t in tokens) else sum(t for t in tokens if t is not None)
    costs = [part.input_cost for part in planned]
    total_cost = None if any(c is None for c in costs) else sum(c for c in costs if c is not None)
    if price is not None and total_tokens is None:
        reason = "no input token estimate"
    return SubmitPlan(
        provider=provider,
        model=model,
        parts=planned,
        requests=sum(part.requests for part in planned),
        bytes=sum(part.bytes for part in planned),
        input_tokens=total_tokens,
        input_cost=total_cost,
        input_price=price.input if price is not None else None,
        cost_reason=None if price is not None and total_tokens is not None else reason,
        errors=[PlanError(source=e.source, line=e.line, message=e.reason) for e in errors],
        errors_total=errors_total,
    )


def _input_cost(tokens: int | None, price: Price | None) -> float | None:
    """USD for ``tokens`` input tokens at ``price``'s input rate, unrounded (a part's cost may be a millionth)."""
    if tokens is None or price is None:
        return None
    return tokens * price.input / PER_TOKENS


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _usd(value: float | None) -> str:
    """Dollars to four decimals; an amount under that (a small test input) in scientific notation, not as 0."""
    if value is None:
        return "-"
    return f"{value:.2e}" if 0 < value < 0.0001 else f"{value:,.4f}"
