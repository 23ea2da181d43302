"""What Bedrock's batch-inference control plane rejects, and with which error.

The service's member patterns are written out here on purpose, apart from the provider's own: the
emulator is an independent check of what the hook sends. A SigV4 `Authorization` header is required;
its scope is checked, not its signature.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from airflow_provider_genai_batch.testing.emulator.bedrock.content import (
    claude_messages_problem,
    converse_content_problem,
    malformed,
)
from airflow_provider_genai_batch.testing.emulator.bedrock.wire import BedrockError, constraint_error, validation_error
from airflow_provider_genai_batch.testing.emulator.common import JsonBodyErrors, parse_rfc3339, read_json_object
from airflow_provider_genai_batch.testing.emulator.store import JobRecord, StateDep, decode_page_token

DEFAULT_TIMEOUT_HOURS = 168
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
ALL_STATUSES = frozenset(
    {"Submitted", "InProgress", "Completed", "Failed", "Stopping", "Stopped", "PartiallyCompleted", "Expired"}
    | {"Validating", "Scheduled"}
)
INVOCATION_TYPES = frozenset({"InvokeModel", "Converse"})
ANTHROPIC_VERSION = "bedrock-2023-05-31"
ANTHROPIC_KEYS = frozenset(
    {
        "anthropic_version",
        "anthropic_beta",
        "max_tokens",
        "messages",
        "system",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "tools",
        "tool_choice",
        "thinking",
        "metadata",
        "output_config",
    }
)
CONVERSE_KEYS = frozenset(
    {
        "messages",
        "system",
        "inferenceConfig",
        "toolConfig",
        "additionalModelRequestFields",
        "additionalModelResponseFieldPaths",
        "guardrailConfig",
        "promptVariables",
        "requestMetadata",
        "performanceConfig",
        "serviceTier",
        "outputConfig",
    }
)

CONVERSE_TOOLS_MESSAGE = (
    "Batch inference doesn't support tool calling for jobs that use the Converse invocation type: "
    "the record includes a toolConfig."
)
"""A Converse record with a `toolConfig` fails with a 400 (the message is the emulator's wording)."""
TOOL_BLOCKS_WITHOUT_CONFIG_MESSAGE = (
    "The toolConfig field must be defined when using toolUse and toolResult content blocks."
)
"""Converse's own refusal of tool blocks in a request without a `toolConfig`."""
TOOL_CHANGES_WITHOUT_CONFIG_MESSAGE = (
    "The toolConfig field must be defined when using toolAddition and toolRemoval content blocks."
)
"""A tool addition or removal names a tool of the `toolConfig`, so fails in a request without one (the emulator's
wording)."""
CONVERSE_ROLES = ("user", "assistant", "system")
"""The roles of a Converse message (botocore `ConversationRole`; `system` for messages that change tools)."""

JOB_NAME = re.compile(r"[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\+\-\.]){0,63}")
ROLE_ARN = re.compile(r"arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+")
MODEL_ID = re.compile(
    r"(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:(([0-9]{12}:custom-model/[a-z0-9-]{1,63}[.]{1}[a-z0-9-:]{1,63}"
    r"/[a-z0-9]{12}$)|(:foundation-model/([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})"
    r"([:][a-z0-9-]{1,63}){0,2})|(([0-9a-zA-Z][_-]?)+)$)|([0-9]{12}:(inference-profile|application-inference-profile)"
    r"/[a-zA-Z0-9-:.]+$)))|([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})([:][a-z0-9-]{1,63}){0,2})"
    r"|(([0-9a-zA-Z][_-]?)+)"
)
ACCOUNT_ID = re.compile(r"[0-9]{12}")
KMS_KEY_ID = re.compile(
    r"(arn:aws(-[^:]+)?:kms:[a-zA-Z0-9-]*:[0-9]{12}:((key/[a-zA-Z0-9-]{36})|(alias/[a-zA-Z0-9-_/]+)))"
    r"|([a-zA-Z0-9-]{36})|(alias/[a-zA-Z0-9-_/]+)"
)
VPC_ID = re.compile(r"[-0-9a-zA-Z]+")
TAG_TEXT = re.compile(r"[a-zA-Z0-9\s._:/=+@-]*")
TOKEN = re.compile(r"[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}")
S3_URI = re.compile(r"s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?")
PAGINATION_TOKEN = re.compile(r"\S*")
JOB_IDENTIFIER = re.compile(
    r"((arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:model-invocation-job/)?[a-z0-9]{12})"
)
AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request,\s*"
    r"SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})"
)


def pattern_rule(pattern: re.Pattern[str]) -> str:
    """How AWS words a member that does not match its pattern."""
    return f"Member must satisfy regular expression pattern: {pattern.pattern}"


# Auth


def require_sigv4(request: Request, state: StateDep) -> None:
    """A SigV4 header for service `bedrock` in the configured region, and `X-Amz-Date`: 403 otherwise."""
    header = request.headers.get("authorization")
    if not header:
        raise BedrockError(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    match = AUTHORIZATION.fullmatch(header.strip())
    if match is None or not request.headers.get("x-amz-date"):
        raise BedrockError(
            403,
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'Signature', 'SignedHeaders' and an 'X-Amz-Date' header.",
        )
    region, service = match.group(3), match.group(4)
    if service != "bedrock":
        raise BedrockError(
            403, "InvalidSignatureException", "Credential should be scoped to correct service: 'bedrock'."
        )
    if region != state.config.aws_region:
        raise BedrockError(403, "InvalidSignatureException", "Credential should be scoped to a valid region.")


# CreateModelInvocationJob


def unparseable_json(exc: Exception) -> BedrockError:
    """The complaint about a body that is not JSON."""
    return BedrockError(400, "SerializationException", f"Could not parse the request body: {exc}")


def not_a_json_object() -> BedrockError:
    """The complaint about a JSON body that is not an object."""
    return BedrockError(400, "SerializationException", "The request body must be a JSON object.")


JSON_BODY = JsonBodyErrors(unparseable=unparseable_json, not_an_object=not_a_json_object)


async def read_body(request: Request) -> dict[str, Any]:
    """The request body as a JSON object (an empty body counts as {})."""
    return await read_json_object(request, JSON_BODY)


def check_create(body: dict[str, Any]) -> dict[str, Any]:
    """Validate a CreateModelInvocationJob body as the service does; return it with defaults filled in."""
    for member in ("jobName", "roleArn", "modelId", "inputDataConfig", "outputDataConfig"):
        if body.get(member) is None:
            raise constraint_error(member, None, "Member must not be null")
    name = body["jobName"]
    if not isinstance(name, str) or not 1 <= len(name) <= 63 or not JOB_NAME.fullmatch(name):
        raise constraint_error("jobName", name, pattern_rule(JOB_NAME))
    check_string(body["roleArn"], "roleArn", ROLE_ARN, 2048)
    check_string(body["modelId"], "modelId", MODEL_ID, 2048)
    token = body.get("clientRequestToken")
    if token is not None and (not isinstance(token, str) or len(token) > 256 or not TOKEN.fullmatch(token)):
        raise constraint_error("clientRequestToken", token, pattern_rule(TOKEN))
    timeout = body.setdefault("timeoutDurationInHours", DEFAULT_TIMEOUT_HOURS)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 24 <= timeout <= 168:
        raise constraint_error(
            "timeoutDurationInHours",
            timeout,
            "Member must have value less than or equal to 168 and greater than or equal to 24",
        )
    invocation = body.setdefault("modelInvocationType", "InvokeModel")
    if invocation not in INVOCATION_TYPES:
        raise constraint_error(
            "modelInvocationType",
            invocation,
            f"Member must satisfy enum value set: [{', '.join(sorted(INVOCATION_TYPES))}]",
        )
    check_s3_config(body["inputDataConfig"], "inputDataConfig", "s3InputDataConfig")
    check_s3_config(body["outputDataConfig"], "outputDataConfig", "s3OutputDataConfig")
    key_id = body["outputDataConfig"]["s3OutputDataConfig"].get("s3EncryptionKeyId")
    if key_id is not None:
        check_string(key_id, "outputDataConfig.s3OutputDataConfig.s3EncryptionKeyId", KMS_KEY_ID, 2048)
    if body.get("vpcConfig") is not None:
        check_vpc_config(body["vpcConfig"])
    if body.get("tags") is not None:
        check_tags(body["tags"])
    input_format = body["inputDataConfig"]["s3InputDataConfig"].get("s3InputFormat")
    if input_format not in (None, "JSONL"):
        raise constraint_error(
            "inputDataConfig.s3InputDataConfig.s3InputFormat",
            input_format,
            "Member must satisfy enum value set: [JSONL]",
        )
    return body


def check_string(value: Any, member: str, pattern: re.Pattern[str], max_length: int, min_length: int = 1) -> None:
    """A string member within its length bounds that matches its pattern whole."""
    if not isinstance(value, str) or not min_length <= len(value) <= max_length:
        rule = f"Member must have length less than or equal to {max_length}"
        if min_length:
            rule += f" and greater than or equal to {min_length}"
        raise constraint_error(member, value, rule)
    if not pattern.fullmatch(value):
        raise constraint_error(member, value, pattern_rule(pattern))


def check_s3_config(config: Any, member: str, union_member: str) -> None:
    """A data-config union must hold exactly its S3 member: an s3Uri, and a 12-digit bucket owner if given."""
    if not isinstance(config, dict) or set(config) != {union_member} or not isinstance(config[union_member], dict):
        raise validation_error(f"{member} must set exactly one member: {union_member}.")
    uri = config[union_member].get("s3Uri")
    if uri is None:
        raise constraint_error(f"{member}.{union_member}.s3Uri", None, "Member must not be null")
    check_string(uri, f"{member}.{union_member}.s3Uri", S3_URI, 1024)
    owner = config[union_member].get("s3BucketOwner")
    if owner is not None and (not isinstance(owner, str) or not ACCOUNT_ID.fullmatch(owner)):
        raise constraint_error(f"{member}.{union_member}.s3BucketOwner", owner, pattern_rule(ACCOUNT_ID))


def check_list(value: Any, member: str, min_items: int, max_items: int) -> list[Any]:
    """A list member with a number of items within its bounds."""
    if not isinstance(value, list) or not min_items <= len(value) <= max_items:
        size = len(value) if isinstance(value, list) else value
        raise constraint_error(
            member,
            size,
            f"Member must have length less than or equal to {max_items} and greater than or equal to {min_items}",
        )
    return value


def check_vpc_config(config: Any) -> None:
    """vpcConfig: 1-16 subnet ids and 1-5 security group ids, each up to 32 of [-0-9a-zA-Z]."""
    if not isinstance(config, dict):
        raise validation_error("vpcConfig must be an object.")
    for member, most in (("subnetIds", 16), ("securityGroupIds", 5)):
        if config.get(member) is None:
            raise constraint_error(f"vpcConfig.{member}", None, "Member must not be null")
        for item in check_list(config[member], f"vpcConfig.{member}", 1, most):
            check_string(item, f"vpcConfig.{member}.member", VPC_ID, 32, 0)


def check_tags(tags: Any) -> None:
    """tags: at most 200 of {key (1-128 characters), value (0-256)}, both in the tag character set."""
    for tag in check_list(tags, "tags", 0, 200):
        if not isinstance(tag, dict) or tag.get("key") is None or tag.get("value") is None:
            raise constraint_error("tags.member", tag, "Member must have both a key and a value")
        check_string(tag["key"], "tags.member.key", TAG_TEXT, 128)
        check_string(tag["value"], "tags.member.value", TAG_TEXT, 256, 0)


# Job identifiers and listings


def check_job_identifier(identifier: str) -> str:
    """A job ARN or 12-character id, as the service accepts them; the job id is returned."""
    if not JOB_IDENTIFIER.fullmatch(identifier):
        raise constraint_error("jobIdentifier", identifier, pattern_rule(JOB_IDENTIFIER))
    return identifier.rsplit("/", 1)[-1]


def parse_max_results(raw: str | None) -> int:
    """maxResults: 1 to 1000 (default 100)."""
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise constraint_error(
            "maxResults", raw, "Member must have value less than or equal to 1000 and greater than or equal to 1"
        )
    return int(raw)


def parse_time_filter(raw: str | None, member: str) -> float | None:
    """An ISO-8601 query timestamp as epoch seconds."""
    if raw is None:
        return None
    try:
        return parse_rfc3339(raw)
    except ValueError as exc:
        raise validation_error(f"Invalid value for {member}: {raw}") from exc


@dataclass(frozen=True)
class ListQuery:
    """The filters and order of a ListModelInvocationJobs call."""

    max_results: int
    ascending: bool
    status_equals: str | None
    submitted_after: float | None
    submitted_before: float | None
    name_contains: str | None
    next_token: str | None


def parse_list_query(query: Mapping[str, str]) -> ListQuery:
    """Check a listing's query parameters as the service does."""
    max_results = parse_max_results(query.get("maxResults"))
    order = query.get("sortOrder", "Descending")
    if order not in ("Ascending", "Descending"):
        raise constraint_error("sortOrder", order, "Member must satisfy enum value set: [Ascending, Descending]")
    if query.get("sortBy", "CreationTime") != "CreationTime":
        raise constraint_error("sortBy", query.get("sortBy"), "Member must satisfy enum value set: [CreationTime]")
    status_equals = query.get("statusEquals")
    if status_equals is not None and status_equals not in ALL_STATUSES:
        raise constraint_error(
            "statusEquals", status_equals, f"Member must satisfy enum value set: [{', '.join(sorted(ALL_STATUSES))}]"
        )
    name_contains = query.get("nameContains")
    if name_contains is not None:
        check_string(name_contains, "nameContains", JOB_NAME, 63)
    next_token = query.get("nextToken")
    if next_token is not None:
        check_string(next_token, "nextToken", PAGINATION_TOKEN, 2048)
    return ListQuery(
        max_results=max_results,
        ascending=order == "Ascending",
        status_equals=status_equals,
        submitted_after=parse_time_filter(query.get("submitTimeAfter"), "submitTimeAfter"),
        submitted_before=parse_time_filter(query.get("submitTimeBefore"), "submitTimeBefore"),
        name_contains=name_contains,
        next_token=next_token,
    )


LISTING = "bedrock model-invocation-jobs"
"""What a nextToken of ListModelInvocationJobs resumes: a token made for any other listing is invalid here."""


def listing_start(jobs: list[JobRecord], token: str | None) -> int:
    """Where a page starts in the ordered listing: just after the job a nextToken names."""
    if not token:
        return 0
    try:
        after = decode_page_token(token, LISTING)
    except ValueError as exc:
        raise validation_error("Invalid nextToken.") from exc
    for index, job in enumerate(jobs):
        if job.seq == after:
            return index + 1
    raise validation_error("Invalid nextToken.")


# Records (checked while the job runs: a bad one fails on its own line)


def converse_tool_problem(model_input: dict[str, Any]) -> str | None:
    """Why a Converse record that calls tools fails: batch inference refuses a `toolConfig` in a Converse record,
    and Converse refuses `toolUse` / `toolResult` blocks, and tool additions and removals, without one."""
    if "toolConfig" in model_input:
        return CONVERSE_TOOLS_MESSAGE
    messages = model_input.get("messages")
    for message in messages if isinstance(messages, list) else ():
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else ():
            if isinstance(block, dict) and ("toolUse" in block or "toolResult" in block):
                return TOOL_BLOCKS_WITHOUT_CONFIG_MESSAGE
            if isinstance(block, dict) and ("toolAddition" in block or "toolRemoval" in block):
                return TOOL_CHANGES_WITHOUT_CONFIG_MESSAGE
    return None


CONVERSE_FIRST_TURN_MESSAGE = (
    "A conversation must start with a user message. Try again with a conversation that starts with a user message."
)
CONVERSE_ALTERNATE_MESSAGE = (
    "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between "
    "user and assistant roles and try again."
)


def converse_turn_problem(messages: list[dict[str, Any]]) -> str | None:
    """Why Converse refuses a conversation's turns, as it words it, or None: each role is one it knows, the first
    is the user's and the roles alternate."""
    for index, message in enumerate(messages):
        if "role" not in message:
            return malformed("required key [role] not found", f"#/messages/{index}")
        if message["role"] not in CONVERSE_ROLES:
            return malformed(f"{message['role']} is not a valid enum value", f"#/messages/{index}/role")
    if messages[0].get("role") != "user":
        return CONVERSE_FIRST_TURN_MESSAGE
    for before, message in itertools.pairwise(messages):
        if message.get("role") == before.get("role"):
            return CONVERSE_ALTERNATE_MESSAGE
    return None


INFERENCE_CONFIG_KEYS = frozenset({"maxTokens", "temperature", "topP", "stopSequences"})
"""The members of a Converse `inferenceConfig` (botocore `InferenceConfiguration`)."""


def inference_config_problem(config: Any) -> str | None:
    """Why Converse refuses a record's `inferenceConfig`, or None: an object of a `maxTokens` of at least 1, a
    `temperature` and a `topP` from 0 to 1, and `stopSequences` a list of non-empty strings."""
    if config is None:
        return None
    if not isinstance(config, dict):
        return malformed("expected type: JSONObject", "#/inferenceConfig")
    for key in config:
        if key not in INFERENCE_CONFIG_KEYS:
            return malformed(f"extraneous key [{key}] is not permitted", "#/inferenceConfig")
    max_tokens = config.get("maxTokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        return malformed("expected an integer of at least 1", "#/inferenceConfig/maxTokens")
    for key in ("temperature", "topP"):
        value = config.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1):
            return malformed("expected a number from 0 to 1", f"#/inferenceConfig/{key}")
    stops = config.get("stopSequences")
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(stop, str) and stop for stop in stops)):
        return malformed("expected an array of non-empty strings", "#/inferenceConfig/stopSequences")
    return None


def input_problem(model_input: Any, invocation_type: str, model: str) -> str | None:
    """Why the model would reject this `modelInput`, as Bedrock words it, or None."""
    if not isinstance(model_input, dict):
        return malformed("expected type: JSONObject")
    if invocation_type == "Converse":
        allowed = CONVERSE_KEYS
        problem = converse_tool_problem(model_input)
        if problem is not None:
            return problem
    elif "anthropic" in model:
        allowed = ANTHROPIC_KEYS
        if model_input.get("anthropic_version") != ANTHROPIC_VERSION:
            return malformed("required key [anthropic_version] not found")
        max_tokens = model_input.get("max_tokens")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            return malformed("required key [max_tokens] not found")
    else:
        return f"The emulator answers Anthropic InvokeModel bodies and Converse requests only, not {model}."
    for key in model_input:
        if key not in allowed:
            return malformed(f"extraneous key [{key}] is not permitted")
    messages = model_input.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        return "Malformed input request: #/messages: expected a non-empty array of messages."
    if invocation_type != "Converse":
        return claude_messages_problem(model_input)
    return (
        converse_turn_problem(messages)
        or converse_content_problem(model_input)
        or inference_config_problem(model_input.get("inferenceConfig"))
        or service_tier_problem(model_input.get("serviceTier"))
        or performance_config_problem(model_input.get("performanceConfig"))
        or output_config_problem(model_input.get("outputConfig"))
        or request_metadata_problem(model_input.get("requestMetadata"))
        or response_field_paths_problem(model_input.get("additionalModelResponseFieldPaths"))
        or prompt_variables_problem(model_input.get("promptVariables"))
    )


SERVICE_TIER_TYPES = frozenset({"priority", "default", "flex", "reserved"})
"""The values of a Converse `serviceTier.type` (botocore `ServiceTierType`)."""


def service_tier_problem(tier: Any) -> str | None:
    """Why Converse refuses a record's `serviceTier`, or None: an object of one required `type` of
    :data:`SERVICE_TIER_TYPES`."""
    if tier is None:
        return None
    if not isinstance(tier, dict):
        return malformed("expected type: JSONObject", "#/serviceTier")
    for key in tier:
        if key != "type":
            return malformed(f"extraneous key [{key}] is not permitted", "#/serviceTier")
    if tier.get("type") not in SERVICE_TIER_TYPES:
        return malformed(f"{tier.get('type')!r} is not a valid enum value", "#/serviceTier/type")
    return None


def performance_config_problem(config: Any) -> str | None:
    """Why Converse refuses a record's `performanceConfig`, or None: an object of at most a `latency` of `standard`
    or `optimized`."""
    if config is None:
        return None
    if not isinstance(config, dict):
        return malformed("expected type: JSONObject", "#/performanceConfig")
    for key in config:
        if key != "latency":
            return malformed(f"extraneous key [{key}] is not permitted", "#/performanceConfig")
    if "latency" in config and config["latency"] not in ("standard", "optimized"):
        return malformed(f"{config['latency']!r} is not a valid enum value", "#/performanceConfig/latency")
    return None


def output_config_problem(config: Any) -> str | None:
    """Why Converse refuses a record's `outputConfig`, or None: an object of an `effort` string of up to 16
    characters and a `textFormat` of `type` json_schema and a `structure` holding one `jsonSchema`, whose required
    `schema`, and its `name` and `description`, are strings."""
    if config is None:
        return None
    if not isinstance(config, dict):
        return malformed("expected type: JSONObject", "#/outputConfig")
    for key in config:
        if key not in ("textFormat", "effort"):
            return malformed(f"extraneous key [{key}] is not permitted", "#/outputConfig")
    effort = config.get("effort")
    if effort is not None and (not isinstance(effort, str) or len(effort) > 16):
        return malformed("expected a string of at most 16 characters", "#/outputConfig/effort")
    text_format = config.get("textFormat")
    if text_format is None:
        return None
    if not isinstance(text_format, dict) or set(text_format) != {"type", "structure"}:
        return malformed("expected an object of exactly a type and a structure", "#/outputConfig/textFormat")
    if text_format["type"] != "json_schema":
        return malformed(f"{text_format['type']!r} is not a valid enum value", "#/outputConfig/textFormat/type")
    structure = text_format["structure"]
    if not isinstance(structure, dict) or set(structure) != {"jsonSchema"}:
        return malformed("expected exactly one member: jsonSchema", "#/outputConfig/textFormat/structure")
    schema = structure["jsonSchema"]
    pointer = "#/outputConfig/textFormat/structure/jsonSchema"
    if not isinstance(schema, dict) or "schema" not in schema:
        return malformed("required key [schema] not found", pointer)
    for key, value in schema.items():
        if key not in ("schema", "name", "description"):
            return malformed(f"extraneous key [{key}] is not permitted", pointer)
        if not isinstance(value, str):
            return malformed("expected type: String", f"{pointer}/{key}")
    return None


REQUEST_METADATA_TEXT = re.compile(r"[a-zA-Z0-9 \t\n\x0b\f\r:_@$#=/+,\-.]{0,256}")
"""A `requestMetadata` key or value (botocore `RequestMetadataKeyString` / `ValueString`, `\\s` as Java reads it)."""
JSON_POINTER = re.compile(r"(/([^~/]|~[01])*)+")
"""A non-empty JSON Pointer (RFC 6901), as Converse takes in `additionalModelResponseFieldPaths`."""


def request_metadata_problem(metadata: Any) -> str | None:
    """Why Converse refuses a record's `requestMetadata`, or None: a map of 1 to 16 entries, keys of 1 to 256 and
    values of up to 256 characters of `RequestMetadataKeyString`'s pattern."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        return malformed("expected type: JSONObject", "#/requestMetadata")
    if not 1 <= len(metadata) <= 16:
        return malformed("expected minimum item count: 1, maximum: 16", "#/requestMetadata")
    for key, value in metadata.items():
        if not key or not REQUEST_METADATA_TEXT.fullmatch(key):
            return malformed(f"key [{key}] does not match pattern {REQUEST_METADATA_TEXT.pattern}", "#/requestMetadata")
        if not isinstance(value, str):
            return malformed("expected type: String", f"#/requestMetadata/{key}")
        if not REQUEST_METADATA_TEXT.fullmatch(value):
            return malformed(
                f"string does not match pattern {REQUEST_METADATA_TEXT.pattern}", f"#/requestMetadata/{key}"
            )
    return None


def response_field_paths_problem(paths: Any) -> str | None:
    """Why Converse refuses a record's `additionalModelResponseFieldPaths`, or None: at most 10 JSON Pointers of 1
    to 256 characters (an empty or malformed pointer is a 400)."""
    if paths is None:
        return None
    pointer = "#/additionalModelResponseFieldPaths"
    if not isinstance(paths, list):
        return malformed("expected type: JSONArray", pointer)
    if len(paths) > 10:
        return malformed(f"expected maximum item count: 10, found: {len(paths)}", pointer)
    for index, path in enumerate(paths):
        if not isinstance(path, str):
            return malformed("expected type: String", f"{pointer}/{index}")
        if not 1 <= len(path) <= 256 or not JSON_POINTER.fullmatch(path):
            return malformed(f"{path!r} is not a valid JSON Pointer", f"{pointer}/{index}")
    return None


def prompt_variables_problem(variables: Any) -> str | None:
    """Why Converse refuses a record's `promptVariables`, or None: a map of names to a union whose one member is a
    `text` string (botocore `PromptVariableValues`)."""
    if variables is None:
        return None
    if not isinstance(variables, dict):
        return malformed("expected type: JSONObject", "#/promptVariables")
    for name, value in variables.items():
        pointer = f"#/promptVariables/{name}"
        if not isinstance(value, dict):
            return malformed("expected type: JSONObject", pointer)
        for key in value:
            if key != "text":
                return malformed(f"extraneous key [{key}] is not permitted", pointer)
        if "text" not in value:
            return malformed("required key [text] not found", pointer)
        if not isinstance(value["text"], str):
            return malformed("expected type: String", f"{pointer}/text")
    return None
