"""What Vertex's batchPredictionJobs API refuses when a job is created: body fields, model names, input and
output configs, URIs and labels, each with the error the service gives.

Only the shape of a request is checked here; whether its input exists is found when the job imports its
data (see `sources`), and a missing input fails the job, as the real service does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from airflow_provider_genai_batch.testing.emulator.common import JsonBodyErrors, read_json_object
from airflow_provider_genai_batch.testing.emulator.gemini.validation import unknown_field
from airflow_provider_genai_batch.testing.emulator.gemini.wire import get_field
from airflow_provider_genai_batch.testing.emulator.vertex.wire import (
    VertexError,
    field_errors,
    invalid_argument,
    not_found,
    project_number,
)

LineKind = Literal["generate", "embed_text", "embed_gemini"]
"""How a model reads a line: a GenerateContentRequest, a text-embedding instance, or an EmbedContentRequest."""

JOB_FIELDS = frozenset(
    {
        "name",
        "displayName",
        "model",
        "modelVersionId",
        "unmanagedContainerModel",
        "inputConfig",
        "instanceConfig",
        "modelParameters",
        "outputConfig",
        "dedicatedResources",
        "serviceAccount",
        "manualBatchTuningParameters",
        "generateExplanation",
        "explanationSpec",
        "outputInfo",
        "state",
        "error",
        "partialFailures",
        "resourcesConsumed",
        "completionStats",
        "createTime",
        "startTime",
        "endTime",
        "updateTime",
        "labels",
        "encryptionSpec",
        "modelMonitoringConfig",
        "modelMonitoringStatsAnomalies",
        "modelMonitoringStatus",
        "disableContainerLogging",
        "satisfiesPzs",
        "satisfiesPzi",
    }
)
INPUT_FIELDS = frozenset({"instancesFormat", "gcsSource", "bigquerySource", "vertexMultimodalDatasetSource"})
OUTPUT_FIELDS = frozenset(
    {"predictionsFormat", "gcsDestination", "bigqueryDestination", "vertexMultimodalDatasetDestination"}
)
FORMATS = ("jsonl", "bigquery")

TEXT_EMBEDDING_MODELS = frozenset(
    {"text-embedding-004", "text-embedding-005", "text-multilingual-embedding-002", "textembedding-gecko@003"}
)
GEMINI_EMBEDDING_PREFIX = "gemini-embedding-"
NO_BATCH_MARKERS = ("-live", "-tts", "native-audio")
"""Gemini models served only online (Live API, speech): they cannot run batch prediction."""

PUBLISHER_MODEL = re.compile(r"(?:projects/([^/]+)/locations/([^/]+)/)?publishers/([^/]+)/models/([^/@]+)(?:@[^/]+)?")
TUNED_MODEL = re.compile(r"projects/([^/]+)/locations/([^/]+)/models/([^/@]+)(?:@[^/]+)?")
BUCKET = r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]"
GCS_OBJECT = re.compile(rf"gs://({BUCKET})/(.+)")
GCS_PREFIX = re.compile(rf"gs://({BUCKET})(?:/(.*))?")
BQ_PROJECT = r"(?:[a-z][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]"
BQ_TABLE = re.compile(rf"bq://({BQ_PROJECT})\.(\w{{1,1024}})\.([\w$-]{{1,1024}})")
BQ_DESTINATION = re.compile(rf"bq://({BQ_PROJECT})(?:\.(\w{{1,1024}})(?:\.([\w$-]{{1,1024}}))?)?")
MAX_LABELS = 64
MAX_LABEL_LENGTH = 63


def unparseable_json(exc: Exception) -> VertexError:
    """The parser's complaint about a body that is not JSON."""
    return invalid_argument(f"Invalid JSON payload received. {exc}")


def not_a_json_object() -> VertexError:
    """The parser's complaint about a JSON body that is not an object."""
    return invalid_argument("Invalid JSON payload received. Expected an object.")


JSON_BODY = JsonBodyErrors(unparseable=unparseable_json, not_an_object=not_a_json_object)


async def read_body(request: Any) -> dict[str, Any]:
    """The request body as a JSON object (an empty body reads as {})."""
    return await read_json_object(request, JSON_BODY)


def check_fields(obj: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
    """Refuse a field the proto-JSON parser would not know, under either spelling."""
    name = unknown_field(obj, allowed)
    if name is not None:
        raise invalid_argument(
            f"Invalid JSON payload received. Unknown name \"{name}\" at '{path}': Cannot find field."
        )


# Models


@dataclass(frozen=True)
class ModelChoice:
    """A model a batch job may use: its resource name as given, its id and how it reads lines."""

    name: str
    model_id: str
    kind: LineKind


def line_kind(model_id: str) -> LineKind | None:
    """How a Google publisher model reads batch lines, or None when it cannot run batch prediction."""
    if model_id in TEXT_EMBEDDING_MODELS:
        return "embed_text"
    if model_id.startswith(GEMINI_EMBEDDING_PREFIX):
        return "embed_gemini"
    if model_id.startswith("gemini-") and not any(marker in model_id for marker in NO_BATCH_MARKERS):
        return "generate"
    return None


def same_parent(model_project: str, model_location: str, project: str, location: str) -> bool:
    """Whether a model's project (id or number) and location are the job's."""
    return project_number(model_project) == project_number(project) and model_location == location


def check_model(model: Any, project: str, location: str) -> ModelChoice:
    """A full model resource name of a model that can batch; a bare id or a short name is refused."""
    if not isinstance(model, str) or not model:
        raise field_errors(("batch_prediction_job.model", "Required field is not set."))
    publisher = PUBLISHER_MODEL.fullmatch(model)
    if publisher is not None:
        model_project, model_location, owner, model_id = publisher.groups()
        full = f"projects/{project}/locations/{location}/publishers/{owner}/models/{model_id}"
        if model_project is not None and not same_parent(model_project, model_location, project, location):
            raise invalid_argument(f"The model {model} must be in the job's project and location.")
        kind = line_kind(model_id) if owner == "google" else None
        if owner == "google" and kind is None and model_id.startswith(("gemini-", "text-")):
            raise invalid_argument(f"Publisher model {full} does not support batch prediction.")
        if kind is None:
            raise not_found(f"Publisher Model `{full}` not found.")
        return ModelChoice(name=model, model_id=model_id, kind=kind)
    tuned = TUNED_MODEL.fullmatch(model)
    if tuned is not None:
        if not same_parent(tuned.group(1), tuned.group(2), project, location):
            raise invalid_argument(f"The model {model} must be in the job's project and location.")
        return ModelChoice(name=model, model_id=tuned.group(3), kind="generate")
    raise field_errors(("batch_prediction_job.model", f"Invalid Model resource name: {model}"))


# Input and output configs


@dataclass(frozen=True)
class InputChoice:
    """Where a job reads its instances: GCS objects (bucket, object) or a BigQuery table (project, dataset, table)."""

    kind: Literal["gcs", "bq"]
    objects: tuple[tuple[str, str], ...] = ()
    table: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class OutputChoice:
    """Where a job writes predictions: a GCS prefix (bucket, path) or a BigQuery project, dataset and table."""

    kind: Literal["gcs", "bq"]
    bucket: str = ""
    path: str = ""
    project: str = ""
    dataset: str | None = None
    table: str | None = None


def oneof_member(config: Mapping[str, Any], members: tuple[str, ...], path: str) -> str | None:
    """The one source/destination member that is set, refusing two at once as the oneof parser does."""
    present = [member for member in members if get_field(config, member) is not None]
    if len(present) > 1:
        raise invalid_argument(
            f"Invalid JSON payload received. Oneof field 'source' at '{path}' is already set. "
            f"Cannot set '{present[1]}'."
        )
    return present[0] if present else None


def check_format(value: Any, field: str) -> str:
    """instancesFormat / predictionsFormat: required, jsonl or bigquery for Gemini batch jobs."""
    if not value:
        raise field_errors((field, "Required field is not set."))
    if value not in FORMATS:
        raise field_errors((field, f"Unsupported format {value!r}; Gemini batch prediction takes jsonl or bigquery."))
    return str(value)


def check_input(config: Any, choice: ModelChoice) -> InputChoice:
    """inputConfig: a format and the source it names (gs:// objects for jsonl, a bq:// table for bigquery)."""
    if not isinstance(config, dict):
        raise field_errors(("batch_prediction_job.input_config", "Required field is not set."))
    check_fields(config, INPUT_FIELDS, "batch_prediction_job.input_config")
    fmt = check_format(get_field(config, "instancesFormat"), "batch_prediction_job.input_config.instances_format")
    member = oneof_member(config, ("gcsSource", "bigquerySource", "vertexMultimodalDatasetSource"), "input_config")
    expected = "gcsSource" if fmt == "jsonl" else "bigquerySource"
    if member != expected:
        raise field_errors(
            ("batch_prediction_job.input_config", f"instances_format {fmt} needs {expected} as its source.")
        )
    if fmt == "bigquery":
        if choice.kind == "embed_gemini":
            raise invalid_argument(
                f"BigQuery input is not supported for {choice.model_id}; use JSONL in Cloud Storage."
            )
        source = get_field(config, "bigquerySource")
        uri = get_field(source, "inputUri") if isinstance(source, dict) else None
        match = BQ_TABLE.fullmatch(uri) if isinstance(uri, str) else None
        if match is None:
            raise field_errors(
                ("batch_prediction_job.input_config.bigquery_source.input_uri", f"Invalid BigQuery table path: {uri}")
            )
        project, dataset, table = match.groups()
        return InputChoice(kind="bq", table=(project, dataset, table))
    source = get_field(config, "gcsSource")
    uris = get_field(source, "uris") if isinstance(source, dict) else None
    if isinstance(uris, str):
        uris = [uris]
    if not isinstance(uris, list) or not uris:
        raise field_errors(("batch_prediction_job.input_config.gcs_source.uris", "Required field is not set."))
    objects = []
    for uri in uris:
        match = GCS_OBJECT.fullmatch(uri) if isinstance(uri, str) else None
        if match is None:
            raise field_errors(
                ("batch_prediction_job.input_config.gcs_source.uris", f"Invalid Cloud Storage object URI: {uri}")
            )
        objects.append((match.group(1), match.group(2)))
    return InputChoice(kind="gcs", objects=tuple(objects))


def check_output(config: Any, choice: ModelChoice) -> OutputChoice:
    """outputConfig: a format and its destination (a gs:// prefix, or bq://project[.dataset[.table]])."""
    if not isinstance(config, dict):
        raise field_errors(("batch_prediction_job.output_config", "Required field is not set."))
    check_fields(config, OUTPUT_FIELDS, "batch_prediction_job.output_config")
    fmt = check_format(get_field(config, "predictionsFormat"), "batch_prediction_job.output_config.predictions_format")
    members = ("gcsDestination", "bigqueryDestination", "vertexMultimodalDatasetDestination")
    member = oneof_member(config, members, "output_config")
    expected = "gcsDestination" if fmt == "jsonl" else "bigqueryDestination"
    if member != expected:
        raise field_errors(
            ("batch_prediction_job.output_config", f"predictions_format {fmt} needs {expected} as its destination.")
        )
    if fmt == "bigquery":
        if choice.kind == "embed_gemini":
            raise invalid_argument(f"BigQuery output is not supported for {choice.model_id}; use Cloud Storage.")
        destination = get_field(config, "bigqueryDestination")
        uri = get_field(destination, "outputUri") if isinstance(destination, dict) else None
        match = BQ_DESTINATION.fullmatch(uri) if isinstance(uri, str) else None
        if match is None:
            raise field_errors(
                (
                    "batch_prediction_job.output_config.bigquery_destination.output_uri",
                    f"Invalid BigQuery destination path: {uri}",
                )
            )
        project, dataset, table = match.groups()
        return OutputChoice(kind="bq", project=project, dataset=dataset, table=table)
    destination = get_field(config, "gcsDestination")
    prefix = get_field(destination, "outputUriPrefix") if isinstance(destination, dict) else None
    match = GCS_PREFIX.fullmatch(prefix) if isinstance(prefix, str) else None
    if match is None:
        raise field_errors(
            (
                "batch_prediction_job.output_config.gcs_destination.output_uri_prefix",
                f"Invalid Cloud Storage URI prefix: {prefix}",
            )
        )
    return OutputChoice(kind="gcs", bucket=match.group(1), path=(match.group(2) or "").strip("/"))


# Labels


def label_char(char: str, *, first: bool = False) -> bool:
    """A character GCP allows in a label: lowercase letters (international too), and digits, _ and - after
    the first character of a key."""
    if char.isalpha():
        return char == char.lower() and not char.isupper()
    return not first and (char.isdigit() or char in "_-")


def label_problem(key: Any, value: Any) -> str | None:
    """Why one label breaks GCP's rules, or None."""
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_LABEL_LENGTH:
        return f"Label key {key!r} must be 1 to {MAX_LABEL_LENGTH} characters long."
    if not label_char(key[0], first=True) or not all(label_char(c) for c in key[1:]):
        return (
            f"Label key {key!r} must start with a lowercase letter and hold only lowercase letters, digits, "
            "underscores and dashes."
        )
    if not isinstance(value, str) or len(value) > MAX_LABEL_LENGTH:
        return f"Label value of {key!r} must be a string of at most {MAX_LABEL_LENGTH} characters."
    if not all(label_char(c) for c in value):
        return f"Label value {value!r} may hold only lowercase letters, digits, underscores and dashes."
    return None


def check_labels(labels: Any) -> dict[str, str]:
    """labels: a map of at most 64 labels, each within GCP's rules."""
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise invalid_argument("Invalid JSON payload received. 'batch_prediction_job.labels' must be an object.")
    if len(labels) > MAX_LABELS:
        raise field_errors(("batch_prediction_job.labels", f"At most {MAX_LABELS} labels are allowed."))
    for key, value in labels.items():
        problem = label_problem(key, value)
        if problem is not None:
            raise field_errors(("batch_prediction_job.labels", problem))
    return dict(labels)


# The whole body


@dataclass(frozen=True)
class CreatePlan:
    """A create body that passed every check."""

    body: dict[str, Any]
    display_name: str
    model: ModelChoice
    source: InputChoice
    destination: OutputChoice
    labels: dict[str, str]


def check_create(body: dict[str, Any], project: str, location: str) -> CreatePlan:
    """Check a BatchPredictionJob create body as the service does, in its order."""
    check_fields(body, JOB_FIELDS, "batch_prediction_job")
    display_name = get_field(body, "displayName")
    if not isinstance(display_name, str) or not display_name:
        raise field_errors(("batch_prediction_job.display_name", "Required field is not set."))
    if len(display_name) > 128:
        raise field_errors(("batch_prediction_job.display_name", "The display name is longer than 128 characters."))
    model = check_model(get_field(body, "model"), project, location)
    source = check_input(get_field(body, "inputConfig"), model)
    destination = check_output(get_field(body, "outputConfig"), model)
    labels = check_labels(get_field(body, "labels"))
    return CreatePlan(body, display_name, model, source, destination, labels)


def rendered_request(plan: CreatePlan) -> dict[str, Any]:
    """The parts of the create body a job echoes back, in the API's camelCase."""
    if plan.source.kind == "gcs":
        uris = [f"gs://{bucket}/{name}" for bucket, name in plan.source.objects]
        input_config: dict[str, Any] = {"instancesFormat": "jsonl", "gcsSource": {"uris": uris}}
    else:
        assert plan.source.table is not None
        table = ".".join(plan.source.table)
        input_config = {"instancesFormat": "bigquery", "bigquerySource": {"inputUri": f"bq://{table}"}}
    destination = plan.destination
    if destination.kind == "gcs":
        prefix = get_field(get_field(plan.body, "outputConfig"), "gcsDestination")
        output_config: dict[str, Any] = {
            "predictionsFormat": "jsonl",
            "gcsDestination": {"outputUriPrefix": get_field(prefix, "outputUriPrefix")},
        }
    else:
        bq = get_field(get_field(plan.body, "outputConfig"), "bigqueryDestination")
        output_config = {
            "predictionsFormat": "bigquery",
            "bigqueryDestination": {"outputUri": get_field(bq, "outputUri")},
        }
    return {"inputConfig": input_config, "outputConfig": output_config, "labels": plan.labels}
