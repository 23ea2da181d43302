"""Peak memory of uploading batch inputs of growing size: our hook vs. google-genai's files.upload.

Run: .venv/bin/python -m benchmarks.upload_memory [--sizes-mb 30 300]
Prints one line per (client, size): bytes uploaded, baseline and peak RSS, growth, throughput.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from benchmarks._memory import measure_upload, write_jsonl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[30, 300])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmulatorServer(api_key="bench-key") as emulator:
        print(f"{'client':<22}{'size MB':>9}{'baseline MiB':>14}{'peak MiB':>10}{'growth MiB':>12}{'MB/s':>8}")
        for size_mb in args.sizes_mb:
            path = write_jsonl(Path(tmp) / f"input-{size_mb}.jsonl", size_mb * 1_000_000)
            for kind, label in (("hook", "genai-batch hook"), ("sdk", "google-genai 3.x SDK")):
                m = measure_upload(kind, path, emulator.base_url, "bench-key")
                growth = (m["peak_kib"] - m["baseline_kib"]) / 1024
                print(
                    f"{label:<22}{m['size'] / 1e6:>9.0f}{m['baseline_kib'] / 1024:>14.1f}{m['peak_kib'] / 1024:>10.1f}"
                    f"{growth:>12.1f}{m['size'] / 1e6 / m['seconds']:>8.0f}"
                )
            path.unlink()


if __name__ == "__main__":
    main()
