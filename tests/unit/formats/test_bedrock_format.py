"""Amazon Bedrock batch wire format: record ids, job names, modelInput bodies, job objects and output lines.

Job and output shapes are those of shared/reference/bedrock_gateway.md §1 (botocore's service model and
the AWS batch-inference docs); the record and job-name rules are checked against the service's patterns.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import botocore.session
import pytest

from airflow_provider_genai_batch.formats.bedrock import (
    ANTHROPIC_VERSION,
    CONVERSE,
    CONVERSE_FIELDS,
    CONVERSE_NO_TOOLS,
    EMBEDDINGS_UNSUPPORTED,
    INVOKE_MODEL,
    JOB_NAME,
    STATUSES,
    check_native,
    create_job_body,
    from_gemini,
    job_name,
    output_file_uri,
    parse_job,
    record_id,
    result_row,
)
from airflow_provider_genai_batch.formats.results import CONTENT_BLOCKED, RowError, RowStatus, Usage
from airflow_provider_genai_batch.models import BatchStats, JobState

from .translation_corpus import TARGETS
from .translation_corpus import lines as corpus_lines

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
KEY = "gbk-0123456789abcdef0123"
ARN = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcdefghijkl"
PNG = "iVBORw0KGgo="


def user(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "parts": list(parts)}


def translate(request: dict[str, Any], key: str = "req1", **kwargs: Any) -> dict[str, Any]:
    return from_gemini({"key": key, "request": request}, model=kwargs.pop("model", CLAUDE), **kwargs)


def job(status: str = "InProgress", **fields: Any) -> dict[str, Any]:
    """A GetModelInvocationJob response, with the members the service requires."""
    return {
        "jobArn": ARN,
        "jobName": f"nightly-{KEY}",
        "modelId": CLAUDE,
        "clientRequestToken": KEY,
        "roleArn": "arn:aws:iam::123456789012:role/BedrockBatch",
        "status": status,
        "submitTime": "2026-11-20T10:00:00.123Z",
        "lastModifiedTime": "2026-11-20T10:05:00Z",
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://bkt/in/nightly-1a2b.jsonl", "s3InputFormat": "JSONL"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bkt/out/"}},
        "timeoutDurationInHours": 24,
        "modelInvocationType": "InvokeModel",
        **fields,
    }


# --- record ids and job names --------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["req1", "ABC123", "x" * 64])
def test_alphanumeric_keys_travel_as_they_are(key):
    assert record_id(key) == key


@pytest.mark.parametrize("key", ["req-1", "a_b", "2026-11-20/doc 1", "ü", "x" * 65])
def test_other_keys_become_a_deterministic_alphanumeric_id(key):
    rid = record_id(key)
    assert re.fullmatch(r"k[0-9a-f]{40}", rid)
    assert record_id(key) == rid
    assert record_id(key + "!") != rid


@pytest.mark.parametrize(
    "display_name",
    ["nightly", "genai_dag.submit", "  __weird__ name ü ", "", "-leading", "x" * 200, "a+b.c-d"],
)
def test_job_names_match_the_service_pattern_and_end_in_the_key(display_name):
    name = job_name(display_name, KEY)
    assert len(name) <= 63
    assert JOB_NAME.fullmatch(name)
    assert "_" not in name
    assert name.endswith(f"-{KEY}")


def test_job_names_keep_the_display_name_when_it_is_valid_and_are_stable():
    assert job_name("nightly.ads-2026", KEY) == f"nightly.ads-2026-{KEY}"
    assert job_name("my_dag.submit", KEY) == job_name("my_dag.submit", KEY) == f"my-dag.submit-{KEY}"
    assert job_name("plain", None) == "plain"


def test_the_create_body_carries_the_token_and_the_s3_configs():
    body = create_job_body(
        name=f"nightly-{KEY}",
        role_arn="arn:aws:iam::123456789012:role/r",
        model=CLAUDE,
        input_uri="s3://b/in/x.jsonl",
        output_uri="s3://b/out/",
        timeout_hours=48,
        invocation_type="Converse",
        client_request_token=KEY,
    )
    assert body == {
        "jobName": f"nightly-{KEY}",
        "roleArn": "arn:aws:iam::123456789012:role/r",
        "modelId": CLAUDE,
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://b/in/x.jsonl", "s3InputFormat": "JSONL"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://b/out/"}},
        "timeoutDurationInHours": 48,
        "modelInvocationType": "Converse",
        "clientRequestToken": KEY,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "bad_name"}, "jobName"),
        ({"timeout_hours": 23}, "24 to 168"),
        ({"timeout_hours": 169}, "24 to 168"),
        ({"role_arn": "arn:aws:iam::123:user/x"}, "role ARN"),
    ],
)
def test_the_create_body_rejects_what_the_service_rejects(change, message):
    args = {
        "name": "ok",
        "role_arn": "arn:aws:iam::123456789012:role/r",
        "model": CLAUDE,
        "input_uri": "s3://b/in/x.jsonl",
        "output_uri": "s3://b/out/",
        "timeout_hours": 24,
        "invocation_type": "InvokeModel",
        "client_request_token": None,
        **change,
    }
    with pytest.raises(ValueError, match=message):
        create_job_body(**args)


# --- canonical line -> InvokeModel (Anthropic on Bedrock) ----------------------------------------------


def test_invoke_model_input_is_the_anthropic_body_without_a_model_field():
    record = translate(
        {
            "contents": [user({"text": "Say hello."})],
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "generationConfig": {"maxOutputTokens": 64, "temperature": 0.2, "topK": 5},
        }
    )
    assert record == {
        "recordId": "req1",
        "modelInput": {
            "anthropic_version": ANTHROPIC_VERSION,
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "Say hello."}],
            "system": "Be brief.",
            "temperature": 0.2,
            "top_k": 5,
        },
    }
    assert next(iter(record["modelInput"])) == "anthropic_version"


def test_invoke_model_uses_the_default_max_tokens_and_a_safe_record_id():
    record = translate({"contents": [user({"text": "hi"})]}, key="doc-1", max_tokens=100)
    assert record["recordId"] == record_id("doc-1")
    assert record["modelInput"]["max_tokens"] == 100
    assert "model" not in record["modelInput"]


def test_invoke_model_translation_is_for_claude_models_only():
    with pytest.raises(ValueError, match="Anthropic Claude models only"):
        translate({"contents": [user({"text": "hi"})]}, model="amazon.nova-pro-v1:0")
    for arn in (
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abcdefghijkl",  # names no model
    ):
        assert translate({"contents": [user({"text": "hi"})]}, model=arn)["modelInput"]["anthropic_version"]


def test_what_anthropic_cannot_express_is_rejected_with_the_reason():
    with pytest.raises(ValueError, match="safetySettings"):
        translate({"contents": [user({"text": "hi"})], "safetySettings": []})
    with pytest.raises(ValueError, match=re.escape(EMBEDDINGS_UNSUPPORTED)):
        translate({"content": {"parts": [{"text": "hi"}]}})


# --- canonical line -> Converse ----------------------------------------------------------------------------


def test_converse_input_has_text_blocks_system_blocks_and_an_inference_config():
    record = translate(
        {
            "contents": [
                user({"text": "What is 2+2?"}),
                {"role": "model", "parts": [{"text": "4"}]},
                user({"text": "And 3+3?"}, {"inlineData": {"mimeType": "image/png", "data": PNG}}),
            ],
            "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Be exact."}]},
            "generationConfig": {"maxOutputTokens": 32, "temperature": 0.5, "topP": 0.9, "stopSequences": ["\n"]},
        },
        invocation_type=CONVERSE,
    )
    assert record == {
        "recordId": "req1",
        "modelInput": {
            "messages": [
                {"role": "user", "content": [{"text": "What is 2+2?"}]},
                {"role": "assistant", "content": [{"text": "4"}]},
                {
                    "role": "user",
                    "content": [{"text": "And 3+3?"}, {"image": {"format": "png", "source": {"bytes": PNG}}}],
                },
            ],
            "system": [{"text": "Be brief."}, {"text": "Be exact."}],
            "inferenceConfig": {"maxTokens": 32, "temperature": 0.5, "topP": 0.9, "stopSequences": ["\n"]},
        },
    }


def test_converse_image_bytes_are_standard_padded_base64_whatever_alphabet_and_padding_gemini_read():
    request = {"contents": [user({"text": "Look."}, {"inlineData": {"mimeType": "image/png", "data": "-_8"}})]}
    [message] = translate(request, invocation_type=CONVERSE)["modelInput"]["messages"]
    assert message["content"][1] == {"image": {"format": "png", "source": {"bytes": "+/8="}}}


def test_converse_refuses_tools_which_batch_inference_fails_in_a_converse_record():
    request = {
        "contents": [user({"text": "Weather in Paris?"})],
        "tools": [{"functionDeclarations": [{"name": "weather", "description": "Weather now."}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
    }
    with pytest.raises(ValueError) as raised:
        translate(request, invocation_type=CONVERSE)
    assert str(raised.value) == f"tools cannot be sent to bedrock: {CONVERSE_NO_TOOLS}"


def test_converse_says_it_takes_no_tools_before_naming_what_is_wrong_with_a_declaration():
    request = {"contents": [user({"text": "Weather?"})], "tools": [{"functionDeclarations": [{"name": "bad name!"}]}]}
    with pytest.raises(ValueError) as raised:
        translate(request, invocation_type=CONVERSE)
    assert str(raised.value) == f"tools cannot be sent to bedrock: {CONVERSE_NO_TOOLS}"


def test_invoke_model_still_names_what_is_wrong_with_a_declaration():
    request = {"contents": [user({"text": "Weather?"})], "tools": [{"functionDeclarations": [{"name": "bad name!"}]}]}
    with pytest.raises(ValueError, match=r"^tools\[0\]\.functionDeclarations\[0\]\.name cannot be sent to bedrock"):
        translate(request, invocation_type=INVOKE_MODEL)


@pytest.mark.parametrize("tools", [[], [{"functionDeclarations": []}]])
def test_converse_takes_tools_that_declare_no_function(tools: list[dict[str, Any]]) -> None:
    translated = translate({"contents": [user({"text": "Hi."})], "tools": tools}, invocation_type=CONVERSE)
    assert "toolConfig" not in translated["modelInput"]


def test_thinking_settings_are_refused_naming_where_each_invocation_type_sets_thinking():
    request = {"contents": [user({"text": "Hi."})], "generationConfig": {"thinkingConfig": {"thinkingBudget": 1024}}}
    with pytest.raises(ValueError) as raised:
        translate(request, invocation_type=CONVERSE)
    assert str(raised.value) == (
        "generationConfig.thinkingConfig cannot be sent to bedrock: Gemini thinking settings do not map (use a "
        "native bedrock line with 'thinking' in modelInput (InvokeModel) or modelInput.additionalModelRequestFields "
        "(Converse))"
    )


def weather_turns() -> list[dict[str, Any]]:
    """A question, the model's call of ``weather`` and its answer."""
    return [
        user({"text": "Weather in Paris?"}),
        {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {"city": "Paris"}}}]},
        user({"functionResponse": {"name": "weather", "response": {"temp": 21}}}),
    ]


def test_converse_refuses_function_turns_which_converse_takes_only_with_tools():
    contents = weather_turns()
    with pytest.raises(ValueError) as raised:
        translate({"contents": contents}, invocation_type=CONVERSE)
    assert str(raised.value) == f"contents[1] cannot be sent to bedrock: {CONVERSE_NO_TOOLS}"


def test_invoke_model_still_carries_tools_and_function_turns():
    contents = weather_turns()
    tools = [{"functionDeclarations": [{"name": "weather", "description": "Weather now."}]}]
    body = translate({"contents": contents, "tools": tools})["modelInput"]
    assert [tool["name"] for tool in body["tools"]] == ["weather"]
    assert body["messages"][1]["content"][0]["type"] == "tool_use"


def test_converse_documents_get_names_and_top_k_needs_an_anthropic_model():
    pdf = {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}}
    content = translate({"contents": [user({"text": "Summarise"}, pdf)]}, invocation_type=CONVERSE)["modelInput"]
    assert content["messages"][0]["content"][1] == {
        "document": {"format": "pdf", "name": "document-1", "source": {"bytes": "JVBERi0="}}
    }
    with pytest.raises(ValueError, match="topK"):
        translate(
            {"contents": [user({"text": "hi"})], "generationConfig": {"topK": 3}},
            model="amazon.nova-pro-v1:0",
            invocation_type=CONVERSE,
        )


def test_converse_refuses_an_empty_stop_sequence_which_its_service_model_refuses():
    request = {"contents": [user({"text": "hi"})], "generationConfig": {"stopSequences": ["END", ""]}}
    with pytest.raises(ValueError) as raised:
        translate(request, invocation_type=CONVERSE)
    assert str(raised.value) == (
        "generationConfig.stopSequences[1] cannot be sent to bedrock: Converse takes no empty one"
    )


def test_converse_numbers_are_json_numbers_within_its_inference_ranges():
    config = {"maxOutputTokens": "64", "temperature": "1", "topP": "0.5"}
    sent = translate({"contents": [user({"text": "hi"})], "generationConfig": config}, invocation_type=CONVERSE)
    assert sent["modelInput"]["inferenceConfig"] == {"maxTokens": 64, "temperature": 1, "topP": 0.5}


def test_converse_refuses_a_temperature_above_one_as_its_service_model_does():
    request = {"contents": [user({"text": "hi"})], "generationConfig": {"temperature": 1.2}}
    with pytest.raises(ValueError, match=r"generationConfig.temperature cannot be sent to .*range \(from 0 to 1"):
        translate(request, invocation_type=CONVERSE)


def test_converse_has_no_tool_choice_without_tools():
    request = {"contents": [user({"text": "hi"})], "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}}}
    with pytest.raises(ValueError, match=r"toolConfig cannot be sent to .*only together with function declarations"):
        translate(request, invocation_type=CONVERSE)


def converse_refusal(request: dict[str, Any]) -> str:
    with pytest.raises(ValueError) as raised:
        translate(request, invocation_type=CONVERSE)
    return str(raised.value)


def test_converse_refuses_a_conversation_that_starts_with_a_model_turn():
    contents = [{"role": "model", "parts": [{"text": "Hello."}]}, user({"text": "hi"})]
    assert converse_refusal({"contents": contents}) == (
        "contents[0] cannot be sent to bedrock: a Converse conversation starts with a user turn"
    )


@pytest.mark.parametrize(
    ("roles", "second", "named"), [(["user", "user"], 1, "user"), (["user", "model", "model"], 2, "model")]
)
def test_converse_refuses_two_turns_of_one_role_in_a_row(roles, second, named):
    contents = [{"role": role, "parts": [{"text": f"turn {i}"}]} for i, role in enumerate(roles)]
    assert converse_refusal({"contents": contents}) == (
        f"contents[{second}] cannot be sent to bedrock: Converse needs user and model turns to alternate: "
        f"two {named} turns"
    )


def test_converse_refuses_a_document_without_a_text_in_its_turn():
    pdf = {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}}
    assert converse_refusal({"contents": [user(pdf)]}) == (
        "contents[0] cannot be sent to bedrock: Converse takes a document only beside a text part in the same turn"
    )


@pytest.mark.parametrize(("mime", "kind", "most"), [("application/pdf", "document", 5), ("image/png", "image", 20)])
def test_converse_refuses_more_documents_or_images_in_a_turn_than_its_service_model_allows(mime, kind, most):
    media = {"inlineData": {"mimeType": mime, "data": PNG}}
    assert translate({"contents": [user({"text": "Look."}, *[media] * most)]}, invocation_type=CONVERSE)
    assert converse_refusal({"contents": [user({"text": "Look."}, *[media] * (most + 1))]}) == (
        f"contents[0] cannot be sent to bedrock: Converse takes at most {most} {kind}s in a turn"
    )


def test_invoke_model_keeps_a_conversation_opened_by_the_model():
    contents = [{"role": "model", "parts": [{"text": "Hello."}]}, user({"text": "hi"})]
    messages = translate({"contents": contents})["modelInput"]["messages"]
    assert [message["role"] for message in messages] == ["assistant", "user"]


def test_invoke_model_refuses_two_turns_of_one_role_in_a_row_as_claude_on_bedrock_does():
    contents = [{"role": "model", "parts": [{"text": "Hello."}]}, user({"text": "hi"}), user({"text": "again"})]
    with pytest.raises(ValueError) as raised:
        translate({"contents": contents})
    assert str(raised.value) == (
        "contents[2] cannot be sent to bedrock: Claude on Bedrock needs user and assistant turns to alternate: two "
        "user turns"
    )


def test_a_declared_tool_name_anthropic_refuses_is_refused_naming_bedrock():
    tools = [{"functionDeclarations": [{"name": "get weather"}]}]
    with pytest.raises(ValueError) as raised:
        translate({"contents": [user({"text": "hi"})], "tools": tools})
    assert str(raised.value) == (
        "tools[0].functionDeclarations[0].name cannot be sent to bedrock: function name 'get weather' is not 1 to 128 "
        "of a-z, A-Z, 0-9, _ and -"
    )


@pytest.mark.parametrize("invocation_type", [INVOKE_MODEL, CONVERSE])
@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (
            {"contents": [user({"text": "hi"})], "generationConfig": {"seed": 7}},
            "generationConfig.seed cannot be sent to bedrock: bedrock has no sampling seed",
        ),
        (
            {"contents": [user({"text": "hi"})], "generationConfig": {"responseMimeType": "application/json"}},
            "generationConfig.responseMimeType cannot be sent to bedrock: structured output cannot be expressed in a "
            "bedrock batch request",
        ),
        (
            {"contents": [user({"text": "hi"})], "generationConfig": {"temperature": 1.5}},
            "generationConfig.temperature cannot be sent to bedrock: 1.5 is outside its range (from 0 to 1.0)",
        ),
        (
            {"contents": [user({"text": "hi"})], "tools": [{"googleSearch": {}}]},
            "googleSearch is a Gemini-only tool and cannot be sent to bedrock",
        ),
        (
            {"contents": [user({"text": "hi"})], "safetySettings": []},
            "request.safetySettings cannot be sent to bedrock: safety settings are Gemini-only",
        ),
        (
            {
                "contents": [
                    user({"text": "hi"}),
                    {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
                    user({"text": "and?"}),
                ],
            },
            "contents[2]: functionCall 'f' in contents[1] gets no functionResponse in the next turn; bedrock needs "
            "every call answered in the user turn right after it",
        ),
    ],
)
def test_a_refusal_of_the_shared_messages_translation_names_bedrock(invocation_type, request_, message):
    with pytest.raises(ValueError) as raised:
        translate(request_, invocation_type=invocation_type)
    assert str(raised.value) == message


@pytest.mark.parametrize("target", ["bedrock", "converse"])
def test_no_refusal_of_a_corpus_line_for_bedrock_names_anthropic_but_in_the_model_id(target):
    for line, embed in corpus_lines():
        try:
            TARGETS[target](line, embed)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as err:  # as outcomes() takes them
            assert "anthropic" not in re.sub(r"anthropic\.claude[\w.:-]*", "", str(err)), (line["key"], str(err))


# --- native records ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "invocation", "message"),
    [
        ({"recordId": "a", "modelInput": "text"}, "InvokeModel", "must be a JSON object"),
        ({"recordId": "req-1", "modelInput": {}}, "InvokeModel", "'recordId' 'req-1' is not an alphanumeric string"),
        ({"recordId": "doc 1", "modelInput": {"messages": []}}, "Converse", "is not an alphanumeric string"),
        (
            {"recordId": "a", "modelInput": {"anthropic_version": ANTHROPIC_VERSION, "model": CLAUDE}},
            "InvokeModel",
            "modelInput.model",
        ),
        ({"recordId": "a", "modelInput": {"modelId": CLAUDE, "messages": []}}, "Converse", "modelInput.modelId"),
        ({"recordId": "a", "modelInput": {"messages": []}}, "Converse", "non-empty list"),
        (
            {"recordId": "a", "modelInput": {"anthropic_version": ANTHROPIC_VERSION, "messages": [{}]}},
            "InvokeModel",
            "max_tokens",
        ),
    ],
)
def test_native_records_bedrock_would_reject_are_rejected(line, invocation, message):
    with pytest.raises(ValueError, match=message):
        check_native(line, invocation_type=invocation)


def test_native_converse_records_that_call_tools_are_rejected():
    question = {"role": "user", "content": [{"text": "Weather?"}]}
    tools = {"tools": [{"toolSpec": {"name": "weather", "inputSchema": {"json": {"type": "object"}}}}]}
    call = {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "weather", "input": {}}}]}
    with pytest.raises(ValueError, match=r"'modelInput.toolConfig' is refused"):
        check_native(
            {"recordId": "a", "modelInput": {"messages": [question], "toolConfig": tools}}, invocation_type=CONVERSE
        )
    with pytest.raises(ValueError, match=r"'modelInput.messages\[1\]' holds a toolUse block"):
        check_native({"recordId": "a", "modelInput": {"messages": [question, call]}}, invocation_type=CONVERSE)


@pytest.mark.parametrize("block", ["toolAddition", "toolRemoval"])
def test_native_converse_records_that_add_or_remove_tools_are_rejected(block):
    question = {"role": "user", "content": [{"text": "Weather?"}, {block: {"tool": {"name": "weather"}}}]}
    with pytest.raises(ValueError) as raised:
        check_native({"recordId": "a", "modelInput": {"messages": [question]}}, invocation_type=CONVERSE)
    assert str(raised.value) == f"'modelInput.messages[0]' holds a {block} block: {CONVERSE_NO_TOOLS}"


def test_the_converse_roles_are_those_botocore_lists_with_system_only_for_tool_changes():
    shapes = botocore.session.get_session().get_service_model("bedrock-runtime")
    assert shapes.shape_for("ConversationRole").enum == ["user", "assistant", "system"]
    assert "Use within a <code>system</code> role message" in shapes.shape_for("ToolAdditionBlock").documentation


def test_a_native_converse_system_role_message_is_refused_saying_where_instructions_go():
    turns = [{"role": "user", "content": [{"text": "x"}]}, {"role": "system", "content": [{"text": "Be brief."}]}]
    with pytest.raises(ValueError) as raised:
        check_native({"recordId": "a", "modelInput": {"messages": turns}}, invocation_type=CONVERSE)
    assert str(raised.value) == (
        "'modelInput.messages[1].role' is 'system': Converse takes a system-role message only to add or remove tools "
        "of the toolConfig mid-conversation, and batch inference refuses tools for Converse; give instructions in "
        "modelInput.system"
    )


@pytest.mark.parametrize(
    ("message", "invocation", "reason"),
    [
        ({"role": "user"}, INVOKE_MODEL, "'modelInput.messages[0].content' is missing: a message requires it"),
        ({"role": "human", "content": "x"}, INVOKE_MODEL, "'modelInput.messages[0].role' 'human' is not one of user"),
        (
            {"role": "user", "content": "x"},
            CONVERSE,
            "'modelInput.messages[0].content' must be a list of content blocks",
        ),
        ({"role": "human", "content": [{"text": "x"}]}, CONVERSE, "'modelInput.messages[0].role' 'human' is not one"),
        ("hi", CONVERSE, "'modelInput.messages[0]' must be a JSON object"),
        ({"content": [{"text": "x"}]}, CONVERSE, "'modelInput.messages[0].role' is missing: a message requires it"),
    ],
)
def test_a_native_message_of_a_shape_the_model_refuses_is_refused_naming_it(message, invocation, reason):
    model_input: dict[str, Any] = {"messages": [message]}
    if invocation == INVOKE_MODEL:
        model_input.update(anthropic_version=ANTHROPIC_VERSION, max_tokens=10)
    with pytest.raises(ValueError) as raised:
        check_native({"recordId": "a", "modelInput": model_input}, invocation_type=invocation)
    assert str(raised.value).startswith(reason)


_SAY_HI = [{"role": "user", "content": "Say hi."}]
_ASK = {"role": "user", "content": [{"text": "Weather?"}]}
_REPLY = {"role": "assistant", "content": [{"text": "Sunny."}]}


@pytest.mark.parametrize(
    ("model_input", "reason"),
    [
        (
            {"max_tokens": 10, "messages": _SAY_HI},
            "'modelInput.anthropic_version' is missing: Bedrock takes a Claude body only with 'bedrock-2023-05-31'",
        ),
        (
            {"anthropic_version": "2023-06-01", "max_tokens": 10, "messages": _SAY_HI},
            "'modelInput.anthropic_version' is '2023-06-01': Bedrock takes a Claude body only with "
            "'bedrock-2023-05-31'",
        ),
        (
            {"anthropic_version": ANTHROPIC_VERSION, "max_tokens": 10, "messages": _SAY_HI, "stream": False},
            "'modelInput' has stream, which the model's body does not take: Bedrock fails the record with "
            "'extraneous key'",
        ),
        (
            {
                "anthropic_version": ANTHROPIC_VERSION,
                "max_tokens": 10,
                "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}],
            },
            "'modelInput.messages[0].content[0].text' is empty: the Messages API refuses a text block without other "
            "characters",
        ),
        (
            {"anthropic_version": ANTHROPIC_VERSION, "max_tokens": 10, "messages": _SAY_HI, "system": " "},
            "'modelInput.system' is only whitespace: the Messages API refuses a text block without other characters",
        ),
    ],
    ids=["no-version", "messages-api-version", "extraneous-key", "empty-text-block", "blank-system"],
)
def test_a_native_claude_body_bedrock_refuses_is_refused_for_a_claude_model(model_input, reason):
    with pytest.raises(ValueError) as raised:
        check_native({"recordId": "a", "modelInput": model_input}, invocation_type=INVOKE_MODEL, model=CLAUDE)
    assert str(raised.value) == reason


def test_a_native_claude_body_with_two_turns_of_one_role_in_a_row_is_refused():
    turns = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "assistant", "content": "c"},
    ]
    model_input = {"anthropic_version": ANTHROPIC_VERSION, "max_tokens": 10, "messages": turns}
    with pytest.raises(ValueError) as raised:
        check_native({"recordId": "a", "modelInput": model_input}, invocation_type=INVOKE_MODEL, model=CLAUDE)
    assert str(raised.value) == (
        "'modelInput.messages[2].role' is 'assistant': Claude on Bedrock needs user and assistant turns to alternate"
    )


_CONVERSE_ASK = {"role": "user", "content": [{"text": "Weather?"}]}


def test_native_converse_content_blocks_of_the_service_model_pass():
    image = {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}
    document = {"document": {"format": "pdf", "name": "report", "source": {"s3Location": {"uri": "s3://b/r.pdf"}}}}
    turn = {"role": "user", "content": [{"text": "Compare."}, image, document, {"cachePoint": {"type": "default"}}]}
    model_input = {"messages": [turn], "system": [{"text": "Be brief."}, {"cachePoint": {"type": "default"}}]}
    check_native({"recordId": "a", "modelInput": model_input}, invocation_type=CONVERSE, model=CLAUDE)


@pytest.mark.parametrize(
    ("model_input", "reason"),
    [
        (
            {"messages": [{"role": "user", "content": []}]},
            "'modelInput.messages[0].content' is empty: Converse refuses",
        ),
        (
            {"messages": [{"role": "user", "content": [{"text": "q"}, {"text": " "}]}]},
            "'modelInput.messages[0].content[1].text' is blank: Converse refuses a text without other characters",
        ),
        ({"messages": [{"role": "user", "content": [{"txt": "q"}]}]}, "'modelInput.messages[0].content[0]' has txt"),
        ({"messages": [{"role": "user", "content": [{}]}]}, "'modelInput.messages[0].content[0]' sets 0 members"),
        (
            {"messages": [{"role": "user", "content": [{"text": "q", "image": {}}]}]},
            "'modelInput.messages[0].content[0]' sets 2 members: a content block sets exactly one",
        ),
        (
            {"messages": [{"role": "user", "content": [{"image": {"format": "tiff", "source": {"bytes": "eA=="}}}]}]},
            "'modelInput.messages[0].content[0].image.format' 'tiff' is not one of png, jpeg, gif, webp",
        ),
        (
            {"messages": [{"role": "user", "content": [{"document": {"format": "pdf", "source": {"bytes": "eA=="}}}]}]},
            "'modelInput.messages[0].content[0].document.name' must be a string of 1 to 200 characters",
        ),
        ({"messages": [_CONVERSE_ASK], "system": [{"text": ""}]}, "'modelInput.system[0].text' is blank"),
        ({"messages": [_CONVERSE_ASK], "system": "Be brief."}, "'modelInput.system' must be a list of system content"),
        ({"messages": [_REPLY, _ASK]}, "'modelInput.messages[0].role' is 'assistant': a Converse conversation starts"),
        ({"messages": [_ASK, _ASK]}, "'modelInput.messages[1].role' is 'user': a Converse conversation starts"),
        ({"messages": [_ASK], "stream": False}, "'modelInput' has stream, which the model's body does not take"),
        (
            {"messages": [_ASK], "inferenceConfig": {"maxTokens": "64"}},
            "'modelInput.inferenceConfig.maxTokens' must be a positive integer, got '64'",
        ),
        (
            {"messages": [_ASK], "inferenceConfig": {"temperature": 1.5}},
            "'modelInput.inferenceConfig.temperature' must be a number from 0 to 1, got 1.5",
        ),
        (
            {"messages": [_ASK], "inferenceConfig": {"stopSequences": [""]}},
            "'modelInput.inferenceConfig.stopSequences' must be a list of non-empty strings",
        ),
        (
            {"messages": [_ASK], "inferenceConfig": {"max_tokens": 5}},
            "'modelInput.inferenceConfig' has max_tokens, which Converse does not take",
        ),
    ],
    ids=[
        "empty-content",
        "blank-text",
        "unknown-member",
        "no-member",
        "two-members",
        "image-format",
        "unnamed-document",
        "blank-system",
        "system-string",
        "assistant-first",
        "two-user-turns",
        "extraneous-key",
        "text-max-tokens",
        "hot",
        "empty-stop",
        "snake-case",
    ],
)
def test_a_native_converse_record_converse_refuses_is_refused_naming_the_member(model_input, reason):
    with pytest.raises(ValueError) as raised:
        check_native({"recordId": "a", "modelInput": model_input}, invocation_type=CONVERSE, model=CLAUDE)
    assert str(raised.value).startswith(reason)


def converse_request_body_members() -> set[str]:
    """The members of botocore's ``ConverseRequest`` sent in the body (``modelId`` goes in the path)."""
    shape = botocore.session.get_session().get_service_model("bedrock-runtime").shape_for("ConverseRequest")
    return {name for name, member in shape.members.items() if "location" not in member.serialization}


def test_a_native_converse_record_may_hold_every_body_member_of_a_converse_request():
    assert converse_request_body_members() == CONVERSE_FIELDS


_JSON_SCHEMA = {"schema": '{"type": "object"}', "name": "answer", "description": "the answer"}
_STRUCTURED = {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": _JSON_SCHEMA}}, "effort": "low"}


def test_a_native_claude_body_asking_for_structured_output_passes():
    body = {
        "anthropic_version": ANTHROPIC_VERSION,
        "max_tokens": 10,
        "messages": _SAY_HI,
        "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}},
    }
    check_native({"recordId": "a", "modelInput": body}, invocation_type=INVOKE_MODEL, model=CLAUDE)


@pytest.mark.parametrize(
    "members",
    [
        {"serviceTier": {"type": "flex"}},
        {"outputConfig": _STRUCTURED},
        {"outputConfig": {"effort": "high"}},
        {"performanceConfig": {"latency": "optimized"}},
        {"requestMetadata": {"team": "search", "run id": "2026-11-20T00:00 #3", "empty": ""}},
        {"requestMetadata": {f"k{number}": "v" for number in range(16)}},
        {"additionalModelResponseFieldPaths": ["/stop_sequence", "/usage/a~1b", "/x~0y"]},
        {"additionalModelResponseFieldPaths": []},
        {"promptVariables": {}},
    ],
    ids=[
        "service-tier",
        "structured-output",
        "effort",
        "latency",
        "metadata",
        "metadata-16",
        "pointers",
        "no-pointers",
        "no-prompt-variables",
    ],
)
def test_a_native_converse_record_with_request_members_converse_takes_passes(members):
    check_native({"recordId": "a", "modelInput": {"messages": [_ASK], **members}}, invocation_type=CONVERSE)


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ({"serviceTier": "flex"}, "'modelInput.serviceTier' must be a JSON object, got string"),
        ({"serviceTier": {"type": "turbo"}}, "'modelInput.serviceTier.type' must be one of priority, default, flex"),
        ({"serviceTier": {"type": "flex", "x": 1}}, "'modelInput.serviceTier' has x, which Converse does not take"),
        (
            {"performanceConfig": {"latency": "fast"}},
            "'modelInput.performanceConfig.latency' must be one of standard, optimized, got 'fast'",
        ),
        ({"performanceConfig": {"tier": 1}}, "'modelInput.performanceConfig' has tier, which Converse does not take"),
        ({"outputConfig": {"format": {}}}, "'modelInput.outputConfig' has format, which Converse does not take"),
        ({"outputConfig": {"effort": 3}}, "'modelInput.outputConfig.effort' must be a string of at most 16"),
        (
            {"outputConfig": {"textFormat": {"type": "json_object", "structure": {"jsonSchema": _JSON_SCHEMA}}}},
            "'modelInput.outputConfig.textFormat.type' must be 'json_schema', got 'json_object'",
        ),
        (
            {"outputConfig": {"textFormat": {"type": "json_schema"}}},
            "'modelInput.outputConfig.textFormat' must be an object of a type and a structure",
        ),
        (
            {"outputConfig": {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"name": "a"}}}}},
            "'modelInput.outputConfig.textFormat.structure.jsonSchema' must be an object holding a schema",
        ),
        (
            {
                "outputConfig": {
                    "textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": {"type": "object"}}}}
                }
            },
            "'modelInput.outputConfig.textFormat.structure.jsonSchema.schema' must be a string (the schema as JSON "
            "text), got object",
        ),
        ({"requestMetadata": {}}, "'modelInput.requestMetadata' holds 0 entries; Converse takes 1 to 16"),
        (
            {"requestMetadata": {f"k{number}": "v" for number in range(17)}},
            "'modelInput.requestMetadata' holds 17 entries; Converse takes 1 to 16",
        ),
        ({"requestMetadata": ["team"]}, "'modelInput.requestMetadata' must be a JSON object of string keys"),
        ({"requestMetadata": {"team!": "x"}}, "'modelInput.requestMetadata' key 'team!' must be 1-256 letters"),
        ({"requestMetadata": {"": "x"}}, "'modelInput.requestMetadata' key '' must be 1-256 letters"),
        ({"requestMetadata": {"k" * 257: "x"}}, "'modelInput.requestMetadata' key 'kkkk"),
        ({"requestMetadata": {"team": 7}}, "'modelInput.requestMetadata.team' must be a string, got number"),
        ({"requestMetadata": {"team": "a|b"}}, "'modelInput.requestMetadata.team' must be at most 256 letters"),
        ({"requestMetadata": {"team": "x" * 257}}, "'modelInput.requestMetadata.team' must be at most 256 letters"),
        (
            {"additionalModelResponseFieldPaths": "/stop_sequence"},
            "'modelInput.additionalModelResponseFieldPaths' must be a list of JSON Pointers, got string",
        ),
        (
            {"additionalModelResponseFieldPaths": [f"/f{number}" for number in range(11)]},
            "'modelInput.additionalModelResponseFieldPaths' holds 11 paths; Converse takes at most 10",
        ),
        (
            {"additionalModelResponseFieldPaths": [""]},
            "'modelInput.additionalModelResponseFieldPaths[0]' '' is not a JSON Pointer",
        ),
        (
            {"additionalModelResponseFieldPaths": ["/ok", "stop_sequence"]},
            "'modelInput.additionalModelResponseFieldPaths[1]' 'stop_sequence' is not a JSON Pointer",
        ),
        (
            {"additionalModelResponseFieldPaths": ["/a~2"]},
            "'modelInput.additionalModelResponseFieldPaths[0]' '/a~2' is not a JSON Pointer",
        ),
        (
            {"additionalModelResponseFieldPaths": ["/" + "a" * 256]},
            "'modelInput.additionalModelResponseFieldPaths[0]' '/aaaa",
        ),
        (
            {"additionalModelResponseFieldPaths": [3]},
            "'modelInput.additionalModelResponseFieldPaths[0]' must be a string, got number",
        ),
        ({"promptVariables": ["topic"]}, "'modelInput.promptVariables' must be a JSON object of variable names"),
        ({"promptVariables": {"topic": "weather"}}, "'modelInput.promptVariables.topic' must be an object of exactly"),
        ({"promptVariables": {"topic": {}}}, "'modelInput.promptVariables.topic' must be an object of exactly"),
        (
            {"promptVariables": {"topic": {"text": "a", "image": "b"}}},
            "'modelInput.promptVariables.topic' must be an object of exactly",
        ),
        (
            {"promptVariables": {"topic": {"text": 1}}},
            "'modelInput.promptVariables.topic' must be an object of exactly",
        ),
    ],
    ids=[
        "tier-text",
        "tier-unknown",
        "tier-extra",
        "latency-unknown",
        "performance-extra",
        "snake-format",
        "effort-number",
        "json-object",
        "no-structure",
        "no-schema",
        "schema-object",
        "metadata-empty",
        "metadata-17",
        "metadata-list",
        "metadata-key-char",
        "metadata-key-empty",
        "metadata-key-long",
        "metadata-value-number",
        "metadata-value-char",
        "metadata-value-long",
        "paths-string",
        "paths-11",
        "path-empty",
        "path-unled",
        "path-bad-escape",
        "path-long",
        "path-number",
        "variables-list",
        "variable-string",
        "variable-empty",
        "variable-two-members",
        "variable-text-number",
    ],
)
def test_a_native_converse_request_member_converse_refuses_is_refused(members, reason):
    with pytest.raises(ValueError) as raised:
        check_native({"recordId": "a", "modelInput": {"messages": [_ASK], **members}}, invocation_type=CONVERSE)
    assert str(raised.value).startswith(reason)


def test_native_converse_prompt_variables_are_refused_as_a_batch_job_names_no_prompt_for_them_to_fill():
    members = {"promptVariables": {"topic": {"text": "weather"}}}
    with pytest.raises(ValueError) as raised:
        check_native({"recordId": "a", "modelInput": {"messages": [_ASK], **members}}, invocation_type=CONVERSE)
    assert str(raised.value) == (
        "'modelInput.promptVariables' fill a Prompt management prompt named as the model, which a batch job cannot "
        "name (its model is a model or an inference profile), so Converse would ignore topic: put the values in "
        "the messages"
    )


def test_a_native_body_for_a_model_not_anthropics_is_left_to_its_model():
    check_native(
        {"recordId": "a", "modelInput": {"prompt": "hi", "max_gen_len": 5}},
        invocation_type=INVOKE_MODEL,
        model="meta.llama3-8b-instruct-v1:0",
    )


def test_valid_native_records_pass():
    body = {"anthropic_version": ANTHROPIC_VERSION, "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    check_native({"recordId": "a", "modelInput": body}, invocation_type="InvokeModel")
    check_native({"recordId": "a", "modelInput": {"prompt": "llama style"}}, invocation_type="InvokeModel")
    converse = {"messages": [{"role": "user", "content": [{"text": "x"}]}]}
    check_native({"recordId": "a", "modelInput": converse}, invocation_type="Converse")


# --- jobs ----------------------------------------------------------------------------------------------


def test_every_documented_status_is_mapped():
    documented = {
        "Submitted", "InProgress", "Completed", "Failed", "Stopping",
        "Stopped", "PartiallyCompleted", "Expired", "Validating", "Scheduled",
    }  # fmt: skip
    assert set(STATUSES) == documented


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("Submitted", JobState.PENDING),
        ("Validating", JobState.PENDING),
        ("Scheduled", JobState.QUEUED),
        ("InProgress", JobState.RUNNING),
        ("Stopping", JobState.CANCELLING),
        ("Completed", JobState.SUCCEEDED),
        ("PartiallyCompleted", JobState.PARTIALLY_SUCCEEDED),
        ("Failed", JobState.FAILED),
        ("Stopped", JobState.CANCELLED),
        ("Expired", JobState.EXPIRED),
        ("SomethingNew", JobState.UNSPECIFIED),
    ],
)
def test_status_map(status, state):
    parsed = parse_job(job(status))
    assert parsed.state is state
    assert parsed.provider_state == status
    assert parsed.state.is_terminal == (status in {"Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"})


def test_a_job_is_normalised_with_its_counts_times_and_output_file():
    parsed = parse_job(
        job(
            "InProgress",
            totalRecordCount=120,
            processedRecordCount=20,
            successRecordCount=18,
            errorRecordCount=2,
        )
    )
    assert parsed.name == ARN
    assert parsed.provider == "bedrock"
    assert parsed.display_name == f"nightly-{KEY}"
    assert parsed.model == CLAUDE
    assert parsed.stats == BatchStats(total=120, succeeded=18, failed=2, pending=100)
    assert parsed.create_time == datetime(2026, 11, 20, 10, 0, 0, 123000, tzinfo=timezone.utc)
    assert parsed.update_time == datetime(2026, 11, 20, 10, 5, tzinfo=timezone.utc)
    assert parsed.input_file == "s3://bkt/in/nightly-1a2b.jsonl"
    assert parsed.output_file == "s3://bkt/out/abcdefghijkl/nightly-1a2b.jsonl.out"
    assert parsed.error_message is None


def test_partially_completed_is_terminal_with_partial_counts_and_the_message():
    parsed = parse_job(
        job(
            "PartiallyCompleted",
            message="Not all records could be processed in time.",
            totalRecordCount=120,
            processedRecordCount=100,
            successRecordCount=99,
            errorRecordCount=1,
            endTime="2026-11-21T10:00:00Z",
        )
    )
    assert parsed.state is JobState.PARTIALLY_SUCCEEDED and parsed.state.is_success
    assert parsed.stats == BatchStats(total=120, succeeded=99, failed=1, pending=0)
    assert parsed.error_message == "Not all records could be processed in time."
    assert parsed.end_time == datetime(2026, 11, 21, 10, tzinfo=timezone.utc)


@pytest.mark.parametrize("status", ["Failed", "Stopped", "Expired", "PartiallyCompleted"])
def test_the_job_message_is_in_every_failure_and_a_default_when_there_is_none(status):
    assert parse_job(job(status, message="Access denied to s3://bkt")).error_message == "Access denied to s3://bkt"
    assert parse_job(job(status)).error_message


def test_output_paths_follow_the_documented_layout():
    assert output_file_uri(job(outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://o/p"}})) == (
        "s3://o/p/abcdefghijkl/nightly-1a2b.jsonl.out"
    )
    folder = job(inputDataConfig={"s3InputDataConfig": {"s3Uri": "s3://bkt/in/"}})
    assert output_file_uri(folder) is None


# --- output lines --------------------------------------------------------------------------------------


def test_an_invoke_model_anthropic_output_line():
    output = {
        "id": "msg_bdrk_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-haiku-20240307",
        "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": " there"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 10, "output_tokens": 3},
    }
    row = result_row({"recordId": "req1", "modelInput": {}, "modelOutput": output})
    assert row.key == "req1"
    assert row.status is RowStatus.SUCCEEDED
    assert row.text == "Hello there"
    assert row.response == output
    assert row.usage == Usage(input_tokens=10, output_tokens=3, total_tokens=13)


def test_a_converse_output_line():
    output = {
        "output": {"message": {"role": "assistant", "content": [{"text": "4"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 7, "outputTokens": 1, "totalTokens": 8},
        "metrics": {"latencyMs": 312},
    }
    row = result_row({"recordId": "r2", "modelInput": {}, "modelOutput": output})
    assert (row.status, row.text, row.usage) == (RowStatus.SUCCEEDED, "4", Usage(7, 1, 8))


@pytest.mark.parametrize("reason", ["content_filtered", "guardrail_intervened"])
def test_a_converse_answer_withheld_without_content_is_a_failed_row_naming_its_stop_reason(reason):
    output = {
        "output": {"message": {"role": "assistant", "content": []}},
        "stopReason": reason,
        "usage": {"inputTokens": 7, "outputTokens": 0, "totalTokens": 7},
    }
    row = result_row({"recordId": "r2", "modelInput": {}, "modelOutput": output})

    assert (row.key, row.status, row.response, row.usage) == ("r2", RowStatus.FAILED, output, Usage(7, 0, 7))
    assert row.error == RowError(
        message=f"the answer was blocked: stopReason {reason}, and it holds no content",
        code=CONTENT_BLOCKED,
        status=reason,
    )


def test_an_invoke_model_anthropic_refusal_without_text_is_a_failed_row():
    output = {"type": "message", "role": "assistant", "content": [], "stop_reason": "refusal", "usage": {}}
    row = result_row({"recordId": "r3", "modelInput": {}, "modelOutput": output})
    assert (row.status, row.error.code, row.error.status) == (RowStatus.FAILED, CONTENT_BLOCKED, "refusal")


def test_a_converse_rows_input_tokens_hold_the_cache_reads_and_writes_input_tokens_leave_out():
    usage = {"inputTokens": 7, "cacheReadInputTokens": 900, "cacheWriteInputTokens": 100, "outputTokens": 1}
    output = {"output": {"message": {"role": "assistant", "content": [{"text": "4"}]}}, "usage": usage}
    row = result_row({"recordId": "r2", "modelInput": {}, "modelOutput": output})
    assert row.usage == Usage(input_tokens=1007, output_tokens=1)


def test_an_error_line_from_the_docs():
    line = {"recordId": "1223213ABCD", "modelInput": {}, "error": {"errorCode": 400, "errorMessage": "bad request"}}
    row = result_row(line)
    assert row.key == "1223213ABCD"
    assert row.status is RowStatus.FAILED
    assert row.error == RowError(message="bad request", code=400)


def test_a_model_output_that_is_an_anthropic_error_body_is_a_failed_row_with_its_error():
    output = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    row = result_row({"recordId": "r1", "modelInput": {}, "modelOutput": output})
    assert (row.key, row.status, row.text) == ("r1", RowStatus.FAILED, None)
    assert row.error == RowError(message="Overloaded", code="overloaded_error")


TITAN_TEXT = {
    "inputTextTokenCount": 12,
    "results": [{"tokenCount": 7, "outputText": "\nParis.", "completionReason": "FINISH"}],
}
LLAMA = {"generation": "Paris.", "prompt_token_count": 21, "generation_token_count": 4, "stop_reason": "stop"}
NOVA = {
    "output": {"message": {"role": "assistant", "content": [{"text": "Paris."}]}},
    "stopReason": "end_turn",
    "usage": {
        "inputTokens": 5,
        "outputTokens": 3,
        "totalTokens": 1508,
        "cacheReadInputTokenCount": 1000,
        "cacheWriteInputTokenCount": 500,
    },
}


def test_a_titan_text_body_lands_its_output_text_and_token_counts():
    row = result_row({"recordId": "r", "modelInput": {"inputText": "q"}, "modelOutput": TITAN_TEXT})
    assert (row.status, row.text, row.response) == (RowStatus.SUCCEEDED, "\nParis.", TITAN_TEXT)
    assert row.usage == Usage(input_tokens=12, output_tokens=7, total_tokens=19)


def test_a_titan_embeddings_body_lands_its_embedding_and_input_tokens():
    output = {"embedding": [0.25, -1, 3e-05], "inputTextTokenCount": 6}
    row = result_row({"recordId": "r", "modelInput": {"inputText": "q"}, "modelOutput": output})
    assert (row.status, row.text, row.embedding) == (RowStatus.SUCCEEDED, None, [0.25, -1.0, 3e-05])
    assert row.usage == Usage(input_tokens=6, total_tokens=6)


def test_a_llama_body_lands_its_generation_and_token_counts():
    row = result_row({"recordId": "r", "modelInput": {"prompt": "q"}, "modelOutput": LLAMA})
    assert (row.status, row.text) == (RowStatus.SUCCEEDED, "Paris.")
    assert row.usage == Usage(input_tokens=21, output_tokens=4, total_tokens=25)


def test_a_mistral_body_lands_its_output_text_without_usage():
    output = {"outputs": [{"text": "Paris.", "stop_reason": "stop"}]}
    row = result_row({"recordId": "r", "modelInput": {"prompt": "q"}, "modelOutput": output})
    assert (row.status, row.text, row.usage) == (RowStatus.SUCCEEDED, "Paris.", None)


def test_a_nova_invoke_model_body_adds_its_cache_counts_to_the_input():
    row = result_row({"recordId": "r", "modelInput": {"messages": []}, "modelOutput": NOVA})
    assert (row.status, row.text) == (RowStatus.SUCCEEDED, "Paris.")
    assert row.usage == Usage(input_tokens=1505, output_tokens=3, total_tokens=1508)


def test_a_native_body_whose_counts_are_not_integers_lands_with_usage_null():
    output = {**LLAMA, "prompt_token_count": "21"}
    row = result_row({"recordId": "r", "modelInput": {"prompt": "q"}, "modelOutput": output})
    assert (row.status, row.text, row.usage) == (RowStatus.SUCCEEDED, "Paris.", None)


def test_another_model_body_is_kept_raw_and_a_line_without_output_fails():
    row = result_row({"recordId": "r", "modelOutput": {"completions": [{"data": {"text": "x"}}]}})
    assert (row.status, row.text, row.response) == (
        RowStatus.SUCCEEDED,
        None,
        {"completions": [{"data": {"text": "x"}}]},
    )
    missing = result_row({"recordId": "r"})
    assert missing.status is RowStatus.FAILED and "modelOutput" in missing.error.message


def test_an_empty_model_output_is_a_failed_row_not_a_success():
    row = result_row({"recordId": "r", "modelInput": {}, "modelOutput": {}})
    assert (row.status, row.error) == (RowStatus.FAILED, RowError(message="the line has no modelOutput"))


@pytest.mark.parametrize(
    "cache",
    [
        {"cacheReadInputTokens": True},
        {"cacheWriteInputTokens": -7},
        {"cacheReadInputTokens": 1, "cacheWriteInputTokens": False},
        {"cacheReadInputTokenCount": -1},
    ],
    ids=["a-boolean", "negative", "a-false-beside-a-count", "nova-negative"],
)
def test_a_converse_usage_whose_cache_counts_are_not_counts_lands_with_usage_null(cache):
    usage = {"inputTokens": 7, "outputTokens": 1, **cache}
    output = {"output": {"message": {"role": "assistant", "content": [{"text": "4"}]}}, "usage": usage}
    row = result_row({"recordId": "r", "modelInput": {}, "modelOutput": output})
    assert (row.status, row.text, row.usage) == (RowStatus.SUCCEEDED, "4", None)


def test_a_native_claude_body_with_a_temperature_claude_refuses_is_refused():
    body = {"anthropic_version": ANTHROPIC_VERSION, "max_tokens": 5, "messages": _SAY_HI, "temperature": 2}
    with pytest.raises(ValueError) as raised:
        check_native({"recordId": "a", "modelInput": body}, invocation_type=INVOKE_MODEL, model=CLAUDE)
    assert str(raised.value) == "'modelInput.temperature' must be a number from 0 to 1, got 2"
