"""A row's usage in results.jsonl and the manifest's tally agree on which usage is unreadable: a count the provider
gave that is not an integer from 0 to 2**53 - 1 (a total, a detail count), or a one-hour cache write larger than
all cache writes, makes the row's own ``usage`` null and the manifest count the row in ``unreadable_rows``, adding
none of its counts."""

from __future__ import annotations

from typing import Any

from airflow_provider_genai_batch.formats import anthropic, bedrock, gateway, gemini, openai, vertex
from airflow_provider_genai_batch.formats.results import ResultRow, Usage
from airflow_provider_genai_batch.models import TokenUsage
from airflow_provider_genai_batch.usage import UsageTally


def landed(provider: str, row: ResultRow) -> tuple[Usage | None, TokenUsage, int, str | None]:
    """The row's own usage once the tally passed it on (as landing writes it), the tally's sums and unreadable rows."""
    tally = UsageTally(provider)
    (passed,) = tally.counted([row])
    return passed.usage, tally.usage(), tally.unreadable, tally.unreadable_key


UNREADABLE = (None, TokenUsage(), 1, "k1")


def gemini_line(**meta: Any) -> dict[str, Any]:
    answer = {"content": {"parts": [{"text": "hi"}], "role": "model"}, "finishReason": "STOP"}
    usage = {"promptTokenCount": 12, "candidatesTokenCount": 7, "totalTokenCount": 19, **meta}
    return {"key": "k1", "response": {"candidates": [answer], "usageMetadata": usage}}


def openai_line(body: dict[str, Any]) -> dict[str, Any]:
    return {"id": "batch_req_1", "custom_id": "k1", "response": {"status_code": 200, "body": body}, "error": None}


def chat_body(**usage: Any) -> dict[str, Any]:
    message = {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    counts = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13, **usage}
    return {"object": "chat.completion", "choices": [message], "usage": counts}


def responses_body(**usage: Any) -> dict[str, Any]:
    output = [{"type": "message", "content": [{"type": "output_text", "text": "hi"}]}]
    return {"object": "response", "output": output, "usage": {"input_tokens": 5, "output_tokens": 6, **usage}}


def anthropic_message(**usage: Any) -> dict[str, Any]:
    counts = {"input_tokens": 10, "cache_creation_input_tokens": 2, "output_tokens": 5, **usage}
    return {"type": "message", "role": "assistant", "content": [{"type": "text", "text": "hi"}], "usage": counts}


def anthropic_line(**usage: Any) -> dict[str, Any]:
    return {"custom_id": "k1", "result": {"type": "succeeded", "message": anthropic_message(**usage)}}


def bedrock_row(output: dict[str, Any]) -> ResultRow:
    return bedrock.result_row({"recordId": "k1", "modelInput": {}, "modelOutput": output})


def converse_output(**usage: Any) -> dict[str, Any]:
    message = {"role": "assistant", "content": [{"text": "hi"}]}
    counts = {"inputTokens": 8, "outputTokens": 3, "totalTokens": 11, "cacheWriteInputTokens": 4, **usage}
    return {"output": {"message": message}, "stopReason": "end_turn", "usage": counts}


# --- Gemini and Vertex -------------------------------------------------------------------------------------


def test_a_gemini_total_that_is_not_a_count_leaves_the_row_uncounted() -> None:
    assert landed("gemini", gemini.result_row(gemini_line(totalTokenCount="19"))) == UNREADABLE


def test_a_negative_gemini_cached_count_nulls_the_rows_usage() -> None:
    assert landed("gemini", gemini.result_row(gemini_line(cachedContentTokenCount=-1))) == UNREADABLE


def test_a_gemini_audio_detail_that_is_not_a_count_nulls_the_rows_usage() -> None:
    details = [{"modality": "AUDIO", "tokenCount": "4"}]
    assert landed("gemini", gemini.result_row(gemini_line(promptTokensDetails=details))) == UNREADABLE


def test_a_negative_vertex_total_leaves_the_row_uncounted() -> None:
    assert landed("vertex", vertex.result_row(gemini_line(totalTokenCount=-19))) == UNREADABLE


def test_a_vertex_cached_count_of_true_nulls_the_rows_usage() -> None:
    assert landed("vertex", vertex.result_row(gemini_line(cachedContentTokenCount=True))) == UNREADABLE


def test_a_readable_gemini_usage_lands_in_the_row_and_the_manifest_alike() -> None:
    usage, total, unreadable, _ = landed("gemini", gemini.result_row(gemini_line(cachedContentTokenCount=2)))
    assert usage == Usage(input_tokens=12, output_tokens=7, total_tokens=19)
    assert (total.input_tokens, total.output_tokens, total.cached_tokens, total.rows, unreadable) == (12, 7, 2, 1, 0)


# --- OpenAI ------------------------------------------------------------------------------------------------


def test_an_openai_chat_total_that_is_a_string_leaves_the_row_uncounted() -> None:
    assert landed("openai", openai.result_row(openai_line(chat_body(total_tokens="13")))) == UNREADABLE


def test_an_openai_chat_cached_count_that_is_a_string_nulls_the_rows_usage() -> None:
    body = chat_body(prompt_tokens_details={"cached_tokens": "2"})
    assert landed("openai", openai.result_row(openai_line(body))) == UNREADABLE


def test_openai_chat_prompt_details_that_are_no_object_null_the_rows_usage() -> None:
    body = chat_body(prompt_tokens_details=True)
    assert landed("openai", openai.result_row(openai_line(body))) == UNREADABLE


def test_a_negative_openai_responses_total_leaves_the_row_uncounted() -> None:
    assert landed("openai", openai.result_row(openai_line(responses_body(total_tokens=-11)))) == UNREADABLE


def test_a_fractional_openai_responses_reasoning_count_nulls_the_rows_usage() -> None:
    body = responses_body(output_tokens_details={"reasoning_tokens": 2.5})
    assert landed("openai", openai.result_row(openai_line(body))) == UNREADABLE


def test_an_openai_embedding_total_that_is_a_string_leaves_the_row_uncounted() -> None:
    body = {"object": "list", "data": [{"embedding": [0.5]}], "usage": {"prompt_tokens": 3, "total_tokens": "3"}}
    assert landed("openai", openai.result_row(openai_line(body))) == UNREADABLE


# --- Anthropic ---------------------------------------------------------------------------------------------


def test_anthropic_one_hour_cache_writes_beyond_all_cache_writes_null_the_rows_usage() -> None:
    line = anthropic_line(cache_creation={"ephemeral_1h_input_tokens": 9})
    assert landed("anthropic", anthropic.result_row(line)) == UNREADABLE


def test_an_anthropic_thinking_count_that_is_a_string_nulls_the_rows_usage() -> None:
    line = anthropic_line(output_tokens_details={"thinking_tokens": "3"})
    assert landed("anthropic", anthropic.result_row(line)) == UNREADABLE


# --- Bedrock -----------------------------------------------------------------------------------------------


def test_a_bedrock_converse_total_that_is_a_string_leaves_the_record_uncounted() -> None:
    assert landed("bedrock", bedrock_row(converse_output(totalTokens="11"))) == UNREADABLE


def test_bedrock_converse_one_hour_cache_writes_beyond_all_cache_writes_null_the_records_usage() -> None:
    output = converse_output(cacheDetails=[{"ttl": "1h", "inputTokens": 9}])
    assert landed("bedrock", bedrock_row(output)) == UNREADABLE


def test_bedrock_invoke_model_anthropic_one_hour_cache_writes_beyond_all_writes_null_the_records_usage() -> None:
    output = anthropic_message(cache_creation={"ephemeral_1h_input_tokens": 9})
    assert landed("bedrock", bedrock_row(output)) == UNREADABLE


def test_a_bedrock_chat_completion_body_total_that_is_a_string_leaves_the_record_uncounted() -> None:
    assert landed("bedrock", bedrock_row(chat_body(total_tokens="13"))) == UNREADABLE


def test_a_bedrock_chat_completion_body_cached_count_that_is_negative_nulls_the_records_usage() -> None:
    output = chat_body(prompt_tokens_details={"cached_tokens": -2})
    assert landed("bedrock", bedrock_row(output)) == UNREADABLE


# --- the gateway -------------------------------------------------------------------------------------------


def test_a_gateway_openai_cached_count_that_is_negative_nulls_the_rows_usage() -> None:
    body = chat_body(prompt_tokens_details={"cached_tokens": -2})
    assert landed("gateway", gateway.result_row(openai_line(body), "openai")) == UNREADABLE


def test_gateway_anthropic_one_hour_cache_writes_beyond_all_cache_writes_null_the_rows_usage() -> None:
    line = anthropic_line(cache_creation={"ephemeral_1h_input_tokens": 9})
    assert landed("gateway", gateway.result_row(line, "anthropic")) == UNREADABLE


def test_a_bedrock_llama_body_whose_prompt_count_is_null_counts_its_output_in_the_row_and_the_manifest() -> None:
    output = {"generation": "hi", "prompt_token_count": None, "generation_token_count": 5, "stop_reason": "stop"}
    usage, total, unreadable, _ = landed("bedrock", bedrock_row(output))
    assert usage == Usage(output_tokens=5, total_tokens=5)
    assert (total.input_tokens, total.output_tokens, total.rows, unreadable) == (0, 5, 1, 0)


def test_a_bedrock_cohere_body_whose_billed_input_is_null_counts_its_output_in_the_row_and_the_manifest() -> None:
    output = {
        "text": "hi",
        "finish_reason": "COMPLETE",
        "meta": {"billed_units": {"input_tokens": None, "output_tokens": 5}},
    }
    usage, total, unreadable, _ = landed("bedrock", bedrock_row(output))
    assert usage == Usage(output_tokens=5, total_tokens=5)
    assert (total.input_tokens, total.output_tokens, total.rows, unreadable) == (0, 5, 1, 0)


def test_a_bedrock_titan_text_body_without_its_input_count_carries_no_usage_in_the_row_or_the_manifest() -> None:
    output = {"inputTextTokenCount": None, "results": [{"outputText": "hi", "tokenCount": 5}]}
    usage, total, unreadable, _ = landed("bedrock", bedrock_row(output))
    assert (usage, total, unreadable) == (None, TokenUsage(), 0)
