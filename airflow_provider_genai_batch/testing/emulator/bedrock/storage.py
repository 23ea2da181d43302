"""A Bedrock job's input and output in S3: the local S3-compatible server the emulator is configured with.

The input is copied when the job is created and validated as Validating does: one `.jsonl` file whose
every record is a JSON object with a `modelInput` object (the model input itself is not checked) and, when
it has a `recordId`, an alphanumeric one (the batch data format's only rule for it), at least 100 records.
A job that completes writes `<out>/<job-id>/<input basename>.out` and `manifest.json.out`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec

from airflow_provider_genai_batch.testing.emulator.common import s3_client, split_s3_uri
from airflow_provider_genai_batch.testing.emulator.store import iter_lines

MIN_RECORDS = 100
RECORD_ID = re.compile(r"[A-Za-z0-9]+")
"""A ``recordId`` as the batch data format documents it: an alphanumeric string (optional; added when left out)."""


def snapshot_input(s3: dict[str, str], uri: str, target: Path) -> tuple[int, str | None]:
    """Copy the job's input from S3 to `target`; (record count, validation problem or None)."""
    from botocore.exceptions import BotoCoreError, ClientError

    if not uri.endswith(".jsonl"):
        return 0, f"The input {uri} must be a single .jsonl file (the emulator does not read folders)."
    bucket, key = split_s3_uri(uri)
    try:
        s3_client(s3["endpoint_url"], s3["region"]).download_file(bucket, key, str(target))
    except (BotoCoreError, ClientError) as exc:
        return 0, f"Unable to read the input file {uri}: {exc}"
    count = 0
    for count, line in enumerate(iter_lines(target), start=1):
        problem = record_problem(line)
        if problem is not None:
            return count, f"The record on line {count} of {uri} {problem}; please reformat your input and try again."
    if count < MIN_RECORDS:
        return count, (
            f"The input has {count} records, fewer than the minimum of {MIN_RECORDS} records per batch inference job."
        )
    return count, None


def record_problem(line: bytes) -> str | None:
    """Why one input line is not a record in the batch format (`{"recordId"?, "modelInput": {...}}`), or None."""
    try:
        record = msgspec.json.decode(line)
    except msgspec.DecodeError:
        return "is not valid JSON"
    if not isinstance(record, dict):
        return "is not a JSON object"
    if not isinstance(record.get("modelInput"), dict):
        return "has no modelInput object"
    if "recordId" in record:
        record_id = record["recordId"]
        if not isinstance(record_id, str) or not RECORD_ID.fullmatch(record_id):
            return f"has a recordId that is not an alphanumeric string ({json.dumps(record_id)[:80]})"
    return None


def write_output(
    s3: dict[str, str], request: dict[str, Any], job_id: str, out_path: Path, manifest: dict[str, int]
) -> None:
    """Upload a job's `.out` file (then delete it locally) and its manifest to the job's output folder."""
    output = request["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"].rstrip("/")
    basename = request["inputDataConfig"]["s3InputDataConfig"]["s3Uri"].rsplit("/", 1)[-1]
    bucket, prefix = split_s3_uri(f"{output}/{job_id}")
    client = s3_client(s3["endpoint_url"], s3["region"])
    try:
        client.upload_file(str(out_path), bucket, f"{prefix}/{basename}.out")
    finally:
        out_path.unlink(missing_ok=True)
    client.put_object(Bucket=bucket, Key=f"{prefix}/manifest.json.out", Body=json.dumps(manifest).encode())
