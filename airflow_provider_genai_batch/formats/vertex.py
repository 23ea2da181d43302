"""Vertex AI batch prediction wire format: job resources, labels, model names, input and result lines.

A Vertex generation line is the canonical Gemini line itself, ``{"key", "request"}``: Vertex reads
``request`` and keeps every other field as a column it echoes into the output, so the key comes back
on its result line. So is an embeddings line for a ``gemini-embedding-*`` model (``request`` is an
EmbedContentRequest); for a text-embedding model (``text-embedding-005``, ...) it is an *instance*
``{"key", "content", "task_type"?, "title"?}``, echoed whole as ``instance`` in its result. Everything
here is pure: the hook does the I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from airflow_provider_genai_batch.formats import gemini
from airflow_provider_genai_batch.formats.detect import InputFormat
from airflow_provider_genai_batch.formats.dialect import ProviderCapabilities, ProviderLimits
from airflow_provider_genai_batch.formats.gemini_line import check_api_rules
from airflow_provider_genai_batch.formats.results import (
    ResultRow,
    RowError,
    RowStatus,
    Usage,
    counted_usage,
    embedding_values,
    int64_count,
)
from airflow_provider_genai_batch.formats.times import parse_rfc3339
from airflow_provider_genai_batch.formats.translate import check_fields, fields, line_parts, read_parts, unsupported
from airflow_provider_genai_batch.idempotency import KEY_PATTERN, JobIdentity
from airflow_provider_genai_batch.models import BatchJob, BatchStats, JobState

PROVIDER = "vertex"

KEY_LABEL = "genai_batch_key"
"""The job label that holds the idempotency key (a lookup filters the listing on it)."""
INPUT_LABEL = "genai_batch_input"
"""The job label that holds the first :data:`LABEL_VALUE_MAX` characters of the input fingerprint."""
RESERVED_LABELS = frozenset({KEY_LABEL, INPUT_LABEL})
LABEL_KEY_MAX = LABEL_VALUE_MAX = 63
MAX_LABELS = 64

MAX_REQUESTS = 200_000
"""Requests in one Gemini batch prediction job."""
MAX_FILE_BYTES = 1_000_000_000
"""Size of one JSONL input file in Cloud Storage (1 GB, read as decimal: the stricter reading)."""

TEXT_EMBEDDING_MAX_REQUESTS = 30_000
"""Prompts in one text-embedding batch job ("Each request can include up to 30,000 prompts")."""

GEMINI_EMBEDDING_PREFIX = "gemini-embedding-"
"""Embeddings models that read a canonical line's ``request`` (an EmbedContentRequest) as it is."""

STATES: dict[str, JobState] = {state.value: state for state in JobState}

_IDENTITY_KEY = re.compile(KEY_PATTERN)
_FINGERPRINT_PREFIX = re.compile(r"[0-9a-f]{16,63}")
_GS_URI = re.compile(r"gs://[a-z0-9][-_.a-z0-9]{1,220}[a-z0-9](/.*)?")
_BQ_URI = re.compile(r"bq://[A-Za-z0-9_.:-]+\.[A-Za-z0-9_]+\.[^./\s]+")
_PUBLISHER_MODEL = re.compile(r"publishers/[^/]+/models/[^/@]+(?:@[^/]+)?")
_FULL_MODEL = re.compile(r"projects/[^/]+/locations/(?P<location>[^/]+)/(?:publishers/[^/]+/)?models/[^/@]+(?:@[^/]+)?")
_MODEL_PUBLISHER = re.compile(r"(?:^|/)publishers/(?P<publisher>[^/]+)/models/")
_GCS_WILDCARD = re.compile(r"[*?\[]")
_VERTEX_CACHE = re.compile(r"projects/[^/]+/locations/[^/]+/cachedContents/[^/]+")
_GEMINI_FILES = ("files/", "https://generativelanguage.googleapis.com/")
_EMBED_FIELDS = ("model", "content", "taskType", "title")
_EMBED_REASONS = {
    "outputDimensionality": "a Vertex text-embedding batch sets the output size for the whole job, not per request",
}


# --- labels ------------------------------------------------------------------------------------------


def check_labels(labels: Mapping[str, str]) -> None:
    """Raise ValueError naming the first user label Google Cloud would refuse, or one of ours.

    Keys start with a lowercase letter and hold lowercase letters, digits, ``_`` and ``-`` (1-63 characters;
    letters may be international); values hold the same characters (0-63). A job keeps at most 64 labels,
    two of which are this provider's own.
    """
    if len(labels) > MAX_LABELS - len(RESERVED_LABELS):
        raise ValueError(
            f"{len(labels)} labels: a Vertex job keeps at most {MAX_LABELS}, {len(RESERVED_LABELS)} of them "
            "this provider's own"
        )
    for key, value in labels.items():
        if key in RESERVED_LABELS:
            raise ValueError(f"label {key!r} is reserved: this provider writes it to find the job again")
        if not isinstance(key, str) or not 1 <= len(key) <= LABEL_KEY_MAX or not _label_letter(key[0]):
            raise ValueError(f"label key {key!r} must be 1-{LABEL_KEY_MAX} characters starting with a lowercase letter")
        _check_label_text(key, f"label key {key!r}")
        if not isinstance(value, str) or len(value) > LABEL_VALUE_MAX:
            raise ValueError(f"label {key!r}: the value must be a string of at most {LABEL_VALUE_MAX} characters")
        _check_label_text(value, f"label {key!r}: value {value!r}")


def _label_letter(char: str) -> bool:
    return char.isalpha() and not char.isupper() and char == char.lower()


def _check_label_text(text: str, what: str) -> None:
    for char in text:
        if not (_label_letter(char) or char.isdigit() or char in "_-"):
            raise ValueError(f"{what} holds {char!r}: only lowercase letters, digits, '_' and '-' are allowed")


def identity_labels(key: str | None, fingerprint: str | None) -> dict[str, str]:
    """The labels that carry a job's idempotency key and (the first 63 characters of) its input fingerprint."""
    labels: dict[str, str] = {}
    if key is not None:
        labels[KEY_LABEL] = key
        if fingerprint is not None:
            labels[INPUT_LABEL] = fingerprint[:LABEL_VALUE_MAX]
    return labels


def identity_in_labels(labels: Mapping[str, Any] | None) -> JobIdentity | None:
    """The identity a job's labels carry, read back exactly; None when they carry none of ours."""
    key = (labels or {}).get(KEY_LABEL)
    if not isinstance(key, str) or not _IDENTITY_KEY.fullmatch(key):
        return None
    fingerprint = (labels or {}).get(INPUT_LABEL)
    if not isinstance(fingerprint, str) or not _FINGERPRINT_PREFIX.fullmatch(fingerprint):
        return JobIdentity(key)
    return JobIdentity(key, fingerprint)


def key_filter(key: str) -> str:
    """The list filter that selects the jobs labelled with ``key`` (AIP-160)."""
    if not _IDENTITY_KEY.fullmatch(key):
        raise ValueError(f"idempotency key {key!r} is not 'gbk-' and 20 lowercase hex digits")
    return f'labels.{KEY_LABEL}="{key}"'


# --- names and the create body -----------------------------------------------------------------------


def model_resource(model: str, location: str | None = None) -> str:
    """The ``model`` of a job: a bare id is a Google publisher model; ``publisher/id`` that publisher's model;
    ``publishers/<publisher>/models/<id>`` and ``projects/<p>/locations/<l>/[publishers/<publisher>/]models/<id>``
    names are kept, the latter only in the job's ``location`` when it is given. ValueError for any other resource
    name (a tuned model's endpoint, say) and for a Gemini API ``models/`` name."""
    if not model or ".." in model or "?" in model or "&" in model:
        raise ValueError(f"invalid model name {model!r}")
    if model.startswith("projects/"):
        match = _FULL_MODEL.fullmatch(model)
        if match is None:
            raise ValueError(
                f"model {model!r} is not a model a batch job runs: give a tuned model as "
                "projects/<project>/locations/<location>/models/<id> (not its endpoint), or a publisher model"
            )
        if location is not None and match["location"] != location:
            raise ValueError(
                f"model {model!r} is in location {match['location']!r}, and a job's model must be in the job's "
                f"location, {location!r} (the connection's)"
            )
        return model
    if model.startswith("publishers/"):
        if not _PUBLISHER_MODEL.fullmatch(model):
            raise ValueError(f"model {model!r} is not a publisher model: publishers/<publisher>/models/<id>")
        return model
    if model.startswith(("models/", "tunedModels/")):
        raise ValueError(
            f"model {model!r} is a Gemini API name; on Vertex give 'gemini-2.5-flash' or 'publishers/google/models/...'"
        )
    if "/" in model:
        publisher, model_id = model.split("/", 1)
        return f"publishers/{publisher}/models/{model_id}"
    return f"publishers/google/models/{model}"


def check_model(model: str, location: str) -> None:
    """Raise ValueError unless a job in ``location`` can run ``model`` on the Gemini lines this provider sends: a
    model name Vertex takes (:func:`model_resource`) of a Google publisher model or a tuned model. Another
    publisher's models (Anthropic's, Meta's, ...) read that publisher's own request format."""
    resource = model_resource(model, location)
    publisher = _MODEL_PUBLISHER.search(resource)
    if publisher is not None and publisher["publisher"] != "google":
        raise ValueError(
            f"model {model!r} is a {publisher['publisher']} model, which reads {publisher['publisher']}'s own request "
            "format; Vertex batch jobs here send Gemini requests: give a Google model (gemini-*, text-embedding-*, "
            "gemini-embedding-*) or a tuned Gemini model"
        )


def check_gcs_uri(uri: str, what: str) -> str:
    """``uri`` if it is a ``gs://bucket/...`` URI; ValueError naming ``what`` otherwise."""
    if not _GS_URI.fullmatch(uri):
        raise ValueError(f"{what} {uri!r} is not a gs://bucket/path URI")
    return uri


def names_one_object(uri: str) -> bool:
    """Whether a job given the input ``uri`` reads that one object: Vertex expands Cloud Storage wildcards (``*``,
    ``?``, ``[...]``) in ``gcsSource.uris``, so a name holding them may match other objects, or none."""
    return _GCS_WILDCARD.search(uri) is None


def check_table_uri(uri: str, what: str) -> str:
    """``uri`` if it is a ``bq://project.dataset.table`` URI; ValueError naming ``what`` otherwise."""
    if not _BQ_URI.fullmatch(uri):
        raise ValueError(f"{what} {uri!r} is not a bq://project.dataset.table URI")
    return uri


def input_config(uri: str) -> dict[str, Any]:
    """The job's ``inputConfig`` for a JSONL object in Cloud Storage or a BigQuery table."""
    if uri.startswith("bq://"):
        return {"instancesFormat": "bigquery", "bigquerySource": {"inputUri": check_table_uri(uri, "input table")}}
    return {"instancesFormat": "jsonl", "gcsSource": {"uris": [check_gcs_uri(uri, "input")]}}


def output_config(uri: str) -> dict[str, Any]:
    """The job's ``outputConfig`` for a Cloud Storage prefix or a BigQuery table."""
    if uri.startswith("bq://"):
        return {
            "predictionsFormat": "bigquery",
            "bigqueryDestination": {"outputUri": check_table_uri(uri, "destination table")},
        }
    return {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": check_gcs_uri(uri, "destination")}}


def create_body(
    *, display_name: str, model: str, input_uri: str, output_uri: str, labels: Mapping[str, str]
) -> dict[str, Any]:
    """The body of ``batchPredictionJobs.create``."""
    body: dict[str, Any] = {
        "displayName": display_name,
        "model": model_resource(model),
        "inputConfig": input_config(input_uri),
        "outputConfig": output_config(output_uri),
    }
    if labels:
        body["labels"] = dict(labels)
    return body


# --- job resources -----------------------------------------------------------------------------------


def parse_job(data: Mapping[str, Any]) -> BatchJob:
    """A ``BatchPredictionJob`` resource (int64 counts arrive as strings, zeros may be left out)."""
    provider_state = data.get("state", "JOB_STATE_UNSPECIFIED")
    stats = data.get("completionStats") or {}
    succeeded, failed, incomplete = (int64_count(stats, name) for name in _STAT_FIELDS)
    error = data.get("error") or {}
    return BatchJob(
        name=data.get("name", ""),
        provider=PROVIDER,
        display_name=data.get("displayName"),
        model=data.get("model"),
        state=STATES.get(provider_state, JobState.UNSPECIFIED),
        provider_state=provider_state,
        create_time=parse_rfc3339(data.get("createTime")),
        update_time=parse_rfc3339(data.get("updateTime")),
        end_time=parse_rfc3339(data.get("endTime")),
        stats=BatchStats(total=succeeded + failed + incomplete, succeeded=succeeded, failed=failed, pending=incomplete),
        input_file=job_input_uri(data),
        output_location=output_location(data),
        error_message=error.get("message") or None,
        raw=dict(data),
    )


_STAT_FIELDS = ("successfulCount", "failedCount", "incompleteCount")


def job_input_uri(data: Mapping[str, Any]) -> str | None:
    """The job's input: its (first) Cloud Storage URI or its BigQuery table URI."""
    config = data.get("inputConfig") or {}
    uris = (config.get("gcsSource") or {}).get("uris") or []
    if uris:
        return str(uris[0])
    table = (config.get("bigquerySource") or {}).get("inputUri")
    return str(table) if table else None


def output_location(data: Mapping[str, Any]) -> str | None:
    """Where the job wrote: ``outputInfo.gcsOutputDirectory``, or its output table as ``bq://project.dataset.table``."""
    info = data.get("outputInfo") or {}
    if info.get("gcsOutputDirectory"):
        return str(info["gcsOutputDirectory"])
    table = info.get("bigqueryOutputTable")
    if not table:
        return None
    table = str(table)
    if table.startswith("bq://"):
        return table
    dataset = str(info.get("bigqueryOutputDataset") or "").removeprefix("bq://")
    return f"bq://{dataset}.{table}" if dataset and "." not in table else f"bq://{table}"


# --- lines -------------------------------------------------------------------------------------------


def is_text_embedding_model(model: str) -> bool:
    """Whether an embeddings model reads text-embedding instances (``text-embedding-005``, ...) rather than
    EmbedContentRequests in ``request`` (the ``gemini-embedding-*`` models)."""
    model_id = model.rsplit("/", 1)[-1].split("@", 1)[0]
    return not model_id.startswith(GEMINI_EMBEDDING_PREFIX)


def max_requests(model: str, *, embeddings: bool) -> int | None:
    """The most requests one job of ``model`` holds where that is under :data:`MAX_REQUESTS`: a text-embedding
    model's :data:`TEXT_EMBEDDING_MAX_REQUESTS`; None otherwise."""
    return TEXT_EMBEDDING_MAX_REQUESTS if embeddings and is_text_embedding_model(model) else None


def table_column(model: str, *, embeddings: bool) -> str:
    """The column of an input table the model reads each row's request from: ``content`` (its text) for a
    text-embedding model, ``request`` otherwise. ValueError for a ``gemini-embedding-*`` model, whose batches
    Vertex reads from JSONL in Cloud Storage only."""
    if not embeddings:
        return "request"
    if is_text_embedding_model(model):
        return "content"
    raise ValueError(
        f"Vertex reads {model} batches from JSONL in Cloud Storage only, not from a table: export the table to "
        "a gs:// JSONL file"
    )


def embedding_instance(line: Mapping[str, Any], model: str) -> dict[str, Any]:
    """A canonical embeddings line as a text-embedding instance with its key: ``{"key", "content", ...}``.

    The content's text parts are joined by newlines, as one text; ``taskType`` and ``title`` become the
    instance's ``task_type`` and ``title``. Anything a text-embedding instance cannot hold is an error.
    """
    key, request = line_parts(line)
    check_fields(request, _EMBED_FIELDS, "request", PROVIDER, _EMBED_REASONS)
    line_model = request.get("model")
    if line_model is not None and str(line_model).rsplit("/", 1)[-1] != model.rsplit("/", 1)[-1]:
        raise ValueError(f"request.model {line_model!r} differs from the batch model {model!r}")
    _, parts = read_parts(request.get("content"), "request.content", PROVIDER)
    for part in parts:
        if part.kind != "text":
            raise unsupported(f"{part.path}.{part.kind}", PROVIDER, "a Vertex text-embedding instance holds text only")
    instance: dict[str, Any] = {"key": key, "content": "\n".join(part.value for part in parts)}
    if request.get("taskType") is not None:
        instance["task_type"] = request["taskType"]
    if request.get("title") is not None:
        instance["title"] = request["title"]
    if line.get("metadata") is not None:
        instance["metadata"] = line["metadata"]
    return instance


def check_generation_line(line: Mapping[str, Any]) -> None:
    """What Vertex reads differently from the Gemini API in a request already checked against its schema:
    file parts must name Cloud Storage or web objects, not Gemini API files, and a context cache is named with
    its project and location."""
    request = fields(line.get("request"), "request")
    check_cache_name(request.get("cachedContent"), "request.cachedContent")
    for index, content in enumerate(request.get("contents") or ()):
        for number, part in enumerate((content or {}).get("parts") or () if isinstance(content, Mapping) else ()):
            data = part.get("fileData") or part.get("file_data") if isinstance(part, Mapping) else None
            uri = (data.get("fileUri") or data.get("file_uri")) if isinstance(data, Mapping) else None
            if isinstance(uri, str) and uri.startswith(_GEMINI_FILES):
                raise ValueError(
                    f"request.contents[{index}].parts[{number}].fileData.fileUri {uri!r} is a Gemini API file, "
                    "which Vertex cannot read: give a gs:// URI"
                )


def check_cache_name(name: Any, path: str) -> None:
    """ValueError for a context cache Vertex would not find: it names caches
    ``projects/<project>/locations/<location>/cachedContents/<id>``. A Gemini API name (``cachedContents/<id>``, a bare
    id) is refused rather than completed: google-genai completes it with the client's project and location, which a
    request line does not know, and every row would fail."""
    if isinstance(name, str) and not _VERTEX_CACHE.fullmatch(name):
        raise ValueError(
            f"{path} {name!r} is not a Vertex context cache: Vertex names a cache "
            "projects/<project>/locations/<location>/cachedContents/<id>, in the job's location (cachedContents/<id> "
            "names a Gemini API cache, which Vertex cannot read)"
        )


def result_row(line: Mapping[str, Any]) -> ResultRow:
    """One Vertex result: a generation line (``key``, ``response`` or ``status``) or an embeddings line
    (``instance`` with the key, ``predictions`` or ``status``). A non-empty ``status`` is the row's error."""
    instance = line.get("instance")
    key = line.get("key")
    if key is None and isinstance(instance, Mapping):
        key = instance.get("key")
    status = line.get("status")
    if status:
        return ResultRow(key=key, status=RowStatus.FAILED, error=_row_error(status))
    if "predictions" in line:
        return _embedding_row(key, _json_cell(line["predictions"]))
    response = _json_cell(line.get("response"))
    if not response:
        return ResultRow(
            key=key, status=RowStatus.FAILED, error=RowError(message="the result holds neither a response nor a status")
        )
    return gemini.result_row({"key": key, "response": response})


def _json_cell(value: Any) -> Any:
    """A value a BigQuery STRING column holds as JSON text, decoded (JSON columns arrive decoded already)."""
    return json.loads(value) if isinstance(value, str) and value[:1] in ("{", "[") else value


def _embedding_row(key: Any, predictions: Any) -> ResultRow:
    """The row of a text-embedding result: its one prediction's embedding and token count. ValueError for a list of
    several (an instance has one): landed from the first, the others, and their token counts, would be dropped."""
    if isinstance(predictions, list) and len(predictions) > 1:
        raise ValueError(f"predictions holds {len(predictions)} predictions, where an instance has one")
    first = predictions[0] if isinstance(predictions, list) and predictions else {}
    embeddings = first.get("embeddings") or {}
    values = embeddings.get("values")
    if values is None:
        return ResultRow(key=key, status=RowStatus.FAILED, error=RowError(message="the prediction holds no embedding"))
    return ResultRow(
        key=key,
        status=RowStatus.SUCCEEDED,
        embedding=[float(value) for value in embedding_values(values, "predictions[0].embeddings.values")],
        response=first,
        usage=_embedding_usage(embeddings.get("statistics")),
    )


def _embedding_usage(statistics: Any) -> Usage | None:
    """A prediction's ``statistics.token_count`` as its usage; None for none, or for a count that is not an integer
    from 0 to 2**53 - 1 (the embedding is landed all the same)."""
    try:
        tokens = statistics["token_count"]
    except (KeyError, TypeError):
        return None
    if type(tokens) is float and tokens.is_integer():
        tokens = int(tokens)  # a prediction's statistics are JSON numbers, which may be written 7.0
    return counted_usage(tokens, None, tokens)


def _row_error(status: Any) -> RowError:
    if isinstance(status, Mapping):
        return RowError(
            message=str(status.get("message") or status), code=status.get("code"), status=status.get("status")
        )
    return RowError(message=str(status))


# --- dialect -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VertexDialect:
    """Vertex AI's format policy: generation lines are the canonical lines (checked as the Gemini API's, plus
    what Vertex reads differently); embeddings lines become text-embedding instances; keys travel as they are."""

    provider: ClassVar[str] = PROVIDER
    vertex_fields: ClassVar[bool] = True
    native_format: ClassVar[InputFormat] = InputFormat.GEMINI
    limits: ClassVar[ProviderLimits] = ProviderLimits(max_requests=MAX_REQUESTS, max_file_bytes=MAX_FILE_BYTES)
    capabilities: ClassVar[ProviderCapabilities] = ProviderCapabilities(
        file_input=True,
        inline_input=False,
        embeddings=True,
        cancel=True,
        delete=True,
        find_by_key=True,
        labels=True,
        destinations=frozenset({"gs", "bq"}),
    )

    @property
    def inline(self) -> VertexDialect:
        """Vertex takes no inline requests; a list of requests goes up as a file in this same format."""
        return self

    def passes_through(self, *, model: str, embeddings: bool) -> bool:
        """Whether a canonical line goes to Vertex as it is: all do but the embeddings lines of a text-embedding
        model, which become instances."""
        return not (embeddings and is_text_embedding_model(model))

    def to_native(self, line: Mapping[str, Any], *, model: str, embeddings: bool) -> dict[str, Any]:
        if embeddings and is_text_embedding_model(model):
            return embedding_instance(line, model)
        if not embeddings:
            check_generation_line(line)
        return dict(line)

    def check_native(self, line: Mapping[str, Any], *, model: str) -> str | None:
        if "contents" in (line.get("request") or {}):
            check_generation_line(line)
            check_api_rules(line["request"])
        return None

    def provider_key(self, key: str) -> str:
        return key

    def result_row(self, line: Mapping[str, Any]) -> ResultRow:
        return result_row(line)
