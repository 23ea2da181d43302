"""Storage of the fake provider's own: ``gs://`` objects and ``bq://`` tables in dicts, every read recorded.

:func:`attach_storage` gives a :class:`FakeBatchHook` the hook side of the stored-input and table seams
(``open_stored``, ``table_input``, ``iter_table_keys``) and the capability to write to ``gs://`` and
``bq://`` destinations, as a provider with storage of its own (Vertex) has them. Stored objects are read
through a stream that cannot seek, as a download is.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import pytest

from airflow_provider_genai_batch.errors import NotFoundError, ProviderAPIError
from airflow_provider_genai_batch.formats.dialect import ProviderCapabilities
from airflow_provider_genai_batch.spec import StoredObject, TableInput

from .fakes import FakeBatchHook

STORAGE_CAPABILITIES = ProviderCapabilities(
    file_input=True, inline_input=True, embeddings=True, labels=True, destinations=frozenset({"gs", "bq"})
)


class Download(io.RawIOBase):
    """The bytes of a stored object, read as a download streams them: forwards only, a few bytes at a time."""

    def __init__(self, data: bytes, chunk: int = 7) -> None:
        super().__init__()
        self._data = io.BytesIO(data)
        self._chunk = chunk

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._data.read(min(len(view), self._chunk))
        view[: len(data)] = data
        return len(data)


@dataclass
class FakeStorage:
    """``gs://`` objects (bytes) and ``bq://`` tables (keys and a data version) the fake provider reads itself."""

    objects: dict[str, bytes] = field(default_factory=dict)
    tables: dict[str, tuple[list[Any], str]] = field(default_factory=dict)
    table_rows: dict[str, int] = field(default_factory=dict)
    """A row count a table's metadata reports instead of its key count (a table that changes while read)."""
    forbidden: set[str] = field(default_factory=set)
    """URIs the provider's storage answers 403 for."""
    opened: list[str] = field(default_factory=list)
    keys_read: list[str] = field(default_factory=list)
    rewritten: dict[str, bytes] = field(default_factory=dict)
    """What an object holds from its second read on: a writer overwrote it after the first read."""

    def open_stored(self, uri: str) -> StoredObject | None:
        if not uri.startswith("gs://"):
            return None
        if uri in self.forbidden:
            raise ProviderAPIError("caller does not have storage.objects.get access", http_status=403, provider="gcs")
        if uri not in self.objects:
            raise FileNotFoundError(uri)
        data = self.objects[uri]

        def open_stream() -> IO[bytes]:
            self.opened.append(uri)
            read_before = self.opened.count(uri) > 1
            return io.BufferedReader(Download(self.rewritten.get(uri, data) if read_before else data))

        return StoredObject(uri=uri, size=len(data), open=open_stream)

    def table_input(self, uri: str, *, model: str, embeddings: bool) -> TableInput | None:
        if not uri.startswith("bq://"):
            return None
        if uri not in self.tables:
            raise NotFoundError(f"Not found: Table {uri}", http_status=404, provider="bigquery")
        keys, version = self.tables[uri]
        return TableInput(uri=uri, rows=self.table_rows.get(uri, len(keys)), version=version)

    def iter_table_keys(self, uri: str) -> Iterator[str]:
        self.keys_read.append(uri)
        yield from self.tables[uri][0]


def attach_storage(hook: FakeBatchHook, monkeypatch: pytest.MonkeyPatch) -> FakeStorage:
    """Give ``hook`` a :class:`FakeStorage` and the ``gs``/``bq`` destinations."""
    storage = FakeStorage()
    for method in ("open_stored", "table_input", "iter_table_keys"):
        monkeypatch.setattr(hook, method, getattr(storage, method))
    hook.use_dialect(capabilities=STORAGE_CAPABILITIES)
    return storage
