"""Reading connection fields into settings, the same way for every provider."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import AliasChoices, BaseModel, ValidationError

from airflow_provider_genai_batch.errors import GenAIBatchError

log = logging.getLogger(__name__)

OUTPUT_LIMIT_NAMES = AliasChoices("default_output_limit", "default_max_tokens")
"""The extra names of the output-token limit used when a request sets none: the current one first.

It was ``default_max_tokens``; Airflow's secret masker hides every extra whose name contains "token",
which blanked its default on the connection form. Connections that still use the old name keep working.
"""

CONN_TYPE_PREFIX = "genai"


def earlier_conn_type(conn_type: str) -> str:
    """The name a connection type had before it followed Airflow's rule (no ``_`` or ``-`` in a URI scheme):
    ``genaigemini`` was ``genai_gemini``. Connections of the earlier type still resolve to the same hook."""
    return f"{CONN_TYPE_PREFIX}_{conn_type.removeprefix(CONN_TYPE_PREFIX).lstrip('_')}"


def base_url(conn: Any) -> str | None:
    """The connection's host as a base URL (``https://`` assumed when no scheme is given), with the port field
    (where the host names none) and the schema field as its path.

    A connection URI keeps its path in the schema (``genaigateway://:key@localhost:8080/genai`` is host
    ``localhost``, port 8080, schema ``genai``), so a base URL with a path, given as a URI in an ``AIRFLOW_CONN_*``
    variable or a secrets backend, lost it; JSON and the form keep the path in the host, and set no schema.

    A host with a query is refused: each call's path goes after the base URL's, and a query there took it in
    (``https://proxy/v1?x=1`` called ``/v1`` with the query ``x=1/files``). A fragment is dropped, as no request
    sends one. The query is not shown in the error: it may hold a key (``?key=...``).
    """
    text = (conn.host or "").strip()
    if not text:
        return None
    parts = urlsplit(text if "://" in text else f"https://{text}")
    if parts.query:
        raise GenAIBatchError(
            f"connection {conn.conn_id!r}: the host has a query (a '?' and what follows), which a base URL cannot "
            "carry (each call's path goes after it); give the host without it"
        )
    port = conn.port
    netloc = f"{parts.netloc}:{port}" if port and parts.port is None else parts.netloc
    schema = (conn.schema or "").strip().strip("/")
    path = "/".join(segment for segment in (parts.path.rstrip("/"), schema) if segment)
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def without_version(data: Any, versions: Collection[str], field: str | None = None) -> Any:
    """Settings ``data`` whose base URL ends in one of the API's ``versions`` (``https://api.anthropic.com/v1``,
    as SDKs and API references write it) without it: every call's path starts with the version, so it was sent
    twice (``/v1/v1/messages/batches``). The version read off the host is the ``field`` setting where the extras
    set none; a host naming another version than the extras set is refused."""
    if not isinstance(data, dict) or not isinstance(data.get("base_url"), str):
        return data
    parts = urlsplit(data["base_url"])
    head, _, version = parts.path.rstrip("/").rpartition("/")
    if version not in versions:
        return data
    given = data.get(field) if field else None
    if given is not None and given != version:
        raise ValueError(
            f"the host ends in the API version {version!r} but the {field} extra is {given!r}; name the version "
            f"once, in the {field} extra, and leave it out of the host (it starts every call's path)"
        )
    base = urlunsplit((parts.scheme, parts.netloc, head, parts.query, parts.fragment))
    return {**data, "base_url": base, **({field: version} if field else {})}


def credential(conn: Any, value: str | None, field: str) -> str | None:
    """A key or secret from a connection field, without the whitespace a paste brings around it (a trailing line
    break); None when empty. One with a space, a control or a non-ASCII character inside is refused naming the
    connection and the field, never the value: sent in a header it would fail with an error that shows it."""
    text = (value or "").strip()
    if any(not char.isascii() or not char.isprintable() or char.isspace() for char in text):
        raise GenAIBatchError(
            f"connection {conn.conn_id!r}: the {field} holds a space, a line break, a control or a non-ASCII "
            "character inside it, which no key holds; paste the key alone"
        )
    return text or None


def extras_for(model: type[BaseModel], conn: Any, elsewhere: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The connection extras that ``model`` declares, under a field's name or an earlier name of it, bare or
    as Airflow 2's connection form wrote them (``extra__<conn_type>__<name>``); empty form fields (null, or
    text of only whitespace, as a form saves a cleared field) keep their defaults. A setting given under two of
    its names is an error; an extra no setting reads is logged as a warning (see :func:`_warn_unread`).

    The key and base URL come only from the password and host fields, and so do the settings a hook reads
    from connection fields of its own (``elsewhere``: each name and where it goes instead). A setting the model
    inherits but this connection type does not use (its ``form_omits``) is not read either.
    """
    extra = conn.extra_dejson or {}
    prefix = f"extra__{conn.conn_type}__"
    named = {key: key.removeprefix(prefix) for key in extra}
    unused = dict.fromkeys(getattr(model, "form_omits", ()), f"a {conn.conn_type} connection does not use it")
    instead = {**_WHERE_INSTEAD, **unused, **(elsewhere or {})}
    fields = {name: field for name, field in _field_of_name(model).items() if name not in instead}
    unread = [key for key, name in named.items() if name not in fields]
    _warn_unread(conn, unread, fields, {key: instead[named[key]] for key in unread if named[key] in instead})
    given = {key: value for key, value in extra.items() if named[key] in fields and not _empty(value)}
    for field in {fields[named[key]] for key in given}:
        names = sorted(key for key in given if fields[named[key]] == field)
        if len(names) > 1:
            raise GenAIBatchError(
                f"connection {conn.conn_id!r} sets {' and '.join(map(repr, names))}, which name the same "
                f"setting; keep only {field!r}"
            )
    return {named[key]: value for key, value in given.items()}


def _empty(value: Any) -> bool:
    """An extra that sets nothing: null, or a text of only whitespace (``"timeout": ""``)."""
    return value is None or (isinstance(value, str) and not value.strip())


_WHERE_INSTEAD = {
    "api_key": "the API key goes in the password field",
    "base_url": "the base URL goes in the host field",
}
"""Where a setting given as an extra that is read from a connection field instead goes."""


def _warn_unread(conn: Any, names: list[str], fields: Mapping[str, str], instead: Mapping[str, str]) -> None:
    """Warn about each extra in ``names``, which no setting reads: a misspelt ``organisation`` or an ``api_key``
    in the extra would otherwise change nothing without a word (the job billed to the default organization, the
    key looked for in the password). ``instead`` says where a setting read from elsewhere goes. Only names are
    logged, never values."""
    for name in names:
        why = instead.get(name, f"no setting of a {conn.conn_type} connection reads it (a misspelling?)")
        log.warning(
            "connection %r sets the extra %r, which is not read: %s; the extras read are %s",
            conn.conn_id,
            name,
            why,
            ", ".join(sorted(fields)),
        )


def _field_of_name(model: type[BaseModel]) -> dict[str, str]:
    """Each extra name a model reads (field names and their alias choices) mapped to its field."""
    fields: dict[str, str] = {}
    for name, info in model.model_fields.items():
        if name in ("api_key", "base_url"):
            continue
        aliases = info.validation_alias.choices if isinstance(info.validation_alias, AliasChoices) else []
        for alias in (name, *aliases):
            if isinstance(alias, str):
                fields[alias] = name
    return fields


def invalid_connection(conn_id: str, kind: str, err: ValidationError) -> GenAIBatchError:
    """A connection whose fields do not make valid settings, each problem named by its field."""
    problems = "; ".join(
        f"{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else str(e["msg"]) for e in err.errors()
    )
    return GenAIBatchError(f"connection {conn_id!r} is not a valid {kind} connection: {problems}")
