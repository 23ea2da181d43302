"""Token usage read from each provider's result rows and job totals, in one meaning for all of them."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_genai_batch.formats import anthropic, bedrock, gateway, gemini, openai, vertex
from airflow_provider_genai_batch.formats.results import ResultRow, RowStatus
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.models import BatchJob, PartUsage, ResultsManifest, TokenUsage, UsageSummary
from airflow_provider_genai_batch.prices import price_table, shipped_table
from airflow_provider_genai_batch.usage import (
    UsageTally,
    bedrock_manifest_usage,
    openai_batch_usage,
    part_usage,
    priced_parts,
    reported_usage,
    running_cost,
    summarise,
    summary_line,
    unreadable_line,
    usage_and_cost,
)


def tallied(provider: str, *rows: ResultRow) -> UsageTally:
    tally = UsageTally(provider)
    list(tally.counted(rows))
    return tally


def counts(tally: UsageTally) -> tuple[int, int, int, int, int, int]:
    usage = tally.usage()
    return (
        usage.input_tokens,
        usage.output_tokens,
        usage.cached_tokens,
        usage.cache_write_tokens,
        usage.thinking_tokens,
        usage.rows,
    )


# --- Gemini and Vertex ----------------------------------------------------------------------------------

GEMINI_CAPTURED = {
    "response": {
        "candidates": [
            {"content": {"parts": [{"text": "…"}], "role": "model"}, "finishReason": "STOP", "index": 0},
        ],
        "usageMetadata": {"promptTokenCount": 1427, "candidatesTokenCount": 144, "totalTokenCount": 1571},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "abc",
    },
    "key": "00_COM.png",
}


def test_a_gemini_line_counts_its_prompt_as_input_and_its_candidates_as_output() -> None:
    tally = tallied("gemini", gemini.result_row(GEMINI_CAPTURED))
    assert counts(tally) == (1427, 144, 0, 0, 0, 1)


def test_gemini_thoughts_are_output_and_cached_content_stays_inside_the_prompt() -> None:
    meta = {
        "promptTokenCount": 1200,
        "cachedContentTokenCount": 1024,
        "candidatesTokenCount": 40,
        "thoughtsTokenCount": 300,
        "toolUsePromptTokenCount": 16,
        "totalTokenCount": 1556,
    }
    row = gemini.result_row({"key": "a", "response": {"candidates": [], "usageMetadata": meta}})
    assert counts(tallied("gemini", row)) == (1216, 340, 1024, 0, 300, 1)


def gemini_audio_row(prompt_audio: int, answer_audio: int = 0) -> ResultRow:
    meta = {
        "promptTokenCount": 100 + prompt_audio,
        "candidatesTokenCount": 50 + answer_audio,
        "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": 100},
            {"modality": "AUDIO", "tokenCount": prompt_audio},
        ],
        "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 50}]
        + ([{"modality": "AUDIO", "tokenCount": answer_audio}] if answer_audio else []),
    }
    return gemini.result_row({"key": "a", "response": {"candidates": [], "usageMetadata": meta}})


def test_gemini_audio_tokens_of_the_prompt_and_the_answer_are_counted_apart_inside_input_and_output() -> None:
    tally = tallied("gemini", gemini_audio_row(3200, 40), gemini_audio_row(800))
    assert counts(tally) == (4200, 140, 0, 0, 0, 2)
    assert tally.usage().audio_tokens == 4040


def test_a_gemini_job_with_audio_input_has_no_cost_rather_than_its_text_price() -> None:
    job = BatchJob(name="batches/1", provider="gemini", model="models/gemini-2.5-flash")
    _, cost = usage_and_cost(job, tallied("gemini", gemini_audio_row(3200)), shipped_table())
    assert cost.amount is None
    assert cost.reason == (
        "batches/1: 3200 audio tokens, which gemini bills at rates of their own; the price of gemini-2.5-flash here "
        "is for text"
    )


def test_a_gemini_line_with_only_text_details_is_priced_and_written_as_before() -> None:
    job = BatchJob(name="batches/1", provider="gemini", model="models/gemini-2.5-flash")
    usage, cost = usage_and_cost(job, tallied("gemini", gemini_audio_row(0)), shipped_table())
    assert cost.amount == pytest.approx((100 * 0.15 + 50 * 1.25) / 1_000_000, abs=1e-6)
    assert "audio_tokens" not in usage.model_dump_json()


def test_a_gemini_audio_count_that_is_not_a_count_makes_the_usage_unreadable() -> None:
    row = gemini_audio_row(5)
    assert row.response is not None
    row.response["usageMetadata"]["promptTokensDetails"][1]["tokenCount"] = "5"
    tally = tallied("gemini", row)
    assert (tally.unreadable, tally.usage().input_tokens) == (1, 0)


def test_a_gemini_embedding_counts_its_prompt_tokens() -> None:
    line = {"response": {"embedding": {"values": [0.5]}, "usageMetadata": {"promptTokenCount": 81}}, "key": "e"}
    assert counts(tallied("gemini", gemini.result_row(line))) == (81, 0, 0, 0, 0, 1)


def test_a_gemini_batch_embedding_counts_its_token_count_written_as_an_int64_string() -> None:
    line = {"key": "e", "response": {"embedding": {"values": [0.5]}, "tokenCount": "81"}}
    row = gemini.result_row(line)
    assert (row.usage.input_tokens, row.usage.output_tokens, row.usage.total_tokens) == (81, None, 81)
    assert counts(tallied("gemini", row)) == (81, 0, 0, 0, 0, 1)


def test_a_gemini_batch_embedding_whose_token_count_is_not_a_count_is_unreadable() -> None:
    row = gemini.result_row({"key": "e", "response": {"embedding": {"values": [0.5]}, "tokenCount": "-3"}})
    assert row.status is RowStatus.SUCCEEDED and row.usage is None
    tally = tallied("gemini", row)
    assert counts(tally) == (0, 0, 0, 0, 0, 0)
    assert tally.unreadable == 1


def test_a_failed_gemini_line_counts_nothing() -> None:
    row = gemini.result_row({"key": "a", "error": {"code": 3, "message": "bad", "status": "INVALID_ARGUMENT"}})
    assert counts(tallied("gemini", row)) == (0, 0, 0, 0, 0, 0)


def test_a_blocked_gemini_prompt_counts_the_prompt_tokens_it_was_billed_for() -> None:
    response = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 40}}
    row = gemini.result_row({"key": "k", "response": response})
    assert counts(tallied("gemini", row)) == (40, 0, 0, 0, 0, 1)


def test_a_vertex_generation_line_counts_like_gemini() -> None:
    line = {
        "key": "v",
        "response": {"candidates": [], "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}},
    }
    assert counts(tallied("vertex", vertex.result_row(line))) == (3, 1, 0, 0, 0, 1)


def test_a_vertex_text_embedding_counts_the_statistics_token_count() -> None:
    line = {
        "instance": {"content": "hello there", "key": "t1"},
        "predictions": [{"embeddings": {"values": [0.1, 0.2], "statistics": {"token_count": 2.0, "truncated": False}}}],
    }
    assert counts(tallied("vertex", vertex.result_row(line))) == (2, 0, 0, 0, 0, 1)


# --- OpenAI ---------------------------------------------------------------------------------------------


def openai_line(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "batch_req_1",
        "custom_id": "k1",
        "response": {"status_code": 200, "request_id": "req_1", "body": body},
        "error": None,
    }


CHAT_USAGE = {
    "prompt_tokens": 2006,
    "completion_tokens": 300,
    "total_tokens": 2306,
    "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 192,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}


def test_an_openai_chat_line_keeps_cached_inside_prompt_and_reasoning_inside_completion() -> None:
    body = {"object": "chat.completion", "choices": [], "usage": CHAT_USAGE}
    assert counts(tallied("openai", openai.result_row(openai_line(body)))) == (2006, 300, 1920, 0, 192, 1)


def test_openai_audio_tokens_of_the_prompt_and_the_completion_are_counted_apart_and_leave_the_cost_unpriced() -> None:
    usage = {
        "prompt_tokens": 500,
        "completion_tokens": 80,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 400},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 60},
    }
    body = {"object": "chat.completion", "model": "gpt-4o-mini", "choices": [], "usage": usage}
    tally = tallied("openai", openai.result_row(openai_line(body)))
    job = BatchJob(name="batch_1", provider="openai", model="gpt-4o-mini")
    _, cost = usage_and_cost(job, tally, shipped_table())
    assert tally.usage().audio_tokens == 460
    assert cost.amount is None and cost.reason is not None and "460 audio tokens" in cost.reason


def test_an_openai_responses_line_reads_the_input_and_output_names() -> None:
    usage = {
        "input_tokens": 36,
        "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 8},
        "output_tokens": 50,
        "output_tokens_details": {"reasoning_tokens": 20},
        "total_tokens": 86,
    }
    body = {"object": "response", "output": [], "usage": usage}
    assert counts(tallied("openai", openai.result_row(openai_line(body)))) == (36, 50, 4, 8, 20, 1)


def test_an_openai_embeddings_line_counts_only_input() -> None:
    body = {"object": "list", "data": [], "usage": {"prompt_tokens": 8, "total_tokens": 8}}
    assert counts(tallied("openai", openai.result_row(openai_line(body)))) == (8, 0, 0, 0, 0, 1)


def test_an_openai_error_file_line_counts_nothing() -> None:
    line = {"id": "r", "custom_id": "k", "response": None, "error": {"code": "batch_expired", "message": "late"}}
    assert counts(tallied("openai", openai.result_row(line))) == (0, 0, 0, 0, 0, 0)


def test_the_openai_batch_object_usage_is_the_jobs_own_total() -> None:
    batch = {
        "id": "batch_1",
        "object": "batch",
        "request_counts": {"total": 3, "completed": 3, "failed": 0},
        "usage": {
            "input_tokens": 36,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 60,
            "output_tokens_details": {"reasoning_tokens": 12},
            "total_tokens": 96,
        },
    }
    assert openai_batch_usage(batch) == TokenUsage(input_tokens=36, output_tokens=60, thinking_tokens=12, rows=3)


def test_an_openai_batch_created_before_usage_existed_reports_none() -> None:
    assert openai_batch_usage({"id": "batch_1", "object": "batch", "usage": None}) is None


# --- Anthropic and Bedrock ------------------------------------------------------------------------------

ANTHROPIC_USAGE = {
    "input_tokens": 50,
    "cache_creation_input_tokens": 1000,
    "cache_read_input_tokens": 2000,
    "output_tokens": 300,
    "output_tokens_details": {"thinking_tokens": 120},
    "service_tier": "batch",
}


def test_anthropic_input_gets_the_cache_reads_and_writes_its_input_tokens_leave_out() -> None:
    message = {"type": "message", "role": "assistant", "content": [], "usage": ANTHROPIC_USAGE}
    line = {"custom_id": "a", "result": {"type": "succeeded", "message": message}}
    assert counts(tallied("anthropic", anthropic.result_row(line))) == (3050, 300, 2000, 1000, 120, 1)


def test_anthropic_cache_writes_kept_an_hour_are_counted_apart() -> None:
    usage = {
        **ANTHROPIC_USAGE,
        "cache_creation": {"ephemeral_5m_input_tokens": 400, "ephemeral_1h_input_tokens": 600},
    }
    message = {"type": "message", "role": "assistant", "content": [], "usage": usage}
    line = {"custom_id": "a", "result": {"type": "succeeded", "message": message}}
    tally = tallied("anthropic", anthropic.result_row(line))
    assert counts(tally) == (3050, 300, 2000, 1000, 120, 1)
    assert tally.usage().cache_write_1h_tokens == 600


def anthropic_row(usage: dict[str, Any]) -> ResultRow:
    message = {"type": "message", "role": "assistant", "content": [], "usage": usage}
    return anthropic.result_row({"custom_id": "a", "result": {"type": "succeeded", "message": message}})


def test_anthropic_one_hour_cache_writes_are_priced_at_twice_the_input_price() -> None:
    usage = {"input_tokens": 0, "cache_creation_input_tokens": 100_000, "output_tokens": 0}
    hour = {**usage, "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 100_000}}
    job = BatchJob(name="msgbatch_1", provider="anthropic", model="claude-sonnet-4-5")
    priced = [
        usage_and_cost(
            job,
            tallied("anthropic", anthropic_row(body)),
            shipped_table(),
        )[1].amount
        for body in (usage, hour)
    ]
    assert priced == [pytest.approx(0.1 * 1.25 * 1.5), pytest.approx(0.1 * 2 * 1.5)]


def test_one_hour_cache_writes_larger_than_all_cache_writes_make_the_usage_unreadable() -> None:
    usage = {"input_tokens": 1, "cache_creation_input_tokens": 5, "cache_creation": {"ephemeral_1h_input_tokens": 9}}
    tally = tallied("anthropic", ResultRow(key="a", status=RowStatus.SUCCEEDED, response={"usage": usage}))
    assert (counts(tally), tally.unreadable) == ((0, 0, 0, 0, 0, 0), 1)


def test_a_bedrock_invoke_model_record_counts_the_anthropic_one_hour_cache_writes() -> None:
    output = {
        "type": "message",
        "content": [{"type": "text", "text": "x"}],
        "usage": {
            "input_tokens": 2,
            "cache_creation_input_tokens": 30,
            "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20},
            "output_tokens": 4,
        },
    }
    row = bedrock.result_row({"recordId": "R1", "modelInput": {}, "modelOutput": output})
    tally = tallied("bedrock", row)
    assert (counts(tally), tally.usage().cache_write_1h_tokens) == ((32, 4, 0, 30, 0, 1), 20)


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ({"inputTextTokenCount": 12, "results": [{"tokenCount": 7, "outputText": "x"}]}, (12, 7, 0, 0, 0, 1)),
        ({"embedding": [0.5], "inputTextTokenCount": 6}, (6, 0, 0, 0, 0, 1)),
        ({"generation": "x", "prompt_token_count": 21, "generation_token_count": 4}, (21, 4, 0, 0, 0, 1)),
        ({"outputs": [{"text": "x"}]}, (0, 0, 0, 0, 0, 0)),
        (
            {
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 20, "completion_tokens": 12, "total_tokens": 32},
            },
            (20, 12, 0, 0, 0, 1),
        ),
        (
            {
                "text": "x",
                "finish_reason": "COMPLETE",
                "meta": {"billed_units": {"input_tokens": 7, "output_tokens": 8}},
            },
            (7, 8, 0, 0, 0, 1),
        ),
        ({"choices": [{"text": "x", "stop_reason": "stop"}]}, (0, 0, 0, 0, 0, 0)),
    ],
    ids=["titan-text", "titan-embeddings", "llama", "mistral", "chat-completion", "cohere-command-r", "deepseek-r1"],
)
def test_a_bedrock_invoke_model_body_of_another_model_counts_its_own_tokens(
    output: dict[str, Any], expected: tuple[int, ...]
) -> None:
    row = bedrock.result_row({"recordId": "R1", "modelInput": {}, "modelOutput": output})
    assert counts(tallied("bedrock", row)) == expected


def test_a_nova_invoke_model_body_adds_its_cache_counts_to_the_input() -> None:
    output = {
        "output": {"message": {"role": "assistant", "content": [{"text": "x"}]}},
        "usage": {
            "inputTokens": 5,
            "outputTokens": 3,
            "cacheReadInputTokenCount": 1000,
            "cacheWriteInputTokenCount": 500,
        },
    }
    row = bedrock.result_row({"recordId": "R1", "modelInput": {}, "modelOutput": output})
    assert counts(tallied("bedrock", row)) == (1505, 3, 1000, 500, 0, 1)


def test_usage_without_one_hour_cache_writes_is_written_as_before() -> None:
    assert "cache_write_1h_tokens" not in TokenUsage(input_tokens=3, cache_write_tokens=2).model_dump_json()


def test_an_expired_anthropic_result_counts_nothing() -> None:
    line = {"custom_id": "a", "result": {"type": "expired"}}
    assert counts(tallied("anthropic", anthropic.result_row(line))) == (0, 0, 0, 0, 0, 0)


def test_a_bedrock_converse_record_adds_its_cache_reads_to_the_input() -> None:
    output = {
        "output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 4, "outputTokens": 60, "totalTokens": 1096, "cacheReadInputTokens": 1032},
    }
    row = bedrock.result_row({"recordId": "R1", "modelInput": {}, "modelOutput": output})
    assert counts(tallied("bedrock", row)) == (1036, 60, 1032, 0, 0, 1)


def converse_record(usage: dict[str, Any]) -> ResultRow:
    output = {"output": {"message": {"role": "assistant", "content": []}}, "stopReason": "end_turn", "usage": usage}
    return bedrock.result_row({"recordId": "R1", "modelInput": {}, "modelOutput": output})


CONVERSE_HOUR_WRITES = {
    "inputTokens": 40,
    "outputTokens": 100,
    "cacheWriteInputTokens": 3_000,
    "cacheDetails": [{"ttl": "1h", "inputTokens": 2_000}, {"ttl": "5m", "inputTokens": 1_000}],
}


def test_a_bedrock_converse_record_counts_its_cache_writes_kept_an_hour_apart() -> None:
    tally = tallied("bedrock", converse_record(CONVERSE_HOUR_WRITES))
    assert counts(tally) == (3_040, 100, 0, 3_000, 0, 1)
    assert tally.usage().cache_write_1h_tokens == 2_000


def test_a_bedrock_converse_records_one_hour_cache_writes_are_priced_at_the_one_hour_rate() -> None:
    prices = {"anthropic.claude-sonnet-4": {"input": 1.5, "output": 7.5, "cache_write": 1.875, "cache_write_1h": 3.0}}
    job = BatchJob(name="arn:job/1", provider="bedrock", model="us.anthropic.claude-sonnet-4-20250514-v1:0")
    _, cost = usage_and_cost(
        job, tallied("bedrock", converse_record(CONVERSE_HOUR_WRITES)), price_table("bedrock", prices)
    )
    # 40 x 1.50 + 1,000 x 1.875 + 2,000 x 3.00 + 100 x 7.50 = 60 + 1,875 + 6,000 + 750 micro-dollars.
    assert cost.amount == pytest.approx(0.008685)


@pytest.mark.parametrize(
    "details",
    [
        [{"ttl": "1h", "inputTokens": 3_001}],  # more than all the cache writes
        [{"ttl": "1h", "inputTokens": "2000"}],
        [{"ttl": "1h", "inputTokens": -1}],
        [{"inputTokens": 2_000}, "1h"],
    ],
)
def test_a_bedrock_converse_one_hour_cache_write_count_that_cannot_be_read_makes_the_usage_unreadable(
    details: list[dict[str, Any]],
) -> None:
    tally = tallied("bedrock", converse_record({**CONVERSE_HOUR_WRITES, "cacheDetails": details}))
    assert (counts(tally), tally.unreadable) == ((0, 0, 0, 0, 0, 0), 1)


def test_a_bedrock_invoke_model_record_reads_the_anthropic_usage() -> None:
    output = {
        "type": "message",
        "content": [{"type": "text", "text": "x"}],
        "usage": {"input_tokens": 2, "output_tokens": 4},
    }
    row = bedrock.result_row({"recordId": "R1", "modelInput": {}, "modelOutput": output})
    assert counts(tallied("bedrock", row)) == (2, 4, 0, 0, 0, 1)


def test_the_bedrock_manifest_gives_the_jobs_own_totals() -> None:
    manifest = {
        "totalRecordCount": 120,
        "processedRecordCount": 120,
        "successRecordCount": 119,
        "errorRecordCount": 1,
        "inputTokenCount": 238,
        "outputTokenCount": 476,
    }
    assert bedrock_manifest_usage(manifest) == TokenUsage(input_tokens=238, output_tokens=476, rows=119)


def test_a_bedrock_manifest_without_token_counts_reports_none() -> None:
    assert bedrock_manifest_usage({"totalRecordCount": 120, "successRecordCount": 120}) is None


# --- the gateway ----------------------------------------------------------------------------------------


def test_a_gateway_gemini_result_reads_the_flattened_usage() -> None:
    item = {
        "custom_id": "g1",
        "response": {"status_code": 200, "body": {"text": "hi", "usage": {"prompt_tokens": 5, "completion_tokens": 7}}},
    }
    assert counts(tallied("gateway", gateway.result_row(item, "gemini"))) == (5, 7, 0, 0, 0, 1)


def gateway_gemini_row(usage: dict[str, Any]) -> ResultRow:
    item = {"custom_id": "g1", "response": {"status_code": 200, "body": {"text": "hi", "usage": usage}}}
    return gateway.result_row(item, "gemini")


def test_a_gateway_gemini_result_counts_the_thoughts_its_total_holds_beyond_prompt_and_completion() -> None:
    # The gateway flattens usageMetadata: completion = candidatesTokenCount, total = totalTokenCount (thoughts in).
    row = gateway_gemini_row({"prompt_tokens": 1_000, "completion_tokens": 200, "total_tokens": 1_900})
    assert counts(tallied("gateway", row)) == (1_000, 900, 0, 0, 700, 1)


def test_a_gateway_gemini_results_thoughts_are_priced_as_output() -> None:
    row = gateway_gemini_row({"prompt_tokens": 1_000, "completion_tokens": 200, "total_tokens": 1_900})
    job = BatchJob(name="batch_1", provider="gateway", model=None)
    _, cost = usage_and_cost(job, tallied("gateway", row), shipped_table(), submitted="gemini-2.5-flash")
    assert cost.amount == pytest.approx(0.001275)  # (1,000 x 0.15 + 900 x 1.25) / 1,000,000


@pytest.mark.parametrize("total", ["1900", -1, 1.5])
def test_a_gateway_total_that_is_not_a_count_makes_the_usage_unreadable(total: object) -> None:
    tally = tallied("gateway", gateway_gemini_row({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": total}))
    assert (counts(tally), tally.unreadable) == ((0, 0, 0, 0, 0, 0), 1)


def test_a_gateway_openai_result_reads_the_openai_usage() -> None:
    body = {"object": "chat.completion", "choices": [], "usage": CHAT_USAGE}
    assert counts(tallied("gateway", gateway.result_row(openai_line(body), "openai"))) == (2006, 300, 1920, 0, 192, 1)


def test_a_gateway_anthropic_result_reads_the_anthropic_usage() -> None:
    message = {"type": "message", "content": [], "usage": ANTHROPIC_USAGE}
    item = {"custom_id": "a", "result": {"type": "succeeded", "message": message}}
    assert counts(tallied("gateway", gateway.result_row(item, "anthropic"))) == (3050, 300, 2000, 1000, 120, 1)


# --- the tally ------------------------------------------------------------------------------------------


def test_rows_add_up() -> None:
    first = gemini.result_row(GEMINI_CAPTURED)
    assert counts(tallied("gemini", first, first, first)) == (3 * 1427, 3 * 144, 0, 0, 0, 3)


def test_a_count_that_is_not_a_number_is_set_aside_without_adding_anything() -> None:
    meta = {"promptTokenCount": 10, "candidatesTokenCount": "many"}
    row = gemini.result_row({"key": "a", "response": {"candidates": [], "usageMetadata": meta}})
    tally = tallied("gemini", row, gemini.result_row(GEMINI_CAPTURED))
    assert counts(tally) == (1427, 144, 0, 0, 0, 1)
    assert tally.unreadable == 1


def gemini_row(key: str, **meta: Any) -> ResultRow:
    return gemini.result_row({"key": key, "response": {"candidates": [], "usageMetadata": meta}})


def test_a_negative_count_makes_the_rows_usage_unreadable_instead_of_subtracting_it() -> None:
    tally = tallied(
        "gemini",
        gemini_row("a", promptTokenCount=100, toolUsePromptTokenCount=-90),
        gemini_row("b", promptTokenCount=7),
    )
    assert counts(tally) == (7, 0, 0, 0, 0, 1)
    assert (tally.unreadable, tally.unreadable_key) == (1, "a")


def test_a_negative_anthropic_input_beside_cache_reads_makes_the_row_unreadable() -> None:
    usage = {"input_tokens": -50, "cache_read_input_tokens": 100, "output_tokens": 3}
    row = ResultRow(key="a", status=RowStatus.SUCCEEDED, text="ok", response={"content": [], "usage": usage})
    tally = tallied("anthropic", row)
    assert counts(tally) == (0, 0, 0, 0, 0, 0)
    assert tally.unreadable == 1


def test_float_counts_too_large_for_an_integer_leave_the_totals_readable() -> None:
    rows = [gemini_row(key, promptTokenCount=1e308) for key in ("a", "b")]
    tally = tallied("gemini", *rows, gemini_row("c", promptTokenCount=5))
    assert tally.usage() == TokenUsage(input_tokens=5, rows=1)
    assert tally.unreadable == 2


def test_a_fractional_count_makes_the_rows_usage_unreadable() -> None:
    tally = tallied(
        "openai", ResultRow(key="a", status=RowStatus.SUCCEEDED, response={"usage": {"prompt_tokens": 2.5}})
    )
    assert (counts(tally), tally.unreadable) == ((0, 0, 0, 0, 0, 0), 1)


def test_an_integer_count_too_large_to_price_makes_the_rows_usage_unreadable() -> None:
    job = BatchJob(name="batches/1", provider="gemini", model="gemini-2.5-flash")
    tally = tallied("gemini", gemini_row("a", promptTokenCount=10**400), gemini_row("b", promptTokenCount=2**53 - 1))
    usage, cost = usage_and_cost(job, tally, shipped_table())
    assert usage.total.input_tokens == 2**53 - 1
    assert cost.amount is not None
    assert usage.unreadable_rows == 1


def test_the_summary_names_how_many_rows_were_unreadable_and_the_first_key() -> None:
    job = BatchJob(name="batches/1", provider="gemini", model="gemini-2.5-flash")
    tally = tallied(
        "gemini",
        gemini_row("ok", promptTokenCount=1),
        gemini_row("x", promptTokenCount="12"),
        gemini_row("y", promptTokenCount=-1),
    )
    usage, _ = usage_and_cost(job, tally, shipped_table())
    assert (usage.unreadable_rows, usage.unreadable_key) == (2, "x")
    assert (usage.parts[0].unreadable_rows, usage.parts[0].unreadable_key) == (2, "x")
    assert "the usage of 2 result row(s) could not be read" in (unreadable_line(usage) or "")
    assert "the first: key 'x'" in (unreadable_line(usage) or "")


def test_a_summary_without_unreadable_rows_is_written_as_before() -> None:
    job = BatchJob(name="batches/1", provider="gemini", model="gemini-2.5-flash")
    usage, _ = usage_and_cost(job, tallied("gemini", gemini_row("ok", promptTokenCount=1)), shipped_table())
    assert "unreadable" not in usage.model_dump_json()
    assert unreadable_line(usage) is None


def test_a_usage_summary_written_before_unreadable_rows_were_counted_still_loads() -> None:
    earlier = {
        "total": {"input_tokens": 3, "rows": 1},
        "parts": [{"job_name": "batches/1", "from_rows": {"input_tokens": 3}}],
    }
    usage = UsageSummary.model_validate(earlier)
    assert (usage.unreadable_rows, usage.parts[0].unreadable_rows, usage.unreadable_key) == (0, 0, None)


def test_an_openai_batch_total_with_a_count_that_cannot_be_read_is_not_reported() -> None:
    assert openai_batch_usage({"id": "batch_1", "usage": {"input_tokens": -4, "output_tokens": 2}}) is None


def test_counted_passes_every_row_on_as_it_came() -> None:
    rows = [gemini.result_row(GEMINI_CAPTURED), gemini.result_row({"key": "b", "error": {"message": "no"}})]
    assert list(UsageTally("gemini").counted(iter(rows))) == rows


def test_counted_stores_the_sums_once_the_rows_end() -> None:
    tally = UsageTally("gemini")
    stream = tally.counted([gemini.result_row(GEMINI_CAPTURED)])
    next(stream)
    assert counts(tally) == (0, 0, 0, 0, 0, 0)
    assert next(stream, None) is None
    assert counts(tally) == (1427, 144, 0, 0, 0, 1)


def test_counted_streams_one_after_another_add_to_the_same_sums() -> None:
    tally = tallied("gemini", gemini.result_row(GEMINI_CAPTURED))
    list(tally.counted([gemini.result_row(GEMINI_CAPTURED)]))
    assert counts(tally) == (2 * 1427, 2 * 144, 0, 0, 0, 2)


def test_a_closed_stream_keeps_the_sums_of_the_rows_it_passed() -> None:
    tally = UsageTally("gemini")
    stream = tally.counted([gemini.result_row(GEMINI_CAPTURED)] * 3)
    next(stream)
    next(stream)
    stream.close()
    assert counts(tally) == (2 * 1427, 2 * 144, 0, 0, 0, 2)


def test_an_unknown_provider_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'mistral'"):
        UsageTally("mistral")


# --- parts and totals -----------------------------------------------------------------------------------


def openai_job(raw: dict[str, Any]) -> BatchJob:
    return BatchJob(name="batch_1", provider="openai", model="gpt-4o-mini", raw=raw)


def test_a_part_takes_the_openai_batch_usage_as_reported() -> None:
    raw = {"usage": {"input_tokens": 7, "output_tokens": 9}, "request_counts": {"completed": 2}}
    tally = tallied("openai", openai.result_row(openai_line({"usage": {"prompt_tokens": 7, "completion_tokens": 9}})))
    part = part_usage(openai_job(raw), tally)
    assert part.reported == TokenUsage(input_tokens=7, output_tokens=9, rows=2)
    assert part.from_rows == TokenUsage(input_tokens=7, output_tokens=9, rows=1)


def test_a_job_whose_status_has_no_totals_reports_none() -> None:
    assert reported_usage(BatchJob(name="batches/1", provider="gemini")) is None


def test_the_total_is_the_sum_of_each_parts_counted_figure() -> None:
    reported = PartUsage(
        job_name="a",
        from_rows=TokenUsage(input_tokens=1),
        reported=TokenUsage(input_tokens=10, output_tokens=2, rows=1),
    )
    from_rows = PartUsage(job_name="b", from_rows=TokenUsage(input_tokens=5, cached_tokens=3, rows=2))
    summary = summarise([reported, from_rows])
    assert summary.total == TokenUsage(input_tokens=15, output_tokens=2, cached_tokens=3, rows=3)
    assert [part.job_name for part in summary.parts] == ["a", "b"]


def test_a_manifest_written_before_usage_was_counted_still_parses() -> None:
    ref = BatchJobRef(provider="openai", conn_id="c", job_name="batch_1")
    old = {
        "job_ref": ref.to_xcom(),
        "state": "JOB_STATE_SUCCEEDED",
        "counts": {"total": 1, "succeeded": 1},
        "results_uri": "file:///r/results.jsonl",
        "manifest_uri": "file:///r/manifest.json",
        "written_at": datetime(2026, 1, 1, tzinfo=timezone.utc).isoformat(),
    }
    manifest = ResultsManifest.model_validate(old)
    assert manifest.usage is None and manifest.cost is None


def test_a_landed_job_gets_its_usage_and_its_cost_in_one_part() -> None:
    row = openai.result_row(openai_line({"usage": {"prompt_tokens": 100_000, "completion_tokens": 100_000}}))
    usage, cost = usage_and_cost(openai_job({}), tallied("openai", row), shipped_table())
    assert usage.total == TokenUsage(input_tokens=100_000, output_tokens=100_000, rows=1)
    assert [part.job_name for part in usage.parts] == ["batch_1"]
    assert cost.amount == pytest.approx(0.0375)


def test_an_anthropic_batch_which_names_no_model_is_priced_at_the_model_its_messages_name() -> None:
    batch = {
        "id": "msgbatch_01",
        "type": "message_batch",
        "processing_status": "ended",
        "request_counts": {"processing": 0, "succeeded": 1, "errored": 0, "canceled": 0, "expired": 0},
        "created_at": "2026-11-30T10:00:00Z",
        "ended_at": "2026-11-30T11:00:00Z",
        "results_url": "https://api.anthropic.com/v1/messages/batches/msgbatch_01/results",
    }
    job = anthropic.parse_batch(batch)
    usage = {"input_tokens": 100_000, "output_tokens": 100_000}
    message = {"type": "message", "model": "claude-sonnet-4-5-20250929", "content": [], "usage": usage}
    row = anthropic.result_row({"custom_id": "a", "result": {"type": "succeeded", "message": message}})

    summary, cost = usage_and_cost(job, tallied("anthropic", row), shipped_table())

    assert job.model is None
    assert summary.parts[0].model == "claude-sonnet-4-5-20250929"
    assert (cost.price.model, cost.amount) == ("claude-sonnet-4-5", pytest.approx(0.15 + 0.75))


def test_a_job_that_names_its_model_is_priced_at_it_whatever_its_rows_name() -> None:
    body = {"model": "gpt-4o-2024-08-06", "usage": {"prompt_tokens": 1_000_000, "completion_tokens": 0}}
    tally = tallied("openai", openai.result_row(openai_line(body)))

    summary, cost = usage_and_cost(openai_job({}), tally, shipped_table())

    assert (summary.parts[0].model, cost.price.model) == ("gpt-4o-mini", "gpt-4o-mini")


def test_the_running_cost_is_shown_where_the_job_reports_its_tokens() -> None:
    job = openai_job({"usage": {"input_tokens": 2_000_000, "output_tokens": 0}})
    assert running_cost(job, shipped_table()) == "tokens so far: 2000000 in, 0 out (est. $0.1500)"
    assert running_cost(openai_job({}), shipped_table()) is None


def test_a_manifest_with_usage_and_cost_round_trips_through_json() -> None:
    row = openai.result_row(openai_line({"usage": CHAT_USAGE}))
    usage, cost = usage_and_cost(openai_job({}), tallied("openai", row), shipped_table())
    manifest = ResultsManifest(
        job_ref=BatchJobRef(provider="openai", conn_id="c", job_name="batch_1"),
        state="JOB_STATE_SUCCEEDED",
        counts={"total": 1, "succeeded": 1},
        results_uri="file:///r/results.jsonl",
        manifest_uri="file:///r/manifest.json",
        written_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
        usage=usage,
        cost=cost,
    )
    assert ResultsManifest.model_validate_json(manifest.model_dump_json()) == manifest
    dumped = manifest.model_dump(mode="json")
    assert dumped["usage"]["total"]["cached_tokens"] == 1920
    assert dumped["cost"]["price"]["model"] == "gpt-4o-mini"


def group_manifest(parts: list[PartUsage]) -> ResultsManifest:
    """A landed group's manifest whose usage is ``parts``, each priced with the shipped table."""
    usage, cost = priced_parts(parts, "openai", shipped_table())
    return ResultsManifest(
        job_ref=BatchJobRef(provider="openai", conn_id="c", job_name="group"),
        state="JOB_STATE_SUCCEEDED",
        counts={"total": len(parts), "succeeded": len(parts)},
        results_uri="file:///r/results.jsonl",
        manifest_uri="file:///r/manifest.json",
        written_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
        usage=usage,
        cost=cost,
    )


def test_a_thousand_part_manifest_writes_the_price_the_parts_share_once_and_reads_it_back_for_each() -> None:
    usage = TokenUsage(input_tokens=1000, output_tokens=100, rows=10)
    manifest = group_manifest(
        [PartUsage(job_name=f"batch_{index}", model="gpt-4o-mini", from_rows=usage) for index in range(1000)]
    )

    written = manifest.model_dump_json()

    assert manifest.cost is not None and manifest.cost.price is not None
    assert written.count(manifest.cost.price.source) == 1
    assert all("price" not in part["cost"] for part in json.loads(written)["usage"]["parts"])
    assert json.loads(written)["cost"]["price"]["model"] == "gpt-4o-mini"
    assert ResultsManifest.model_validate_json(written) == manifest


def test_a_part_priced_otherwise_than_the_total_keeps_its_own_price_and_a_part_without_one_keeps_none() -> None:
    parts = [
        PartUsage(job_name="mini", model="gpt-4o-mini", from_rows=TokenUsage(input_tokens=10, rows=1)),
        PartUsage(job_name="full", model="gpt-4o", from_rows=TokenUsage(input_tokens=10, rows=1)),
        PartUsage(job_name="empty"),
    ]
    manifest = group_manifest(parts)

    written = json.loads(manifest.model_dump_json())

    assert [part["cost"]["price"] and part["cost"]["price"]["model"] for part in written["usage"]["parts"]] == [
        "gpt-4o-mini",
        "gpt-4o",
        None,
    ]
    assert written["cost"]["price"] is None
    assert ResultsManifest.model_validate(written) == manifest


def test_a_part_without_a_price_beside_a_total_with_one_is_written_with_null_and_read_back_without() -> None:
    parts = [
        PartUsage(job_name="mini", model="gpt-4o-mini", from_rows=TokenUsage(input_tokens=10, rows=1)),
        PartUsage(job_name="empty"),
    ]
    manifest = group_manifest(parts)

    written = json.loads(manifest.model_dump_json())

    assert manifest.cost is not None and manifest.cost.price is not None
    assert [part["cost"].get("price", "shared") for part in written["usage"]["parts"]] == ["shared", None]
    assert ResultsManifest.model_validate(written) == manifest


def test_the_task_log_line_names_the_tokens_the_cost_and_the_price_date() -> None:
    row = openai.result_row(openai_line({"usage": CHAT_USAGE}))
    usage, cost = usage_and_cost(openai_job({}), tallied("openai", row), shipped_table())
    assert summary_line(usage, cost) == (
        "tokens: 2006 in (1920 cached), 300 out (192 thinking) over 1 rows; "
        "est. $0.000240 at gpt-4o-mini batch prices of 2026-12-01"
    )


def test_the_task_log_line_says_why_there_is_no_cost() -> None:
    job = BatchJob(name="batch_1", provider="openai", model="gpt-9")
    usage, cost = usage_and_cost(job, UsageTally("openai"), shipped_table())
    line = summary_line(usage, cost)
    assert line is not None and line.endswith(
        "cost unknown: batch_1: no batch price for openai model 'gpt-9' "
        "(looked up as 'gpt-9') in the price table; give its prices in batch_prices"
    )
    assert summary_line(None, None) is None


def test_a_reported_total_of_nothing_beside_rows_that_used_tokens_is_not_counted() -> None:
    rows = TokenUsage(input_tokens=12, output_tokens=4, rows=2)
    part = PartUsage(job_name="a", from_rows=rows, reported=TokenUsage())
    assert part.counted == rows


def test_a_reported_total_of_nothing_beside_rows_of_nothing_is_counted() -> None:
    part = PartUsage(job_name="a", from_rows=TokenUsage(), reported=TokenUsage(rows=0))
    assert part.counted == TokenUsage()


@pytest.mark.parametrize("count", ["", [], {}, True, False, "0"])
def test_a_gemini_count_that_is_not_an_integer_makes_the_row_unreadable_as_its_landed_usage_is(count: Any) -> None:
    row = gemini.result_row({"key": "a", "response": {"candidates": [], "usageMetadata": {"promptTokenCount": count}}})
    tally = tallied("gemini", row, gemini_row("b", promptTokenCount=7))
    assert row.usage is None
    assert (counts(tally), tally.unreadable, tally.unreadable_key) == ((7, 0, 0, 0, 0, 1), 1, "a")


@pytest.mark.parametrize("count", ["", [], {}, True, False])
@pytest.mark.parametrize("field", ["prompt_tokens", "completion_tokens"])
def test_an_openai_count_that_is_not_an_integer_makes_the_row_unreadable(field: str, count: Any) -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7, field: count}
    row = ResultRow(key="a", status=RowStatus.SUCCEEDED, response={"usage": usage})
    assert (counts(tallied("openai", row)), tallied("openai", row).unreadable) == ((0, 0, 0, 0, 0, 0), 1)


@pytest.mark.parametrize("field", ["cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens"])
def test_an_anthropic_count_of_true_makes_the_row_unreadable_instead_of_counting_one(field: str) -> None:
    usage = {"input_tokens": 3, "output_tokens": 4, field: True}
    row = ResultRow(key="a", status=RowStatus.SUCCEEDED, response={"content": [], "usage": usage})
    assert tallied("anthropic", row).unreadable == 1


def test_anthropic_counts_given_as_null_count_nothing_and_leave_the_row_readable() -> None:
    usage = {"input_tokens": 3, "output_tokens": 4, "cache_read_input_tokens": None}
    usage["cache_creation_input_tokens"] = None
    tally = tallied("anthropic", anthropic_row(usage))
    assert (counts(tally), tally.unreadable) == ((3, 4, 0, 0, 0, 1), 0)


@pytest.mark.parametrize(
    "body",
    [
        {"inputTextTokenCount": 5, "results": [{"tokenCount": ""}]},
        {"inputTextTokenCount": True, "results": [{"tokenCount": 2}]},
        {"prompt_token_count": 5, "generation_token_count": []},
        {"usage": {"inputTokens": 5, "outputTokens": 2, "cacheReadInputTokens": True}},
    ],
)
def test_a_bedrock_count_that_is_not_an_integer_makes_the_record_unreadable(body: dict[str, Any]) -> None:
    row = ResultRow(key="a", status=RowStatus.SUCCEEDED, response=body)
    assert tallied("bedrock", row).unreadable == 1


def test_a_vertex_embedding_token_count_of_true_makes_the_row_unreadable() -> None:
    row = ResultRow(key="a", status=RowStatus.SUCCEEDED, response={"embeddings": {"statistics": {"token_count": True}}})
    assert tallied("vertex", row).unreadable == 1


@pytest.mark.parametrize(
    "manifest",
    [
        {"inputTokenCount": "many", "outputTokenCount": 3},
        {"inputTokenCount": -5, "outputTokenCount": 3},
        {"inputTokenCount": 1.5, "outputTokenCount": 3},
        {"inputTokenCount": 5, "outputTokenCount": True},
    ],
)
def test_a_bedrock_manifest_total_that_cannot_be_read_is_not_reported(manifest: dict[str, Any]) -> None:
    assert bedrock_manifest_usage(manifest) is None


# --- a usage without the count its family is told by -------------------------------------------------------


def test_an_openai_chat_usage_without_prompt_tokens_still_counts_its_completion_tokens() -> None:
    body = {"object": "chat.completion", "choices": [{"message": {"content": "hi"}}], "usage": {"completion_tokens": 4}}
    row = openai.result_row(openai_line(body))

    assert counts(tallied("openai", row)) == (0, 4, 0, 0, 0, 1)


def test_a_bedrock_converse_usage_without_input_tokens_still_counts_its_output_tokens() -> None:
    output = {
        "output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}},
        "stopReason": "end_turn",
        "usage": {"outputTokens": 3, "totalTokens": 11},
    }
    row = bedrock.result_row({"recordId": "R1", "modelInput": {}, "modelOutput": output})

    assert counts(tallied("bedrock", row)) == (0, 3, 0, 0, 0, 1)


def test_a_gateway_gemini_usage_without_prompt_tokens_still_counts_its_completion_tokens() -> None:
    body = {"text": "hi", "usage": {"completion_tokens": 7}}
    item = {"custom_id": "g1", "response": {"status_code": 200, "body": body}}

    assert counts(tallied("gateway", gateway.result_row(item, "gemini"))) == (0, 7, 0, 0, 0, 1)
