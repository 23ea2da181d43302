"""Command line: `python -m airflow_provider_genai_batch.testing.emulator --port N [options]`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import get_args

import uvicorn

from airflow_provider_genai_batch.testing.emulator.app import create_app
from airflow_provider_genai_batch.testing.emulator.config import EmulatorConfig, JobOutcome


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the listening address and the EmulatorConfig fields from the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_genai_batch.testing.emulator",
        description="Serve a local emulator of LLM batch APIs (tests only).",
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1", help="Bind address; keep it on loopback.")
    parser.add_argument("--pending-seconds", type=float, default=1.0)
    parser.add_argument("--running-seconds", type=float, default=1.0)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--job-outcome", choices=get_args(JobOutcome), default="succeed")
    parser.add_argument("--faults", type=json.loads, default={}, help="FaultConfig as JSON (see faults.py).")
    parser.add_argument("--s3-endpoint-url", default=None, help="S3-compatible server for Bedrock jobs.")
    parser.add_argument("--gcs-endpoint-url", default=None, help="Cloud Storage server for Vertex AI jobs.")
    parser.add_argument("--aws-region", default="us-east-1")
    parser.add_argument(
        "--openai-retryable-row-share",
        type=float,
        default=0.0,
        help="Share of OpenAI batch rows failing once with a retryable server error (see openai/transient.py).",
    )
    parser.add_argument("--log-level", default="warning")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Build the app from the arguments and serve it with uvicorn until interrupted."""
    args = parse_args(argv)
    config = EmulatorConfig(
        pending_seconds=args.pending_seconds,
        running_seconds=args.running_seconds,
        data_dir=args.data_dir,
        api_key=args.api_key,
        job_outcome=args.job_outcome,
        faults=args.faults,
        s3_endpoint_url=args.s3_endpoint_url,
        gcs_endpoint_url=args.gcs_endpoint_url,
        aws_region=args.aws_region,
        openai_retryable_row_share=args.openai_retryable_row_share,
    )
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
