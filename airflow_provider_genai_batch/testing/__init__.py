"""Test tooling: a local emulator of the providers' batch APIs (`emulator`) and a local S3 server (`s3`).

The provider never imports it at runtime. Its packages come with the `emulator` extra; without them
importing anything here fails at once with the install command, instead of deep inside a test.
"""

from __future__ import annotations

from importlib.util import find_spec

EMULATOR_MODULES = ("fastapi", "starlette", "python_multipart", "uvicorn", "boto3", "botocore", "moto", "flask")
"""What the tooling imports beyond the provider's own dependencies (flask: moto's server mode)."""
INSTALL_HINT = "pip install 'airflow-provider-genai-batch[emulator]'"


def _installed(name: str) -> bool:
    """Whether a top-level module can be imported (a finder that refuses it counts as absent)."""
    try:
        return find_spec(name) is not None
    except (ImportError, ValueError):
        return False


_missing = [name for name in EMULATOR_MODULES if not _installed(name)]
if _missing:
    raise ImportError(
        f"airflow_provider_genai_batch.testing needs {', '.join(_missing)} (not installed): {INSTALL_HINT}",
        name=_missing[0],
    )
