"""Where a Vertex job's data lives: Cloud Storage (a real server, reached over its JSON API) and the
emulator's BigQuery store (`state.bigquery`, built by the BigQuery stand-in).

A job imports its input when its running time is over, into a JSONL snapshot (one JSON object per instance;
table rows keep their column values as the BigQuery API gives them). An input URI holding Cloud Storage wildcards
reads every object it matches, as ``gcsSource.uris`` is documented to. An input that cannot be read is not an
API error: the job is created, runs, and fails with "Failed to import data", as the real service reports it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from airflow_provider_genai_batch.testing.emulator.bigquery.tables import BigQueryTables, Column
from airflow_provider_genai_batch.testing.emulator.store import EmulatorState
from airflow_provider_genai_batch.testing.emulator.vertex.validation import InputChoice, LineKind, OutputChoice

TIMEOUT = httpx.Timeout(60.0, connect=5.0)
INPUT_COLUMN = {"generate": "request", "embed_text": "content", "embed_gemini": "request"}
INSERT_BATCH = 500
WILDCARD = re.compile(r"[*?\[]")
"""A character that makes an input URI a pattern: Vertex expands Cloud Storage wildcards in ``gcsSource.uris``."""


class ImportFailed(Exception):
    """The job's input (or output place) is unusable; the message is the job's error."""


def bigquery_store(state: EmulatorState) -> BigQueryTables:
    """The emulator's BigQuery store (the BigQuery stand-in's tables)."""
    return state.bigquery


# Cloud Storage


@functools.cache
def http() -> httpx.Client:
    """The process's HTTP client for the GCS server (made once: building a client costs a tenth of a second)."""
    return httpx.Client(timeout=TIMEOUT)


def object_url(endpoint: str, bucket: str, name: str, *, media: bool) -> str:
    """The JSON API URL of an object (its metadata, or its bytes)."""
    base = f"{endpoint}/download/storage/v1" if media else f"{endpoint}/storage/v1"
    return f"{base}/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}"


def bucket_exists(endpoint: str, bucket: str) -> bool:
    """Whether the bucket exists on the GCS server."""
    response = http().get(f"{endpoint}/storage/v1/b/{quote(bucket, safe='')}")
    return response.status_code == 200


def download(endpoint: str, bucket: str, name: str, target: Any) -> None:
    """Stream an object's bytes into an open binary file; ImportFailed when it cannot be read."""
    url = object_url(endpoint, bucket, name, media=True)
    with http().stream("GET", url, params={"alt": "media"}) as response:
        if response.status_code == 404:
            raise ImportFailed(f"Failed to import data. Not found: gs://{bucket}/{name} does not exist.")
        if response.status_code != 200:
            raise ImportFailed(
                f"Failed to import data. Reading gs://{bucket}/{name} failed: HTTP {response.status_code}."
            )
        for block in response.iter_bytes(1024 * 1024):
            target.write(block)


def upload(endpoint: str, bucket: str, name: str, path: Path) -> None:
    """Write a local file to an object (a media upload, streamed from disk)."""
    url = f"{endpoint}/upload/storage/v1/b/{quote(bucket, safe='')}/o"
    with path.open("rb") as handle:
        response = http().post(
            url,
            params={"uploadType": "media", "name": name},
            content=handle,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(path.stat().st_size)},
        )
    response.raise_for_status()


# Import


def check_jsonl(path: Path, origin: str) -> int:
    """Count the instances of a JSONL snapshot, each a JSON object; ImportFailed naming the first bad line."""
    count = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ImportFailed(
                    f"Failed to import data. Line {number} of {origin} is not valid JSON: {exc}"
                ) from exc
            if not isinstance(value, dict):
                raise ImportFailed(f"Failed to import data. Line {number} of {origin} is not a JSON object.")
            count += 1
    if count == 0:
        raise ImportFailed(f"Failed to import data. {origin} holds no instances.")
    return count


def name_pattern(name: str) -> re.Pattern[str]:
    """The object names a wildcard name matches: ``**`` any characters, ``*`` any but ``/``, ``?`` one but ``/``,
    ``[chars]`` (``[!chars]``) one of (none of) them; every other character itself."""
    pieces: list[str] = []
    index = 0
    while index < len(name):
        end = name.find("]", index + 2) if name[index] == "[" else -1
        if name.startswith("**", index):
            pieces.append(".*")
            index += 2
            continue
        if name[index] == "*":
            pieces.append("[^/]*")
        elif name[index] == "?":
            pieces.append("[^/]")
        elif end > 0:
            chars = name[index + 1 : end]
            negated = chars.startswith("!")
            members = re.sub(r"([\\\[^])", r"\\\1", chars.removeprefix("!"))  # ranges (a-z) stay ranges
            pieces.append("[" + ("^" if negated else "") + members + "]")
            index = end + 1
            continue
        else:
            pieces.append(re.escape(name[index]))
        index += 1
    return re.compile("".join(pieces))


def matching_objects(endpoint: str, bucket: str, name: str) -> list[str]:
    """The objects an input URI names: itself, or every object its wildcards match (listed from the part of the
    name before the first one), in name order; ImportFailed when a pattern matches none."""
    wildcard = WILDCARD.search(name)
    if wildcard is None:
        return [name]
    pattern = name_pattern(name)
    matched: list[str] = []
    params = {"prefix": name[: wildcard.start()]}
    while True:
        response = http().get(f"{endpoint}/storage/v1/b/{quote(bucket, safe='')}/o", params=params)
        if response.status_code != 200:
            raise ImportFailed(f"Failed to import data. Listing gs://{bucket} failed: HTTP {response.status_code}.")
        body = response.json()
        matched += [item["name"] for item in body.get("items") or () if pattern.fullmatch(item["name"])]
        if not body.get("nextPageToken"):
            break
        params["pageToken"] = body["nextPageToken"]
    if not matched:
        raise ImportFailed(f"Failed to import data. Not found: no object matches gs://{bucket}/{name}.")
    return sorted(matched)


def import_gcs(endpoint: str, source: InputChoice, target: Path) -> int:
    """Concatenate the input objects (a URI with wildcards: every object it matches) into the snapshot and count
    its instances."""
    with target.open("wb") as handle:
        for bucket, pattern in source.objects:
            for name in matching_objects(endpoint, bucket, pattern):
                download(endpoint, bucket, name, handle)
                handle.write(b"\n")
    origin = ", ".join(f"gs://{bucket}/{name}" for bucket, name in source.objects)
    return check_jsonl(target, origin)


def jsonl_columns(path: Path) -> list[Column]:
    """The input columns a JSONL input gives a BigQuery output table: every top-level field, in first-seen order,
    STRING where every value is a string and JSON otherwise."""
    kinds: dict[str, str] = {}
    with path.open("rb") as lines:
        for raw in lines:
            if not raw.strip():
                continue
            for name, value in json.loads(raw).items():
                if value is None:
                    kinds.setdefault(name, "STRING")
                    continue
                kinds[name] = "STRING" if isinstance(value, str) and kinds.get(name, "STRING") == "STRING" else "JSON"
    return [Column(name, kind) for name, kind in kinds.items()]


def import_table(tables: BigQueryTables, source: InputChoice, kind: LineKind, target: Path) -> tuple[int, list[Column]]:
    """Copy the input table's rows into the snapshot; (row count, the table's columns)."""
    assert source.table is not None
    project, dataset, name = source.table
    table = tables.get(project, dataset, name)
    if table is None:
        raise ImportFailed(f"Failed to import data. Not found: Table {project}:{dataset}.{name} was not found.")
    wanted = INPUT_COLUMN[kind]
    if wanted not in {col.name for col in table.columns}:
        raise ImportFailed(f"Failed to import data. The table {project}.{dataset}.{name} has no column named {wanted}.")
    count = 0
    with target.open("w", encoding="utf-8") as handle:
        for row in tables.rows(project, dataset, name):
            handle.write(json.dumps(row) + "\n")
            count += 1
    if count == 0:
        raise ImportFailed(f"Failed to import data. The table {project}.{dataset}.{name} holds no rows.")
    return count, list(table.columns)


def check_destination(tables: BigQueryTables, endpoint: str | None, destination: OutputChoice) -> None:
    """The place predictions go must be writable: an existing bucket, or a BigQuery dataset without the table."""
    if destination.kind == "gcs":
        assert endpoint is not None
        if not bucket_exists(endpoint, destination.bucket):
            raise ImportFailed(f"Failed to export predictions. Not found: bucket {destination.bucket} does not exist.")
        return
    if destination.dataset is None:
        return
    if not tables.has_dataset(destination.project, destination.dataset):
        raise ImportFailed(
            "Failed to export predictions. Not found: Dataset "
            f"{destination.project}:{destination.dataset} was not found."
        )
    if destination.table is not None and tables.get(destination.project, destination.dataset, destination.table):
        raise ImportFailed(
            f"Failed to export predictions. Already Exists: Table "
            f"{destination.project}:{destination.dataset}.{destination.table}."
        )


def insert_in_batches(tables: BigQueryTables, where: tuple[str, str, str], rows: Iterable[Mapping[str, Any]]) -> None:
    """Insert rows a few hundred at a time, so memory does not grow with the output."""
    batch: list[Mapping[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == INSERT_BATCH:
            tables.insert(*where, batch)
            batch = []
    if batch:
        tables.insert(*where, batch)
