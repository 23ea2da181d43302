"""A finished Vertex job's predictions, answered by the shared fake model and written where the job said.

GCS output is `{gcsOutputDirectory}/predictions.jsonl`, in a shuffled order. A Gemini line echoes every
input field (the key with it) and adds `status` ("" or the error), `processed_time` and, when answered,
`response`. A text-embedding line is `{"instance", "predictions", "status"}`. A BigQuery output table holds
the input columns plus `response` (JSON), `status` and `processed_time` (text-embedding models:
`predictions` and `status`). Rows a request problem fails are reported in the row and the job SUCCEEDS;
rows lost to service errors (the `vertex_failed_rows` knob, job outcome `fail_rows`) make it
PARTIALLY_SUCCEEDED.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from airflow_provider_genai_batch.testing.emulator import progress, responses
from airflow_provider_genai_batch.testing.emulator.bigquery.tables import BigQueryTables, Column
from airflow_provider_genai_batch.testing.emulator.common import rfc3339
from airflow_provider_genai_batch.testing.emulator.gemini.results import generate_response, part_texts
from airflow_provider_genai_batch.testing.emulator.gemini.validation import request_field_problem
from airflow_provider_genai_batch.testing.emulator.gemini.wire import get_field
from airflow_provider_genai_batch.testing.emulator.store import JobRecord, JobResults, LineWriter, Store
from airflow_provider_genai_batch.testing.emulator.vertex import sources
from airflow_provider_genai_batch.testing.emulator.vertex.wire import (
    FAILED_ROWS_KEY,
    OUTPUT_KEY,
    PROBLEM_KEY,
    SERVICE_FAILURES_KEY,
)

SERVICE_FAILURE_MESSAGE = "Internal error occurred while processing this request (emulated: vertex_failed_rows)."
REASONS = {400: "Bad Request", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error"}
MAX_INSTANCES = {"generate": 200_000, "embed_gemini": 200_000, "embed_text": 30_000}
"""Instances one job takes: 200,000 requests for Gemini models, 30,000 prompts for a text-embedding model."""
CACHE_NAME = re.compile(r"projects/[^/]+/locations/[^/]+/cachedContents/(?P<id>[^/]+)")
LINE_KIND_KEY = "line_kind"
TABLE_INPUT_KEY = "input_columns"
JSONL_COLUMNS_KEY = "jsonl_columns"
TABLES_KEY = "bigquery"
GCS_ENDPOINT_KEY = "gcs_endpoint"
SOURCE_KEY = "source"
DESTINATION_KEY = "destination"


@dataclass(frozen=True)
class Outcome:
    """One instance's result: the output fields it adds, its status text, and who failed it."""

    fields: dict[str, Any]
    status: str = ""
    service_failure: bool = False

    @property
    def ok(self) -> bool:
        """Whether the instance was answered."""
        return not self.status


def status_text(code: int, message: str, status: str) -> str:
    """A failed row's status: the HTTP reason and the Google error the model call returned."""
    error = {"error": {"code": code, "message": message, "status": status}}
    return f"{REASONS.get(code, 'Error')}: {json.dumps(error)}"


def failure(code: int, message: str, status: str) -> Outcome:
    """A failed instance; server-side codes count as service failures."""
    return Outcome(fields={}, status=status_text(code, message, status), service_failure=code >= 500)


def processed_time(moment: float) -> str:
    """processed_time as Vertex writes it: milliseconds and a +00:00 offset."""
    return rfc3339(moment, "milliseconds").replace("Z", "+00:00")


def as_object(value: Any) -> Any:
    """A table cell holding JSON (a JSON column or a STRING of JSON) as its value."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def answer_generate(entry: dict[str, Any], job: JobRecord, number: int) -> Outcome:
    """A Gemini instance: its `request` answered as a GenerateContentResponse."""
    request = as_object(entry.get("request"))
    if not isinstance(request, dict):
        return failure(400, "The instance has no request object.", "INVALID_ARGUMENT")
    problem = request_field_problem(request, "generate")
    if problem is not None:
        return failure(400, f"Invalid JSON payload received. {problem}", "INVALID_ARGUMENT")
    cache = get_field(request, "cachedContent")
    if cache is not None:
        return cache_failure(cache)
    model_id = job.extra["model_id"]
    outcome = generate_response(request, model_id, f"{job.job_id}:{number}")
    if "error" in outcome:
        error = outcome["error"]
        return failure(error["code"], error["message"], error["status"])
    response = {**outcome["response"], "createTime": rfc3339(time.time())}
    response["candidates"] = [
        {key: value for key, value in candidate.items() if key != "index"} for candidate in response["candidates"]
    ]
    return Outcome(fields={"response": response})


def cache_failure(name: Any) -> Outcome:
    """A request naming a context cache: Vertex names caches ``projects/*/locations/*/cachedContents/*``, and the
    emulator holds none, so a well-named one is not found (as a real job reports a cache it cannot find)."""
    match = CACHE_NAME.fullmatch(name) if isinstance(name, str) else None
    if match is None:
        return failure(400, f"Invalid cached content name: {name!r}.", "INVALID_ARGUMENT")
    return failure(404, f"Not found: cached content metadata for {match['id']}.", "NOT_FOUND")


def answer_embed_gemini(entry: dict[str, Any]) -> Outcome:
    """A Gemini embedding instance: `request` is an EmbedContentRequest (content, embed_content_config)."""
    request = as_object(entry.get("request"))
    if not isinstance(request, dict) or not isinstance(get_field(request, "content"), dict):
        return failure(400, "* EmbedContentRequest.content: content is not specified", "INVALID_ARGUMENT")
    config = get_field(request, "embedContentConfig") or {}
    dimensions = get_field(config, "outputDimensionality") if isinstance(config, dict) else None
    if dimensions is not None and (isinstance(dimensions, bool) or not isinstance(dimensions, int)):
        return failure(400, "output_dimensionality must be an integer.", "INVALID_ARGUMENT")
    outcome = responses.embed("".join(part_texts(get_field(request, "content"))), dimensions)
    if isinstance(outcome, responses.RowError):
        return failure(outcome.code, outcome.message, outcome.status)
    response = {"embedding": {"values": outcome.values}, "usageMetadata": {"promptTokenCount": outcome.prompt_tokens}}
    return Outcome(fields={"response": response})


def answer_embed_text(entry: dict[str, Any]) -> Outcome:
    """A text-embedding instance: `content` (with optional task_type and title) embedded."""
    content = entry.get("content")
    if not isinstance(content, str):
        return failure(400, "The instance must have a string field 'content'.", "INVALID_ARGUMENT")
    outcome = responses.embed(content)
    if isinstance(outcome, responses.RowError):
        return failure(outcome.code, outcome.message, outcome.status)
    statistics = {"token_count": outcome.prompt_tokens, "truncated": False}
    return Outcome(fields={"predictions": [{"embeddings": {"statistics": statistics, "values": outcome.values}}]})


def answer(entry: dict[str, Any], job: JobRecord, number: int) -> Outcome:
    """One instance's outcome; the first `vertex_failed_rows` instances are lost to a service error."""
    if number <= job.extra.get(FAILED_ROWS_KEY, 0):
        return failure(500, SERVICE_FAILURE_MESSAGE, "INTERNAL")
    kind = job.extra[LINE_KIND_KEY]
    if kind == "embed_text":
        return answer_embed_text(entry)
    if kind == "embed_gemini":
        return answer_embed_gemini(entry)
    return answer_generate(entry, job, number)


def json_line(entry: dict[str, Any], outcome: Outcome, kind: str, moment: float) -> dict[str, Any]:
    """The JSONL output record of an instance."""
    if kind == "embed_text":
        record: dict[str, Any] = {"instance": entry, **outcome.fields}
        record["status"] = outcome.status
        return record
    return {"status": outcome.status, "processed_time": processed_time(moment), **entry, **outcome.fields}


def table_row(
    entry: dict[str, Any], outcome: Outcome, kind: str, moment: float, json_columns: frozenset[str]
) -> dict[str, Any]:
    """The BigQuery output row of an instance: its input columns (values of ``json_columns`` as JSON text),
    then the result columns."""
    entry = {
        name: json.dumps(value) if name in json_columns and value is not None else value
        for name, value in entry.items()
    }
    if kind == "embed_text":
        predictions = outcome.fields.get("predictions")
        return {**entry, "predictions": json.dumps(predictions) if predictions else None, "status": outcome.status}
    response = outcome.fields.get("response")
    return {
        **entry,
        "response": json.dumps(response) if response is not None else None,
        "status": outcome.status,
        "processed_time": rfc3339(moment),
    }


def output_columns(input_columns: list[Column], kind: str) -> list[Column]:
    """The output table's columns: the input's, then the result columns."""
    if kind == "embed_text":
        extra = [Column("predictions", "STRING"), Column("status", "STRING")]
    else:
        extra = [
            Column("response", "JSON"),
            Column("status", "STRING"),
            Column("processed_time", "TIMESTAMP"),
        ]
    return [*input_columns, *extra]


@dataclass
class Tally:
    """Counts of answered, failed and service-failed instances."""

    succeeded: int = 0
    failed: int = 0
    service_failed: int = 0

    def add(self, outcome: Outcome) -> None:
        """Count one instance."""
        if outcome.ok:
            self.succeeded += 1
        else:
            self.failed += 1
            self.service_failed += outcome.service_failure


def outcomes(job: JobRecord, tally: Tally) -> Iterator[tuple[dict[str, Any], Outcome, float]]:
    """Every instance with its outcome, in the job's shuffled order, counted as they go."""
    assert job.input_path is not None
    for number, raw in progress.shuffled_lines(job.input_path, job.job_id):
        entry = json.loads(raw)
        outcome = answer(entry, job, number)
        tally.add(outcome)
        yield entry, outcome, time.time()


def import_input(job: JobRecord, store: Store) -> None:
    """Read the job's input into its snapshot and check where its predictions go, as the job starts running;
    a problem becomes the job's error ("Failed to import data ...") and fails it."""
    target = store.job_path(job.job_id, "input")
    endpoint = job.extra[GCS_ENDPOINT_KEY]
    tables: BigQueryTables = job.extra[TABLES_KEY]
    source = job.extra[SOURCE_KEY]
    try:
        if source.kind == "gcs":
            job.request_count = sources.import_gcs(endpoint, source, target)
            job.extra[JSONL_COLUMNS_KEY] = sources.jsonl_columns(target)
        else:
            job.request_count, job.extra[TABLE_INPUT_KEY] = sources.import_table(
                tables, source, job.extra[LINE_KIND_KEY], target
            )
        most = MAX_INSTANCES[job.extra[LINE_KIND_KEY]]
        if job.request_count > most:
            raise sources.ImportFailed(
                f"Failed to import data. The input holds {job.request_count} instances; a batch prediction job of "
                f"{job.model} takes at most {most}."
            )
        sources.check_destination(tables, endpoint, job.extra[DESTINATION_KEY])
    except sources.ImportFailed as exc:
        job.extra[PROBLEM_KEY] = str(exc)
        raise
    job.input_path = target


def materialise(job: JobRecord, store: Store) -> JobResults:
    """Import the input, answer every instance and write the predictions to GCS or to a new BigQuery table."""
    import_input(job, store)
    output = job.extra[OUTPUT_KEY]
    kind = job.extra[LINE_KIND_KEY]
    tally = Tally()
    if output["kind"] == "gcs":
        path = store.job_path(job.job_id, "predictions")
        with LineWriter(path) as writer:
            for entry, outcome, moment in outcomes(job, tally):
                if TABLE_INPUT_KEY in job.extra and "request" in entry:
                    entry = {**entry, "request": as_object(entry["request"])}
                writer.write(json.dumps(json_line(entry, outcome, kind, moment)).encode())
        sources.upload(job.extra[GCS_ENDPOINT_KEY], output["bucket"], output["object"], path)
        path.unlink(missing_ok=True)
    else:
        tables: BigQueryTables = job.extra[TABLES_KEY]
        where = (output["project"], output["dataset"], output["table"])
        if not tables.has_dataset(output["project"], output["dataset"]):
            tables.create_dataset(output["project"], output["dataset"])
        from_jsonl: list[Column] = job.extra.get(JSONL_COLUMNS_KEY, [])
        tables.create(*where, output_columns(job.extra.get(TABLE_INPUT_KEY, from_jsonl), kind))
        json_columns = frozenset(column.name for column in from_jsonl if column.type == "JSON")
        rows = (
            table_row(entry, outcome, kind, moment, json_columns) for entry, outcome, moment in outcomes(job, tally)
        )
        sources.insert_in_batches(tables, where, rows)
    job.extra[SERVICE_FAILURES_KEY] = tally.service_failed
    return JobResults(succeeded=tally.succeeded, failed=tally.failed)
