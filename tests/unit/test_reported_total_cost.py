"""The cost of a job whose provider reports its own token totals (Bedrock's ``manifest.json.out``, OpenAI's Batch
``usage``) without the breakdown its rows give: each expectation worked out by hand."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_genai_batch.formats.results import ResultRow, RowStatus, Usage
from airflow_provider_genai_batch.models import BatchJob, TokenUsage
from airflow_provider_genai_batch.prices import price_table, shipped_table
from airflow_provider_genai_batch.usage import UsageTally, bedrock_manifest_usage, usage_and_cost

BEDROCK_JOB = BatchJob(name="arn:job/1", provider="bedrock", model="us.anthropic.claude-sonnet-4-20250514-v1:0")
BEDROCK_PRICES = {"anthropic.claude-sonnet-4": {"input": 1.5, "output": 7.5, "cached_input": 0.15}}


def landed(provider: str, *bodies: dict[str, Any]) -> UsageTally:
    """The tally of rows answering with ``bodies``, each row's own usage read (the tally adds up the response's)."""
    tally = UsageTally(provider)
    rows = (ResultRow(key=f"r{i}", status=RowStatus.SUCCEEDED, response=b, usage=Usage()) for i, b in enumerate(bodies))
    list(tally.counted(rows))
    return tally


def test_a_bedrock_total_that_agrees_with_the_rows_prices_their_cache_reads_at_the_cached_rate() -> None:
    # Two InvokeModel records, 9,900 of their 20,000 prompt tokens read from the cache.
    tally = landed(
        "bedrock",
        {"usage": {"input_tokens": 100, "cache_read_input_tokens": 9_900, "output_tokens": 50}},
        {"usage": {"input_tokens": 10_000, "output_tokens": 50}},
    )
    reported = bedrock_manifest_usage({"successRecordCount": 2, "inputTokenCount": 20_000, "outputTokenCount": 100})
    usage, cost = usage_and_cost(BEDROCK_JOB, tally, price_table("bedrock", BEDROCK_PRICES), reported)
    # 10,100 fresh x 1.50 + 9,900 cached x 0.15 + 100 out x 7.50 = 15,150 + 1,485 + 750 micro-dollars.
    assert cost.amount == pytest.approx(0.017385)
    assert usage.total.cached_tokens == 9_900
    assert usage.parts[0].reported == TokenUsage(input_tokens=20_000, output_tokens=100, rows=2)


def test_a_bedrock_total_that_differs_from_the_rows_is_priced_as_reported() -> None:
    tally = landed("bedrock", {"usage": {"input_tokens": 100, "cache_read_input_tokens": 9_900, "output_tokens": 50}})
    reported = TokenUsage(input_tokens=12_000, output_tokens=60, rows=1)
    _, cost = usage_and_cost(BEDROCK_JOB, tally, price_table("bedrock", BEDROCK_PRICES), reported)
    assert cost.amount == pytest.approx(0.01845)  # 12,000 x 1.50 + 60 x 7.50


def test_an_openai_total_that_agrees_with_rows_holding_audio_leaves_the_cost_unpriced() -> None:
    usage = {
        "prompt_tokens": 500,
        "completion_tokens": 80,
        "prompt_tokens_details": {"audio_tokens": 400},
        "completion_tokens_details": {"audio_tokens": 60},
    }
    tally = landed("openai", {"model": "gpt-4o-mini", "usage": usage})
    job = BatchJob(name="batch_1", provider="openai", model="gpt-4o-mini")
    reported = TokenUsage(input_tokens=500, output_tokens=80, rows=1)  # the Batch usage has no audio counts
    _, cost = usage_and_cost(job, tally, shipped_table(), reported)
    assert cost.amount is None and cost.reason is not None and "460 audio tokens" in cost.reason


def test_an_openai_total_with_cache_reads_that_agrees_with_rows_holding_audio_still_leaves_the_cost_unpriced() -> None:
    details = {"cached_tokens": 64, "audio_tokens": 400}
    usage = {"prompt_tokens": 500, "completion_tokens": 80, "prompt_tokens_details": details}
    tally = landed("openai", {"model": "gpt-4o-mini", "usage": usage})
    job = BatchJob(name="batch_1", provider="openai", model="gpt-4o-mini")
    reported = TokenUsage(input_tokens=500, output_tokens=80, cached_tokens=64, rows=1)
    _, cost = usage_and_cost(job, tally, shipped_table(), reported)
    assert cost.amount is None and cost.reason is not None and "400 audio tokens" in cost.reason
