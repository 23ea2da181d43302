"""Runtime settings of the emulator: job timings, storage place, auth and a forced job outcome."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_genai_batch.testing.emulator.faults import FaultConfig

JobOutcome = Literal["succeed", "fail", "expire", "stuck", "fail_rows"]
VertexHoldState = Literal["PAUSED", "UPDATING"]
"""How a job ends: "stuck" stays PENDING for ever; "fail_rows" SUCCEEDS with every row failed."""


class EmulatorConfig(BaseModel):
    """Settings read on every request, so a test can change them while the server runs."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    pending_seconds: float = Field(default=1.0, ge=0, description="How long a new job stays PENDING.")
    running_seconds: float = Field(default=1.0, ge=0, description="How long a job then stays RUNNING.")
    data_dir: Path | None = Field(
        default=None, description="Where file bytes live; a fresh temporary directory when unset."
    )
    api_key: str | None = Field(
        default=None, description="When set, every authenticated call must carry exactly this key."
    )
    job_outcome: JobOutcome = Field(
        default="succeed", description="How jobs created from now on end once their running time is over."
    )
    gemini_upload_chunk_granularity: int = Field(
        default=8 * 1024 * 1024,
        ge=1,
        description="The chunk granularity Gemini upload sessions announce and enforce (8 MiB, as Google's).",
    )
    gemini_drop_inline_metadata: bool = Field(
        default=False,
        description="Gemini inline responses leave out their metadata (so their keys), as the real backend has.",
    )
    faults: FaultConfig = Field(
        default_factory=FaultConfig,
        description="Injected faults (see faults.py); setting it replaces the whole sub-model, {} turns them off.",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="The S3-compatible server Bedrock jobs read their input from and write output to."
    )
    aws_region: str = Field(
        default="us-east-1", description="The AWS region of the Bedrock emulator (its ARNs and SigV4 scope)."
    )
    gateway_raw_states: bool = Field(
        default=False,
        description="The GenAI gateway puts the target's raw provider status in metadata.state (passthrough mode).",
    )
    gcs_endpoint_url: str | None = Field(
        default=None, description="The Cloud Storage server Vertex jobs read their input from and write output to."
    )
    bigquery_streaming_seconds: float = Field(
        default=0.0,
        ge=0,
        description="Rows streamed with tabledata.insertAll from now on stay this long in the table's streaming "
        "buffer: tables.get counts them under streamingBuffer.estimatedRows, not numRows (tabledata.list and jobs "
        "read them at once); 0 commits them at once.",
    )
    vertex_token_ttl: float = Field(
        default=3600.0, gt=0, description="Seconds an OAuth access token minted by the Vertex emulator stays valid."
    )
    vertex_failed_rows: int = Field(
        default=0,
        ge=0,
        description="Vertex jobs created from now on fail this many rows with a service error (PARTIALLY_SUCCEEDED).",
    )
    vertex_hold_state: VertexHoldState | None = Field(
        default=None, description="Vertex jobs created from now on stay in this state once they leave PENDING."
    )
    openai_retryable_row_share: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="OpenAI batches created from now on fail this share of their rows (chosen by custom_id) with a "
        "500 server_error, once per custom_id: a later batch answers it (see openai/transient.py).",
    )
