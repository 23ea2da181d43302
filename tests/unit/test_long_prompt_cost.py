"""Requests whose prompt exceeds 200,000 tokens, which some models bill at higher rates per request: the cost
of a landed job, each expectation worked out by hand from ``data/batch_prices.json``."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_genai_batch.formats.results import ResultRow, RowStatus, Usage
from airflow_provider_genai_batch.models import BatchJob, TokenUsage
from airflow_provider_genai_batch.prices import price_table, shipped_table
from airflow_provider_genai_batch.usage import UsageTally, usage_and_cost


def landed(provider: str, *usages: dict[str, Any]) -> UsageTally:
    """The tally of rows answering with ``usages``, each row's own usage read (the tally adds up the response's)."""
    tally = UsageTally(provider)
    rows = (
        ResultRow(key=f"r{index}", status=RowStatus.SUCCEEDED, response=usage, usage=Usage())
        for index, usage in enumerate(usages)
    )
    list(tally.counted(rows))
    return tally


def anthropic_message(model: str, **usage: Any) -> dict[str, Any]:
    return {"type": "message", "model": model, "content": [], "usage": usage}


def gemini_answer(prompt: int, candidates: int) -> dict[str, Any]:
    return {"candidates": [], "usageMetadata": {"promptTokenCount": prompt, "candidatesTokenCount": candidates}}


ANTHROPIC_BATCH = BatchJob(name="msgbatch_1", provider="anthropic", model=None)


def test_a_sonnet_request_over_200k_prompt_tokens_is_billed_at_the_long_context_rates_and_the_others_not() -> None:
    tally = landed(
        "anthropic",
        # 200,000 fresh + 50,000 read from the cache: 250,000 prompt tokens, over the threshold.
        anthropic_message(
            "claude-sonnet-4-5-20250929", input_tokens=200_000, cache_read_input_tokens=50_000, output_tokens=1_000
        ),
        anthropic_message("claude-sonnet-4-5-20250929", input_tokens=10_000, output_tokens=500),
    )
    usage, cost = usage_and_cost(ANTHROPIC_BATCH, tally, shipped_table())
    # Long request at the batch long-context rates (input 3.00, cache read 0.30, output 11.25 per million):
    # 200,000 x 3.00 + 50,000 x 0.30 + 1,000 x 11.25 = 626,250 micro-dollars.
    # Short request at the batch rates (input 1.50, output 7.50): 10,000 x 1.50 + 500 x 7.50 = 18,750.
    assert cost.amount == pytest.approx(0.645)
    assert usage.parts[0].cost is not None and usage.parts[0].cost.amount == pytest.approx(0.645)
    written = usage.total.model_dump(mode="json")
    assert {name: count for name, count in written.items() if name.startswith("over_200k")} == {
        "over_200k_rows": 1,
        "over_200k_input_tokens": 250_000,
        "over_200k_cached_tokens": 50_000,
        "over_200k_output_tokens": 1_000,
    }


def test_a_prompt_of_exactly_200k_tokens_is_billed_at_the_standard_rates() -> None:
    tally = landed("anthropic", anthropic_message("claude-sonnet-4-5", input_tokens=200_000, output_tokens=0))
    usage, cost = usage_and_cost(ANTHROPIC_BATCH, tally, shipped_table())
    assert cost.amount == pytest.approx(0.3)  # 200,000 x 1.50
    assert not [name for name in usage.total.model_dump(mode="json") if name.startswith("over_200k")]


def test_an_opus_4_6_long_prompt_with_cache_writes_is_billed_at_its_long_context_rates() -> None:
    tally = landed(
        "anthropic",
        anthropic_message(
            "claude-opus-4-6",
            input_tokens=100_000,
            cache_creation_input_tokens=150_000,
            cache_creation={"ephemeral_1h_input_tokens": 50_000},
            output_tokens=2_000,
        ),
    )
    _, cost = usage_and_cost(ANTHROPIC_BATCH, tally, shipped_table())
    # Batch long-context rates of Opus 4.6: input 5.00, 5-minute write 6.25, 1-hour write 10.00, output 18.75:
    # 100,000 x 5 + 100,000 x 6.25 + 50,000 x 10 + 2,000 x 18.75 = 1,662,500 micro-dollars.
    assert cost.amount == pytest.approx(1.6625)


def test_a_model_billing_every_prompt_alike_prices_a_long_prompt_at_its_one_rate() -> None:
    job = BatchJob(name="batches/1", provider="gemini", model="models/gemini-2.5-flash")
    _, cost = usage_and_cost(job, landed("gemini", gemini_answer(300_000, 1_000)), shipped_table())
    assert cost.amount == pytest.approx(0.04625)  # 300,000 x 0.15 + 1,000 x 1.25


def test_a_users_price_that_does_not_say_how_long_prompts_are_billed_leaves_them_unpriced() -> None:
    table = price_table("gemini", {"gemini-2.5-pro": {"input": 0.625, "output": 5.0}})
    job = BatchJob(name="batches/1", provider="gemini", model="models/gemini-2.5-pro")
    tally = landed("gemini", gemini_answer(300_000, 1_000), gemini_answer(1_000, 100))
    _, cost = usage_and_cost(job, tally, table)
    assert cost.amount is None
    assert cost.reason is not None
    assert "1 request(s) with a prompt over 200,000 tokens" in cost.reason
    assert "give its over_200k rates in batch_prices" in cost.reason


def test_a_users_price_still_prices_a_job_whose_prompts_are_all_200k_tokens_or_fewer() -> None:
    table = price_table("gemini", {"gemini-2.5-pro": {"input": 0.625, "output": 5.0}})
    job = BatchJob(name="batches/1", provider="gemini", model="models/gemini-2.5-pro")
    _, cost = usage_and_cost(job, landed("gemini", gemini_answer(200_000, 1_000)), table)
    assert cost.amount == pytest.approx(0.13)  # 200,000 x 0.625 + 1,000 x 5


def test_a_job_total_the_provider_reports_keeps_the_long_prompt_rows_its_own_rows_counted() -> None:
    table = price_table("bedrock", {"anthropic.claude-sonnet-4": {"input": 1.5, "output": 7.5}})
    tally = landed("bedrock", {"usage": {"input_tokens": 250_000, "output_tokens": 100}})
    job = BatchJob(name="arn:job/1", provider="bedrock", model="us.anthropic.claude-sonnet-4-20250514-v1:0")
    reported = TokenUsage(input_tokens=250_000, output_tokens=100, rows=1)  # manifest.json.out: no breakdown
    usage, cost = usage_and_cost(job, tally, table, reported)
    assert usage.total.over_200k_rows == 1
    assert cost.amount is None and cost.reason is not None and "over 200,000 tokens" in cost.reason


def test_a_users_price_with_long_prompt_rates_prices_those_requests_at_them() -> None:
    prices = {"gemini-2.5-pro": {"input": 0.625, "output": 5.0, "over_200k": {"input": 1.25, "output": 7.5}}}
    job = BatchJob(name="batches/1", provider="gemini", model="models/gemini-2.5-pro")
    tally = landed("gemini", gemini_answer(300_000, 1_000), gemini_answer(1_000, 100))
    _, cost = usage_and_cost(job, tally, price_table("gemini", prices))
    # 300,000 x 1.25 + 1,000 x 7.50 = 382,500; 1,000 x 0.625 + 100 x 5 = 1,125 micro-dollars.
    assert cost.amount == pytest.approx(0.383625)


def test_a_users_long_prompt_rates_are_refused_like_its_other_rates_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"batch_prices\['gemini-2.5-pro'\]: over_200k.input: .*0 or more"):
        price_table("gemini", {"gemini-2.5-pro": {"input": 1, "output": 5, "over_200k": {"input": -1, "output": 7}}})
