"""Amazon Bedrock batch inference wire format: record ids, modelInput bodies, job objects and output lines.

Canonical Gemini lines become ``{"recordId", "modelInput"}`` records. With ``InvokeModel`` the input is
the Anthropic-on-Bedrock body (the Anthropic Messages params of :mod:`.anthropic` without ``model``, plus
``anthropic_version``); with ``Converse`` the same params are rewritten into the Converse request shape.
Everything here is pure: the hook does the I/O.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal

from airflow_provider_genai_batch.formats import anthropic, converse_content, converse_members
from airflow_provider_genai_batch.formats.anthropic import message_text
from airflow_provider_genai_batch.formats.anthropic import usage_of as anthropic_usage
from airflow_provider_genai_batch.formats.anthropic_content import check_system
from airflow_provider_genai_batch.formats.bedrock_bodies import native_row
from airflow_provider_genai_batch.formats.detect import InputFormat
from airflow_provider_genai_batch.formats.dialect import ProviderCapabilities, ProviderLimits
from airflow_provider_genai_batch.formats.gemini_schema import json_type
from airflow_provider_genai_batch.formats.keys import hashed_id
from airflow_provider_genai_batch.formats.results import (
    CONTEXT_ADVICE,
    ResultRow,
    RowError,
    RowStatus,
    Usage,
    blocked_row,
    counted_usage,
    job_count,
    no_answer_row,
    output_limit_row,
)
from airflow_provider_genai_batch.formats.times import parse_rfc3339
from airflow_provider_genai_batch.formats.translate import check_metadata_carried, line_parts, unsupported
from airflow_provider_genai_batch.idempotency import FINGERPRINT_PATTERN, KEY_PATTERN, JobIdentity, check_identity
from airflow_provider_genai_batch.models import BatchJob, BatchStats, JobState

PROVIDER = "bedrock"
ANTHROPIC_VERSION = "bedrock-2023-05-31"
INVOKE_MODEL: Final = "InvokeModel"
CONVERSE: Final = "Converse"
InvocationType = Literal["InvokeModel", "Converse"]
EMBEDDINGS_UNSUPPORTED = "bedrock batch embeddings (Titan) are not supported by this provider"
MANIFEST_NAME = "manifest.json.out"
OUTPUT_SUFFIX = ".out"

# Patterns from the service model (botocore data/bedrock/2023-04-20/service-2.json).
JOB_NAME = re.compile(r"[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\+\-\.]){0,63}")
JOB_NAME_MAX = 63
CLIENT_TOKEN = re.compile(r"[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}")
CLIENT_TOKEN_MAX = 256
_OUR_CLIENT_TOKEN = re.compile(
    rf"(?P<key>{KEY_PATTERN})(?:-(?P<fingerprint>{FINGERPRINT_PATTERN})(?:-r(?P<generation>[0-9a-f]{{12}}))?)?"
)
ROLE_ARN = re.compile(r"arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+")
MODEL_ID = re.compile(
    r"(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:(([0-9]{12}:custom-model/[a-z0-9-]{1,63}[.]{1}[a-z0-9-:]{1,63}"
    r"/[a-z0-9]{12}$)|(:foundation-model/([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})"
    r"([:][a-z0-9-]{1,63}){0,2})|(([0-9a-zA-Z][_-]?)+)$)|([0-9]{12}:(inference-profile|application-inference-profile)"
    r"/[a-zA-Z0-9-:.]+$)))|([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.]?[a-z0-9-]{1,63})([:][a-z0-9-]{1,63}){0,2})"
    r"|(([0-9a-zA-Z][_-]?)+)"
)
MODEL_ID_MAX = 2048
KMS_KEY_ID = re.compile(
    r"(arn:aws(-[^:]+)?:kms:[a-zA-Z0-9-]*:[0-9]{12}:((key/[a-zA-Z0-9-]{36})|(alias/[a-zA-Z0-9-_/]+)))"
    r"|([a-zA-Z0-9-]{36})|(alias/[a-zA-Z0-9-_/]+)"
)
KMS_KEY_ID_MAX = 2048
VPC_ID = re.compile(r"[-0-9a-zA-Z]{1,32}")
MAX_SUBNETS, MAX_SECURITY_GROUPS = 16, 5
_PROVISIONED_MODEL = re.compile(r"arn:aws(-[^:]+)?:bedrock:[^:]*:[0-9]*:provisioned-model/.*")
S3_URI = re.compile(r"s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?")
MIN_TIMEOUT_HOURS, MAX_TIMEOUT_HOURS = 24, 168
RECORD_ID = re.compile(r"[A-Za-z0-9]{1,64}")
NATIVE_RECORD_ID = re.compile(r"[A-Za-z0-9]+")
"""A ``recordId`` the batch data format accepts: an alphanumeric string (Bedrock's Validating fails any other)."""
HASHED_RECORD_PREFIX = "k"

STATUSES: dict[str, JobState] = {
    "Submitted": JobState.PENDING,
    "Validating": JobState.PENDING,
    "Scheduled": JobState.QUEUED,
    "InProgress": JobState.RUNNING,
    "Stopping": JobState.CANCELLING,
    "Completed": JobState.SUCCEEDED,
    "PartiallyCompleted": JobState.PARTIALLY_SUCCEEDED,
    "Failed": JobState.FAILED,
    "Stopped": JobState.CANCELLED,
    "Expired": JobState.EXPIRED,
}
_DEFAULT_MESSAGES = {
    JobState.FAILED: "the job failed (Bedrock gave no message)",
    JobState.CANCELLED: "the job was stopped",
    JobState.EXPIRED: "the job expired before it could run",
    JobState.PARTIALLY_SUCCEEDED: "not all records could be processed in time",
}
_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}
_DOCUMENT_FORMATS = {"application/pdf": "pdf"}
_INFERENCE_CONFIG = {"max_tokens": "maxTokens", "temperature": "temperature", "top_p": "topP"}
MAX_DOCUMENTS, MAX_IMAGES = 5, 20
"""The documents and images one Converse message may hold (botocore bedrock-runtime service model, ``Message``)."""
CONVERSE_NO_TOOLS = (
    "batch inference fails a Converse record that calls tools (a toolConfig, which Converse also needs for function "
    "turns); use model_invocation_type=InvokeModel"
)
"""Why tools and function turns are refused for Converse: batch inference fails such records with a 400."""
CLAUDE_ALTERNATION = "Claude on Bedrock needs user and assistant turns to alternate"
"""Why two turns of one role in a row are refused in a Claude InvokeModel body (Bedrock answers 'roles must
alternate'; the Messages API would combine them)."""
_NATIVE_MODEL_FIELDS = ("model", "modelId")
ANTHROPIC_BODY_FIELDS = frozenset(
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
"""The members of a Claude InvokeModel body on Bedrock (the Anthropic Messages parameters Bedrock takes, with its
``anthropic_version`` and ``anthropic_beta``, and ``output_config`` for structured output and effort); the model
refuses any other key as extraneous."""
CONVERSE_FIELDS = frozenset(
    {
        "messages",
        "system",
        "inferenceConfig",
        "toolConfig",
        "guardrailConfig",
        "additionalModelRequestFields",
        "promptVariables",
        "additionalModelResponseFieldPaths",
        "requestMetadata",
        "performanceConfig",
        "serviceTier",
        "outputConfig",
    }
)
"""The members of a Converse request body a batch record may hold (botocore ``ConverseRequest``, less the
``modelId`` the job sets)."""
_CONVERSE_TOOL_BLOCKS = ("toolUse", "toolResult", "toolAddition", "toolRemoval")
"""Content blocks that call or name tools of the ``toolConfig`` (a tool addition or removal names one declared
there), so fail in a batch Converse record."""
CONVERSE_SYSTEM_ROLE = (
    "Converse takes a system-role message only to add or remove tools of the toolConfig mid-conversation, and batch "
    "inference refuses tools for Converse; give instructions in modelInput.system"
)
"""Why a Converse message of role ``system`` is refused (botocore's ``ConversationRole`` lists it for messages of
``toolAddition`` / ``toolRemoval`` blocks)."""


# --- record ids and job names ------------------------------------------------------------------------


def record_id(key: str) -> str:
    """The key itself when it is a plain alphanumeric id, else ``k`` + a 40-hex sha256 digest (deterministic).

    Bedrock documents record ids as alphanumeric; the landing maps hashed ids back through the keys file.
    """
    return key if RECORD_ID.fullmatch(key) else hashed_id(key, HASHED_RECORD_PREFIX)


def job_name(display_name: str, idempotency_key: str | None) -> str:
    """A valid ``jobName`` (no underscores, at most 63 characters) from a display name, ending in the key."""
    suffix = f"-{idempotency_key}" if idempotency_key else ""
    stem = re.sub(r"[^A-Za-z0-9+.-]+", "-", display_name)
    stem = re.sub(r"^[^A-Za-z0-9]+", "", stem)[: JOB_NAME_MAX - len(suffix)].rstrip("-") or "genai-batch"
    name = stem + suffix
    check_job_name(name)
    return name


def client_request_token(idempotency_key: str, input_fingerprint: str | None, replaces: str | None = None) -> str:
    """The ``clientRequestToken``: ``<key>-<fingerprint>``, plus ``-r<12 hex>`` for a job made instead of ``replaces``.

    Bedrock answers a create that repeats a token with the job it made first, so the fingerprint is part
    of the token (an edited input is never answered with the job made for the old one), and so is the job
    a resubmission replaces (a resubmit after a failed job, or a forced one, is never answered with it).
    """
    check_identity(idempotency_key, input_fingerprint)
    if input_fingerprint is None:
        return idempotency_key
    token = f"{idempotency_key}-{input_fingerprint}"
    if replaces is not None:
        token += "-r" + hashlib.sha256(replaces.encode()).hexdigest()[:12]
    return token


def identity_in_client_request_token(token: object) -> JobIdentity | None:
    """The key and fingerprint of a token :func:`client_request_token` made; None for any other token."""
    match = _OUR_CLIENT_TOKEN.fullmatch(token) if isinstance(token, str) else None
    return JobIdentity(match["key"], match["fingerprint"]) if match else None


def check_job_name(name: str) -> None:
    """Raise ValueError unless ``name`` is a ``jobName`` Bedrock accepts."""
    if len(name) > JOB_NAME_MAX or not JOB_NAME.fullmatch(name):
        raise ValueError(f"invalid Bedrock jobName {name!r}: 1-63 of [A-Za-z0-9+-.], starting with a letter or digit")


def check_model_id(model: str, region: str) -> None:
    """Raise ValueError unless ``model`` is a ``modelId`` a batch job in ``region`` takes: the service's pattern, no
    provisioned throughput (batch inference does not run on provisioned models), and an ARN of that region (a
    model, profile or custom model is a resource of one region)."""
    if _PROVISIONED_MODEL.fullmatch(model):
        raise ValueError(
            f"{model!r} is a provisioned throughput model, and batch inference does not run on provisioned models: "
            "give the foundation model's id or an inference profile"
        )
    if len(model) > MODEL_ID_MAX or not MODEL_ID.fullmatch(model):
        raise ValueError(
            f"{model!r} is not a modelId a batch job takes: a foundation model id "
            "(anthropic.claude-3-haiku-20240307-v1:0), an inference profile id (us.anthropic.claude-...), or a "
            "foundation-model, custom-model or inference-profile ARN"
        )
    arn_region = model.split(":")[3] if model.startswith("arn:") else region
    if arn_region != region:
        raise ValueError(
            f"{model!r} is an ARN in region {arn_region!r}, but the connection's jobs run in {region!r}: give the "
            "model's ARN in that region, or its id"
        )


def check_kms_key_id(key_id: str) -> None:
    """Raise ValueError unless ``key_id`` is an ``s3EncryptionKeyId`` Bedrock accepts: a KMS key id, key ARN, alias
    or alias ARN."""
    if len(key_id) > KMS_KEY_ID_MAX or not KMS_KEY_ID.fullmatch(key_id):
        raise ValueError(
            f"{key_id!r} is not a KMS key Bedrock takes: a key id, a key ARN "
            "(arn:aws:kms:<region>:<account>:key/<id>), an alias (alias/<name>) or an alias ARN"
        )


@dataclass(frozen=True)
class VpcConfig:
    """The VPC through which a job reaches its S3 data (``vpcConfig``): 1-16 subnets and 1-5 security groups."""

    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        """Raise ValueError for a list out of its bounds or an id Bedrock refuses, naming which."""
        for what, ids, most in (
            ("subnet_ids", self.subnet_ids, MAX_SUBNETS),
            ("security_group_ids", self.security_group_ids, MAX_SECURITY_GROUPS),
        ):
            if not 1 <= len(ids) <= most:
                raise ValueError(f"{what} must hold 1 to {most} ids, got {len(ids)}")
            for item in ids:
                if not isinstance(item, str) or not VPC_ID.fullmatch(item):
                    raise ValueError(f"{what} holds {item!r}, not an id of up to 32 of [-0-9a-zA-Z]")


def check_timeout_hours(hours: int) -> None:
    """Raise ValueError unless ``hours`` is in Bedrock's 24-168 range."""
    if not MIN_TIMEOUT_HOURS <= hours <= MAX_TIMEOUT_HOURS:
        raise ValueError(f"timeoutDurationInHours must be {MIN_TIMEOUT_HOURS} to {MAX_TIMEOUT_HOURS}, got {hours}")


def job_id(job_arn: str) -> str:
    """The 12-character id at the end of a job ARN (a bare id is returned as it is)."""
    return job_arn.rsplit("/", 1)[-1]


def create_job_body(
    *,
    name: str,
    role_arn: str,
    model: str,
    input_uri: str,
    output_uri: str,
    timeout_hours: int,
    invocation_type: InvocationType,
    client_request_token: str | None,
    output_kms_key_id: str | None = None,
    vpc: VpcConfig | None = None,
) -> dict[str, Any]:
    """The CreateModelInvocationJob request body, checked against the service's constraints."""
    check_job_name(name)
    check_timeout_hours(timeout_hours)
    if not ROLE_ARN.fullmatch(role_arn):
        raise ValueError(f"invalid role ARN {role_arn!r}: expected arn:aws:iam::<account>:role/<name>")
    output: dict[str, Any] = {"s3Uri": output_uri}
    if output_kms_key_id is not None:
        check_kms_key_id(output_kms_key_id)
        output["s3EncryptionKeyId"] = output_kms_key_id
    body: dict[str, Any] = {
        "jobName": name,
        "roleArn": role_arn,
        "modelId": model,
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": input_uri, "s3InputFormat": "JSONL"}},
        "outputDataConfig": {"s3OutputDataConfig": output},
        "timeoutDurationInHours": timeout_hours,
        "modelInvocationType": invocation_type,
    }
    if vpc is not None:
        body["vpcConfig"] = {"subnetIds": list(vpc.subnet_ids), "securityGroupIds": list(vpc.security_group_ids)}
    if client_request_token is not None:
        if len(client_request_token) > CLIENT_TOKEN_MAX or not CLIENT_TOKEN.fullmatch(client_request_token):
            raise ValueError(f"invalid Bedrock clientRequestToken {client_request_token!r}")
        body["clientRequestToken"] = client_request_token
    return body


# --- canonical line -> Bedrock record ------------------------------------------------------------------


def from_gemini(
    line: Mapping[str, Any],
    *,
    model: str,
    invocation_type: InvocationType = INVOKE_MODEL,
    max_tokens: int = anthropic.DEFAULT_MAX_TOKENS,
) -> dict[str, Any]:
    """One canonical ``{"key", "request"}`` line as a Bedrock record; ValueError for what cannot map."""
    key, request = line_parts(line)
    check_metadata_carried(line, PROVIDER)
    if "content" in request and "contents" not in request:
        raise ValueError(EMBEDDINGS_UNSUPPORTED)
    if invocation_type == CONVERSE and _declares_functions(request.get("tools")):
        raise unsupported("tools", PROVIDER, CONVERSE_NO_TOOLS)  # before the declarations' own rules, moot here
    params = anthropic.from_gemini(line, model=model, max_tokens=max_tokens, provider=PROVIDER)["params"]
    return record(key, params, model=model, invocation_type=invocation_type)


def _declares_functions(tools: object) -> bool:
    """Whether a request's ``tools`` declare any function (which Converse refuses, however they are written)."""
    return isinstance(tools, list) and any(
        isinstance(tool, Mapping)
        and isinstance(tool.get("functionDeclarations"), list)
        and tool["functionDeclarations"]
        for tool in tools
    )


def record(key: str, params: dict[str, Any], *, model: str, invocation_type: InvocationType) -> dict[str, Any]:
    """The Bedrock record of Anthropic Message Batches ``params`` (taken apart: they are not used again); shared
    with the typed translation of :mod:`.common_translate`."""
    del params["model"]  # Bedrock rejects extra keys in modelInput: the model is set on the job
    if invocation_type == CONVERSE:
        model_input = _converse(params, model)
    else:
        if not _translates_for(model):
            raise unsupported(
                "request",
                PROVIDER,
                f"InvokeModel bodies are translated for Anthropic Claude models only, not {model!r}; "
                "use model_invocation_type=Converse or native Bedrock lines",
            )
        _check_claude_turns(params["messages"])
        model_input = {"anthropic_version": ANTHROPIC_VERSION, **params}
    return {"recordId": record_id(key), "modelInput": model_input}


_NAMING_RESOURCES = frozenset({"foundation-model", "inference-profile", "custom-model"})
"""The ARN resources whose id names the model (a custom model's names its base model); an application inference
profile's id does not."""


@functools.lru_cache(maxsize=16)
def _translates_for(model: str) -> bool:
    """Whether Gemini-format lines are translated to InvokeModel bodies for ``model``: a Claude model, or an ARN that
    names no model (read once per model, not once per line)."""
    named = _model_named(model)
    return named is None or "anthropic" in named


def _model_named(model: str) -> str | None:
    """The model or inference profile id a ``modelId`` names (``us.meta.llama3-...``), read from an ARN's resource
    where it is one; None for an ARN whose id does not name the model (an application inference profile)."""
    if not model.startswith("arn:"):
        return model
    kind, _, rest = model.split(":", 5)[-1].partition("/")
    return rest.split("/", 1)[0] if kind in _NAMING_RESOURCES else None


def _check_claude_turns(messages: list[dict[str, Any]]) -> None:
    """Claude on Bedrock refuses two turns of one role in a row, which the Messages API combines (message ``i`` is
    ``contents[i]``)."""
    for index in range(1, len(messages)):
        if messages[index]["role"] == messages[index - 1]["role"]:
            turn = "model" if messages[index]["role"] == "assistant" else "user"
            raise unsupported(f"contents[{index}]", PROVIDER, f"{CLAUDE_ALTERNATION}: two {turn} turns")


def _converse(params: Mapping[str, Any], model: str) -> dict[str, Any]:
    """Anthropic Messages params as a Converse request body."""
    if "tools" in params:
        raise unsupported("tools", PROVIDER, CONVERSE_NO_TOOLS)
    _check_conversation(params["messages"])
    documents = itertools.count(1)
    body: dict[str, Any] = {
        "messages": [
            {"role": message["role"], "content": _converse_content(message["content"], documents)}
            for message in params["messages"]
        ]
    }
    if "system" in params:
        body["system"] = _converse_content(params["system"], documents)
    config = {name: params[source] for source, name in _INFERENCE_CONFIG.items() if source in params}
    if "stop_sequences" in params:
        for index, stop in enumerate(params["stop_sequences"]):
            if not stop:
                raise unsupported(f"generationConfig.stopSequences[{index}]", PROVIDER, "Converse takes no empty one")
        config["stopSequences"] = params["stop_sequences"]
    body["inferenceConfig"] = config
    if "top_k" in params:
        if "anthropic" not in model:
            raise unsupported("generationConfig.topK", PROVIDER, "Converse has no topK outside Anthropic models")
        body["additionalModelRequestFields"] = {"top_k": params["top_k"]}
    return body


def _check_conversation(messages: list[dict[str, Any]]) -> None:
    """Converse's rules for the turns, which the Messages API does not share (message ``i`` is ``contents[i]``):
    the first is the user's and the roles alternate, no function calls or responses (batch inference refuses the
    toolConfig Converse needs for them), and a turn holds a document only beside a text, at most five documents
    and twenty images (its service model)."""
    for index, message in enumerate(messages):
        path = f"contents[{index}]"
        role = message["role"]
        if index == 0 and role != "user":
            raise unsupported(path, PROVIDER, "a Converse conversation starts with a user turn")
        if index and role == messages[index - 1]["role"]:
            turn = "model" if role == "assistant" else "user"
            raise unsupported(path, PROVIDER, f"Converse needs user and model turns to alternate: two {turn} turns")
        content = message["content"]
        kinds = Counter(block["type"] for block in content) if isinstance(content, list) else Counter(("text",))
        if kinds["tool_use"] or kinds["tool_result"]:
            raise unsupported(path, PROVIDER, CONVERSE_NO_TOOLS)
        if kinds["document"] and not kinds["text"]:
            raise unsupported(path, PROVIDER, "Converse takes a document only beside a text part in the same turn")
        for kind, most in (("document", MAX_DOCUMENTS), ("image", MAX_IMAGES)):
            if kinds[kind] > most:
                raise unsupported(path, PROVIDER, f"Converse takes at most {most} {kind}s in a turn")


def _converse_content(content: str | list[dict[str, Any]], documents: Iterator[int]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    return [_converse_block(block, documents) for block in content]


def _converse_block(block: Mapping[str, Any], documents: Iterator[int]) -> dict[str, Any]:
    kind = block["type"]
    if kind == "text":
        return {"text": block["text"]}
    if kind == "image":
        source = block["source"]
        return {"image": {"format": _IMAGE_FORMATS[source["media_type"]], "source": {"bytes": source["data"]}}}
    if kind == "document":
        source = block["source"]
        return {
            "document": {
                "format": _DOCUMENT_FORMATS[source["media_type"]],
                "name": f"document-{next(documents)}",
                "source": {"bytes": source["data"]},
            }
        }
    raise ValueError(f"content block type {kind!r} has no Converse equivalent")


# --- native lines --------------------------------------------------------------------------------------


def check_native(line: Mapping[str, Any], *, invocation_type: InvocationType, model: str = "") -> None:
    """Check a native ``{"recordId", "modelInput"}`` record for ``model``; ValueError(reason) if Bedrock would reject
    it. An InvokeModel body is an Anthropic Messages body when the model is Anthropic's or the body says
    ``anthropic_version``; such a body for a model named as another family's is refused (its model fails it)."""
    record_id = line.get("recordId")
    if isinstance(record_id, str) and not NATIVE_RECORD_ID.fullmatch(record_id):
        raise ValueError(
            f"'recordId' {record_id!r} is not an alphanumeric string: Bedrock fails a job holding such a record"
        )
    model_input = line.get("modelInput")
    if not isinstance(model_input, Mapping):
        raise ValueError("'modelInput' must be a JSON object")
    for name in _NATIVE_MODEL_FIELDS:
        if name in model_input:
            raise ValueError(f"'modelInput.{name}' is not allowed: Bedrock rejects extra keys (the job sets the model)")
    anthropic_body = invocation_type == INVOKE_MODEL and ("anthropic" in model or "anthropic_version" in model_input)
    named = _model_named(model)
    if anthropic_body and named and "anthropic" not in named:
        raise ValueError(
            f"'modelInput' is a Claude body (it sets anthropic_version), but the job runs {model!r}, whose model fails "
            "every such record: give a Claude model, or records in that model's own body"
        )
    if invocation_type == CONVERSE or anthropic_body:
        _check_known_members(model_input, CONVERSE_FIELDS if invocation_type == CONVERSE else ANTHROPIC_BODY_FIELDS)
        messages = model_input.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ValueError("'modelInput.messages' must be a non-empty list")
    if invocation_type == CONVERSE:
        _check_native_converse_tools(model_input)
    if anthropic_body:
        version = model_input.get("anthropic_version")
        if version != ANTHROPIC_VERSION:
            found = "is missing" if version is None else f"is {version!r}"
            raise ValueError(
                f"'modelInput.anthropic_version' {found}: Bedrock takes a Claude body only with {ANTHROPIC_VERSION!r}"
            )
        max_tokens = model_input.get("max_tokens")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise ValueError(f"'modelInput.max_tokens' must be a positive integer, got {max_tokens!r}")
        anthropic.check_native_sampling(model_input, "modelInput")
        check_system(model_input.get("system"), "modelInput.system")
    if invocation_type == CONVERSE or anthropic_body:
        for index, message in enumerate(model_input["messages"]):
            path = f"modelInput.messages[{index}]"
            if invocation_type == CONVERSE:
                _check_converse_message(message, path)
                if message["role"] == (model_input["messages"][index - 1]["role"] if index else "assistant"):
                    raise ValueError(
                        f"'{path}.role' is {message['role']!r}: a Converse conversation starts with a user turn and "
                        "alternates user and assistant turns"
                    )
            else:
                final = index == len(model_input["messages"]) - 1
                anthropic.check_native_message(message, path, anthropic.MESSAGE_ROLES, final=final)
                if index and message["role"] == model_input["messages"][index - 1]["role"]:
                    raise ValueError(f"'{path}.role' is {message['role']!r}: {CLAUDE_ALTERNATION}")
    if invocation_type == CONVERSE:
        converse_content.check_system(model_input.get("system"), "modelInput.system")
        _check_inference_config(model_input.get("inferenceConfig"))
        _check_service_tier(model_input.get("serviceTier"))
        _check_performance_config(model_input.get("performanceConfig"))
        _check_output_config(model_input.get("outputConfig"))
        converse_members.check_passthrough_members(model_input)


SERVICE_TIERS = ("priority", "default", "flex", "reserved")
"""The ``type`` of a Converse ``serviceTier`` (botocore ``ServiceTierType``)."""
MAX_EFFORT_LENGTH = 16
"""The longest ``outputConfig.effort`` Converse takes (botocore ``OutputConfigEffortString``)."""


def _check_service_tier(tier: Any) -> None:
    """A native Converse ``serviceTier`` as botocore's ``ServiceTier`` takes it: an object of one required ``type``
    of :data:`SERVICE_TIERS`; the model refuses any other for the record."""
    if tier is None:
        return
    if not isinstance(tier, Mapping):
        raise ValueError(f"'modelInput.serviceTier' must be a JSON object, got {json_type(tier)}")
    if unknown := sorted(tier.keys() - {"type"}):
        raise ValueError(f"'modelInput.serviceTier' has {', '.join(unknown)}, which Converse does not take")
    if tier.get("type") not in SERVICE_TIERS:
        raise ValueError(
            f"'modelInput.serviceTier.type' must be one of {', '.join(SERVICE_TIERS)}, got {tier.get('type')!r}"
        )


LATENCIES = ("standard", "optimized")
"""The ``latency`` of a Converse ``performanceConfig`` (botocore ``PerformanceConfigLatency``)."""


def _check_performance_config(config: Any) -> None:
    """A native Converse ``performanceConfig`` as botocore's ``PerformanceConfiguration`` takes it: an object of at
    most a ``latency`` of :data:`LATENCIES`; the model refuses any other for the record."""
    if config is None:
        return
    if not isinstance(config, Mapping):
        raise ValueError(f"'modelInput.performanceConfig' must be a JSON object, got {json_type(config)}")
    if unknown := sorted(config.keys() - {"latency"}):
        raise ValueError(f"'modelInput.performanceConfig' has {', '.join(unknown)}, which Converse does not take")
    if "latency" in config and config["latency"] not in LATENCIES:
        raise ValueError(
            f"'modelInput.performanceConfig.latency' must be one of {', '.join(LATENCIES)}, got {config['latency']!r}"
        )


def _check_output_config(config: Any) -> None:
    """A native Converse ``outputConfig`` as botocore's ``OutputConfig`` takes it: an object of an ``effort`` string
    of at most 16 characters and a ``textFormat`` of ``type`` json_schema whose ``structure`` holds a ``jsonSchema``
    with its ``schema`` as a string (and a ``name`` and ``description``, strings too); the model refuses any other."""
    if config is None:
        return
    where = "modelInput.outputConfig"
    if not isinstance(config, Mapping):
        raise ValueError(f"'{where}' must be a JSON object, got {json_type(config)}")
    if unknown := sorted(config.keys() - {"textFormat", "effort"}):
        raise ValueError(f"'{where}' has {', '.join(unknown)}, which Converse does not take")
    effort = config.get("effort")
    if effort is not None and (not isinstance(effort, str) or len(effort) > MAX_EFFORT_LENGTH):
        raise ValueError(f"'{where}.effort' must be a string of at most {MAX_EFFORT_LENGTH} characters, got {effort!r}")
    text_format = config.get("textFormat")
    if text_format is None:
        return
    if not isinstance(text_format, Mapping) or text_format.keys() != {"type", "structure"}:
        raise ValueError(f"'{where}.textFormat' must be an object of a type and a structure, and nothing else")
    if text_format["type"] != "json_schema":
        raise ValueError(f"'{where}.textFormat.type' must be 'json_schema', got {text_format['type']!r}")
    structure = text_format["structure"]
    if not isinstance(structure, Mapping) or structure.keys() != {"jsonSchema"}:
        raise ValueError(f"'{where}.textFormat.structure' must be an object holding jsonSchema, and nothing else")
    schema = structure["jsonSchema"]
    if not isinstance(schema, Mapping) or "schema" not in schema or schema.keys() - {"schema", "name", "description"}:
        raise ValueError(
            f"'{where}.textFormat.structure.jsonSchema' must be an object holding a schema (and at most a name and a "
            "description)"
        )
    for name, value in schema.items():
        if not isinstance(value, str):
            raise ValueError(
                f"'{where}.textFormat.structure.jsonSchema.{name}' must be a string (the schema as JSON text), got "
                f"{json_type(value)}"
            )


def _check_inference_config(config: Any) -> None:
    """A native Converse ``inferenceConfig`` as botocore's ``InferenceConfiguration`` takes it: an object of a
    ``maxTokens`` of at least 1, a ``temperature`` and a ``topP`` from 0 to 1, and a list of non-empty
    ``stopSequences``; the model refuses any other for the record."""
    if config is None:
        return
    if not isinstance(config, Mapping):
        raise ValueError(f"'modelInput.inferenceConfig' must be a JSON object, got {json_type(config)}")
    unknown = sorted(config.keys() - {"maxTokens", "temperature", "topP", "stopSequences"})
    if unknown:
        raise ValueError(f"'modelInput.inferenceConfig' has {', '.join(unknown)}, which Converse does not take")
    max_tokens = config.get("maxTokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise ValueError(f"'modelInput.inferenceConfig.maxTokens' must be a positive integer, got {max_tokens!r}")
    for name in ("temperature", "topP"):
        value = config.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1
        ):
            raise ValueError(f"'modelInput.inferenceConfig.{name}' must be a number from 0 to 1, got {value!r}")
    stops = config.get("stopSequences")
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(stop, str) and stop for stop in stops)):
        raise ValueError("'modelInput.inferenceConfig.stopSequences' must be a list of non-empty strings")


def _check_known_members(model_input: Mapping[str, Any], known: frozenset[str]) -> None:
    """A model input holding only the members its body takes: Bedrock fails a record with any other key."""
    unknown = sorted(model_input.keys() - known)
    if unknown:
        raise ValueError(
            f"'modelInput' has {', '.join(unknown)}, which the model's body does not take: Bedrock fails the record "
            "with 'extraneous key'"
        )


def _check_converse_message(message: Any, path: str) -> None:
    """One message of a native Converse record (botocore's ``Message``: a role of user or assistant and a list of
    content blocks, both required; a system role only carries tool changes); any other fails the record."""
    if not isinstance(message, Mapping):
        raise ValueError(f"'{path}' must be a JSON object")
    if "role" not in message:
        raise ValueError(f"'{path}.role' is missing: a message requires it")
    role = message["role"]
    if role == "system":
        raise ValueError(f"'{path}.role' is 'system': {CONVERSE_SYSTEM_ROLE}")
    if role not in anthropic.MESSAGE_ROLES:
        raise ValueError(f"'{path}.role' {role!r} is not one of {', '.join(anthropic.MESSAGE_ROLES)}")
    converse_content.check_message_content(message.get("content"), f"{path}.content")


def _check_native_converse_tools(model_input: Mapping[str, Any]) -> None:
    """A native Converse record may neither carry a ``toolConfig`` nor hold blocks that call, answer, add or remove
    a tool."""
    if "toolConfig" in model_input:
        raise ValueError(f"'modelInput.toolConfig' is refused: {CONVERSE_NO_TOOLS}")
    for index, message in enumerate(model_input["messages"]):
        content = message.get("content") if isinstance(message, Mapping) else None
        for block in content if isinstance(content, list) else ():
            name = next((n for n in _CONVERSE_TOOL_BLOCKS if isinstance(block, Mapping) and n in block), None)
            if name is not None:
                raise ValueError(f"'modelInput.messages[{index}]' holds a {name} block: {CONVERSE_NO_TOOLS}")


# --- model invocation jobs -----------------------------------------------------------------------------


def input_uri_of(data: Mapping[str, Any]) -> str | None:
    """The job's S3 input URI (a ``.jsonl`` file or a folder prefix)."""
    return ((data.get("inputDataConfig") or {}).get("s3InputDataConfig") or {}).get("s3Uri")


def output_uri_of(data: Mapping[str, Any]) -> str | None:
    """The job's S3 output prefix."""
    return ((data.get("outputDataConfig") or {}).get("s3OutputDataConfig") or {}).get("s3Uri")


def job_output_dir(data: Mapping[str, Any]) -> str | None:
    """``<output prefix>/<job-id>/``: where Bedrock writes the job's ``.out`` files and manifest."""
    output = output_uri_of(data)
    return f"{output.rstrip('/')}/{job_id(data['jobArn'])}/" if output else None


def output_file_uri(data: Mapping[str, Any]) -> str | None:
    """``<output prefix>/<job-id>/<input basename>.out`` for a single-file input; None for a folder input."""
    directory, source = job_output_dir(data), input_uri_of(data)
    if not directory or not source or source.endswith("/"):
        return None
    return directory + source.rsplit("/", 1)[-1] + OUTPUT_SUFFIX


def parse_job(data: Mapping[str, Any]) -> BatchJob:
    """A GetModelInvocationJob response or a list summary as a BatchJob."""
    status = data.get("status")
    state = STATUSES.get(status or "", JobState.UNSPECIFIED)
    total, processed = job_count(data, "totalRecordCount"), job_count(data, "processedRecordCount")
    return BatchJob(
        name=data["jobArn"],
        provider=PROVIDER,
        display_name=data.get("jobName"),
        model=data.get("modelId"),
        state=state,
        provider_state=status,
        create_time=parse_rfc3339(data.get("submitTime")),
        update_time=parse_rfc3339(data.get("lastModifiedTime")),
        end_time=parse_rfc3339(data.get("endTime")),
        stats=BatchStats(
            total=total,
            succeeded=job_count(data, "successRecordCount"),
            failed=job_count(data, "errorRecordCount"),
            pending=0 if state.is_terminal else max(total - processed, 0),
        ),
        input_file=input_uri_of(data),
        output_file=output_file_uri(data),
        error_message=(data.get("message") or _DEFAULT_MESSAGES[state]) if state in _DEFAULT_MESSAGES else None,
        raw=dict(data),
    )


# --- output lines --------------------------------------------------------------------------------------


def result_row(line: Mapping[str, Any]) -> ResultRow:
    """One line of a ``.jsonl.out`` file: ``modelOutput`` or ``error``.

    ``modelOutput`` is the model's own response body: Converse's (and Amazon Nova's InvokeModel body, which has its
    shape), an Anthropic Message (content blocks, or its ``type``), or another model's InvokeModel body (see
    :func:`native_row`).
    """
    key = line.get("recordId")
    error = line.get("error")
    if error:
        details = error if isinstance(error, Mapping) else {"errorMessage": str(error)}
        return ResultRow(
            key=key,
            status=RowStatus.FAILED,
            error=RowError(message=str(details.get("errorMessage") or ""), code=details.get("errorCode")),
        )
    output = line.get("modelOutput")
    if not output or not isinstance(output, Mapping):
        return ResultRow(key=key, status=RowStatus.FAILED, error=RowError(message="the line has no modelOutput"))
    if output.get("type") == ANTHROPIC_ERROR:
        return _error_body_row(key, output.get("error"))
    if isinstance(output.get("output"), Mapping) or "stopReason" in output:
        if not isinstance(inner := output.get("output"), Mapping):
            raise ValueError(f"modelOutput.output must be an object holding the message, got {json_type(inner)}")
        message = output["output"].get("message") or {}
        text = _converse_text(message)
        if not text and (unanswered := _converse_unanswered(key, message, output)) is not None:
            return unanswered
        return ResultRow(key=key, status=RowStatus.SUCCEEDED, text=text, response=output, usage=_usage(output))
    if isinstance(output.get("content"), list) or output.get("type") == ANTHROPIC_MESSAGE:
        text = message_text(output)
        usage = anthropic_usage(output.get("usage"))
        if not text and (unanswered := anthropic.unanswered_row(key, output, usage)) is not None:
            return unanswered
        return ResultRow(key=key, status=RowStatus.SUCCEEDED, text=text, response=output, usage=usage)
    return native_row(key, output)


ANTHROPIC_MESSAGE = "message"
"""The ``type`` of an Anthropic Message: a body of that type is read as one (and is unreadable if it is not one)."""
ANTHROPIC_ERROR = "error"
"""The ``type`` of an Anthropic error body (``{"type": "error", "error": {"type", "message"}}``): a failed row."""


def _error_body_row(key: Any, error: Any) -> ResultRow:
    """The failed row of a ``modelOutput`` that is an Anthropic error body: its error's ``type`` as the code (so an
    ``overloaded_error`` is sent again by a follow-up round) and its ``message``. It is no answer: landed as another
    model's body, it was a success without text."""
    detail = error if isinstance(error, Mapping) else {}
    message, kind = detail.get("message"), detail.get("type")
    said = message if isinstance(message, str) and message else "modelOutput is an error body without a message"
    code = kind if isinstance(kind, str) else None
    return ResultRow(key=key, status=RowStatus.FAILED, error=RowError(message=said, code=code))


CONVERSE_BLOCKS = frozenset({"content_filtered", "guardrail_intervened"})
"""Converse ``stopReason`` values that say the answer was withheld by a filter or a guardrail."""
CONVERSE_MALFORMED = frozenset({"malformed_model_output", "malformed_tool_use"})
"""Converse ``stopReason`` values that say the model wrote an answer or a tool call Bedrock could not parse: a
``malformed_output`` row (sent again by a follow-up round) when it holds no text."""
CONVERSE_STOP_REASONS = frozenset(
    {
        "end_turn",
        "tool_use",
        "stop_sequence",
        anthropic.MAX_TOKENS,
        anthropic.CONTEXT_WINDOW,
        *CONVERSE_BLOCKS,
        *CONVERSE_MALFORMED,
    }
)
"""Every Converse ``stopReason``: under one that is neither a block's, the output limit's nor a malformed answer's,
a message with no text and no tool call is a ``no_answer`` row."""


def _converse_unanswered(key: Any, message: Mapping[str, Any], output: Mapping[str, Any]) -> ResultRow | None:
    """The failed row of a Converse answer without text that was blocked, cut off by the output limit or the context
    window, written unparseably, or that holds no tool call (``no_answer``); None for one holding a tool call or a
    text block."""
    reason = output.get("stopReason")
    if reason in CONVERSE_BLOCKS:
        said = f"the answer was blocked: stopReason {reason}, and it holds no content"
        return blocked_row(key, reason, said, output, _usage(output))
    if reason in CONVERSE_MALFORMED:
        said = f"the model wrote an answer Bedrock could not parse: stopReason {reason}, and it holds no text"
        return no_answer_row(key, reason, said, output, _usage(output), malformed=True)
    if any("toolUse" in block or "text" in block for block in message.get("content") or ()):
        return None
    if reason == anthropic.MAX_TOKENS:
        said = f"the answer reached the output token limit: stopReason {reason}, and it holds no text"
        return output_limit_row(key, reason, said, output, _usage(output))
    if reason == anthropic.CONTEXT_WINDOW:
        said = f"the answer reached the model's context window: stopReason {reason}, and it holds no text"
        return output_limit_row(key, reason, said, output, _usage(output), CONTEXT_ADVICE)
    status = reason if isinstance(reason, str) and reason else None
    why = f"stopReason {status}" if status else "no stopReason"
    said = f"the answer holds nothing: {why}, and it holds no text and no tool call"
    return no_answer_row(key, status, said, output, _usage(output))


def _converse_text(message: Mapping[str, Any]) -> str | None:
    """The text blocks of a Converse message joined; None when it has none. ValueError for a text block whose text is
    not a string: an answer that cannot be read, not one whose text is left out."""
    texts = []
    for index, block in enumerate(message.get("content") or []):
        text = block.get("text")  # a block that is no object cannot be read: AttributeError
        if text is not None or "text" in block:
            if type(text) is not str:
                raise ValueError(f"output.message.content[{index}].text must be a string, got {json_type(text)}")
            texts.append(text)
    return "".join(texts) if texts else None


def _usage(output: Mapping[str, Any]) -> Usage | None:
    """A Converse answer's usage, in the manifest's meanings: input with the cache reads and writes ``inputTokens``
    leaves out (Amazon Nova's InvokeModel body names them ``cacheReadInputTokenCount`` and
    ``cacheWriteInputTokenCount``). None for none, or for one that cannot be read (the answer lands all the same)."""
    usage = output.get("usage")
    if not usage:
        return None
    try:
        get = usage.get
        cached = [get(name) for name in _CACHE_COUNTS]
    except AttributeError:
        return None
    if any(counted_usage(count) is None for count in cached):
        return None  # a cache count that is no count (a boolean, a negative number) is not added in as one
    read, read_nova, written, written_nova = cached
    given, read, written = get("inputTokens"), read or read_nova, written or written_nova
    if (read or written) and counted_usage(given) is not None:
        given = (given or 0) + (read or 0) + (written or 0)
    return counted_usage(given, get("outputTokens"), get("totalTokens"))


_CACHE_COUNTS = (
    "cacheReadInputTokens",
    "cacheReadInputTokenCount",
    "cacheWriteInputTokens",
    "cacheWriteInputTokenCount",
)
"""A Converse usage's cache reads and writes (and Amazon Nova's names for them), which its ``inputTokens`` leaves
out."""


# --- dialect -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BedrockDialect:
    """Bedrock's format policy: ``recordId/modelInput`` records in S3, at least 100 per job, alphanumeric ids.

    ``invocation_type`` decides the shape of ``modelInput``; ``default_max_tokens`` fills a translated
    request that sets no ``maxOutputTokens``.
    """

    invocation_type: InvocationType = INVOKE_MODEL
    default_max_tokens: int = anthropic.DEFAULT_MAX_TOKENS

    provider: ClassVar[str] = PROVIDER
    vertex_fields: ClassVar[bool] = False
    native_format: ClassVar[InputFormat] = InputFormat.BEDROCK
    limits: ClassVar[ProviderLimits] = ProviderLimits(min_requests=100)
    capabilities: ClassVar[ProviderCapabilities] = ProviderCapabilities(
        file_input=True, inline_input=False, embeddings=False, delete=False
    )

    @property
    def inline(self) -> BedrockDialect:
        """Bedrock takes no inline requests: this same dialect."""
        return self

    def to_native(self, line: Mapping[str, Any], *, model: str, embeddings: bool) -> dict[str, Any]:
        if embeddings:
            raise ValueError(EMBEDDINGS_UNSUPPORTED)
        return from_gemini(line, model=model, invocation_type=self.invocation_type, max_tokens=self.default_max_tokens)

    def check_native(self, line: Mapping[str, Any], *, model: str) -> str | None:
        check_native(line, invocation_type=self.invocation_type, model=model)
        return None

    def passes_through(self, *, model: str, embeddings: bool) -> bool:
        return True

    def provider_key(self, key: str) -> str:
        return record_id(key)

    def result_row(self, line: Mapping[str, Any]) -> ResultRow:
        return result_row(line)
