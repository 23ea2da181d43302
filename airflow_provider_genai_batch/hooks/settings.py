"""Reading connection fields into settings, the same way for every provider."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from airflow_provider_genai_batch.errors import GenAIBatchError


def base_url(host: str | None, port: int | None) -> str | None:
    """The connection's host as a base URL (``https://`` assumed when no scheme is given)."""
    if not host:
        return None
    url = host if "://" in host else f"https://{host}"
    return f"{url}:{port}" if port else url


def extras_for(model: type[BaseModel], conn: Any) -> dict[str, Any]:
    """The connection extras that ``model`` declares; empty form fields (null) keep their defaults.

    The key and base URL come only from the password and host fields.
    """
    extra = conn.extra_dejson or {}
    return {
        k: v for k, v in extra.items() if k in model.model_fields and k not in ("api_key", "base_url") and v is not None
    }


def invalid_connection(conn_id: str, kind: str, err: ValidationError) -> GenAIBatchError:
    """A connection whose fields do not make valid settings, each problem named by its field."""
    problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
    return GenAIBatchError(f"connection {conn_id!r} is not a valid {kind} connection: {problems}")
