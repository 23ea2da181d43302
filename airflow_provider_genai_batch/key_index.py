"""On-disk records of input keys with bounded memory, so memory stays flat at millions of keys.

Validation must know every key it has seen (to name the line of a duplicate); in a dict that grows with
the row count. :class:`KeyLog` only appends and finds duplicates afterwards, one part of the hashes at a
time: its cost does not depend on the order keys come in, while a B-tree kept ordered per key (a look-up per
key) slows down several times when they come in random order (UUIDs). Landing only needs to know whether keys are
distinct at all, at a fraction of a microsecond a key: :class:`DistinctCheck`.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import tempfile
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

LOG_CACHE_KIB = 2 * 1024
"""The log's page cache, which also bounds its sort's memory: appends need none, the sort spills to disk."""


def _connect(path: Path, cache_kib: int) -> sqlite3.Connection:
    """A throwaway database: no journal, no syncing, temporary sort files on disk, a bounded cache."""
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "temp_store=FILE", f"cache_size=-{cache_kib}"):
        db.execute(f"PRAGMA {pragma}")
    return db


def _temporary_file(directory: Path | None) -> Path:
    descriptor, name = tempfile.mkstemp(prefix="genai-batch-keys-", suffix=".sqlite", dir=directory)
    os.close(descriptor)
    return Path(name)


@dataclass(frozen=True)
class Duplicate:
    """Two lines whose ids are equal: ``line`` is the later one, ``first_line`` where the id was first used."""

    id: str
    line: int
    key: str
    first_line: int
    first_key: str


class KeyLog:
    """Ids appended with their line number (and, where it differs, the key the id stands for).

    :meth:`add` only buffers. Every :data:`BATCH` rows, their ids and keys go to a scratch file as one record,
    and each row's line number and id hash to one of :data:`PARTS` parts by the hash's low bits, the parts held
    in memory up to :data:`SPILL` rows and then appended to the same file. :meth:`first_duplicate` loads one part
    at a time to find the hashes two rows share; only those rows (few or none) have their ids read back and
    compared, in an SQLite table, so a log without duplicates never inserts, sorts or compares its ids' text.
    Not thread-safe; closing it (or leaving its ``with`` block) removes its files.
    """

    BATCH = 8192
    PARTS = 256
    SPILL = 1 << 16
    """Rows added between two spills of every part: 16 bytes each are held."""
    _hash = staticmethod(hash)
    """What rows are grouped on before their ids are compared in full (a cheap integer first)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.path = _temporary_file(directory)
        self._db = _connect(self.path, LOG_CACHE_KIB)
        self._db.execute("BEGIN")  # one transaction for the log's whole life: nothing is ever synced
        descriptor, name = tempfile.mkstemp(prefix="genai-batch-keys-", dir=directory)
        os.unlink(name)  # held open only: nothing is left behind however the process ends
        self._file: IO[bytes] = os.fdopen(descriptor, "w+b")
        self._records: list[tuple[int, int]] = []
        """Where each batch's record of ids and keys is in the file: offset and size."""
        self._hashes = [array("q") for _ in range(self.PARTS)]
        self._numbers = [array("q") for _ in range(self.PARTS)]
        self._spilled: list[list[tuple[int, int]]] = [[] for _ in range(self.PARTS)]
        """Per part, the offset and size of each spill of its hashes (its line numbers follow them)."""
        self._since_spill = 0
        self._lines: list[int] = []
        self._ids: list[str] = []
        self._keys: list[str | None] = []

    def add(self, line: int, id_: str, key: str | None = None) -> None:
        """Log ``id_`` for ``line`` (lines must grow); ``key`` is the key it stands for, when not ``id_``."""
        self._lines.append(line)
        self._ids.append(id_)
        self._keys.append(key)
        if len(self._lines) >= self.BATCH:
            self._flush()

    def first_duplicate(self) -> Duplicate | None:
        """The earliest line whose id an earlier line already had, or None when every id is distinct."""
        if not self._shared():
            return None
        found = self._db.execute(
            "WITH dup AS (SELECT hash, id, MIN(line) AS first FROM ids GROUP BY hash, id HAVING COUNT(*) > 1) "
            "SELECT MIN(ids.line) AS line, dup.first FROM dup "
            "JOIN ids ON ids.hash = dup.hash AND ids.id = dup.id AND ids.line > dup.first "
            "GROUP BY dup.hash, dup.id ORDER BY line LIMIT 1"
        ).fetchone()
        if found is None:
            return None
        line, first_line = found
        (id_, key), (_, first_key) = (self._row(line), self._row(first_line))
        return Duplicate(id=id_, line=line, key=key, first_line=first_line, first_key=first_key)

    def duplicates(self, limit: int) -> tuple[list[Duplicate], int]:
        """The first ``limit`` lines (in line order) whose id an earlier line already had, and how many in all."""
        if not self._shared():
            return [], 0
        found = self._db.execute(
            "WITH dup AS (SELECT hash, id, MIN(line) AS first FROM ids GROUP BY hash, id HAVING COUNT(*) > 1) "
            "SELECT ids.line, dup.first FROM dup "
            "JOIN ids ON ids.hash = dup.hash AND ids.id = dup.id AND ids.line > dup.first ORDER BY ids.line"
        )
        listed: list[Duplicate] = []
        total = 0
        for line, first_line in found:
            total += 1
            if len(listed) < limit:
                (id_, key), (_, first_key) = (self._row(line), self._row(first_line))
                listed.append(Duplicate(id=id_, line=line, key=key, first_line=first_line, first_key=first_key))
        return listed, total

    def _shared(self) -> bool:
        """Fill table ``ids`` with the rows whose hash another row shares, their ids read back from the file;
        whether there are any."""
        self._flush()
        self._file.flush()
        db = self._db
        db.execute("DROP TABLE IF EXISTS ids")
        db.execute("DROP TABLE IF EXISTS shared")
        db.execute("CREATE TABLE shared (line INTEGER PRIMARY KEY, hash INTEGER NOT NULL)")
        for number in range(self.PARTS):
            hashes, lines = self._part(number)
            if len(set(hashes)) != len(hashes):
                twice = {digest for digest, count in Counter(hashes).items() if count > 1}
                pairs = [(line, digest) for digest, line in zip(hashes, lines, strict=True) if digest in twice]
                db.executemany("INSERT INTO shared VALUES (?, ?)", pairs)
        shared = db.execute("SELECT line, hash FROM shared ORDER BY line")
        wanted = next(shared, None)
        if wanted is None:
            return False
        db.execute("CREATE TABLE ids (line INTEGER PRIMARY KEY, hash INTEGER NOT NULL, id TEXT NOT NULL, key TEXT)")
        descriptor = self._file.fileno()
        for offset, size in self._records:
            lines, ids, keys = pickle.loads(os.pread(descriptor, size, offset))
            rows: list[tuple[int, int, str, str | None]] = []
            for index, line in enumerate(lines):
                if wanted is not None and line == wanted[0]:
                    rows.append((line, wanted[1], ids[index], keys[index]))
                    wanted = next(shared, None)
            db.executemany("INSERT INTO ids VALUES (?, ?, ?, ?)", rows)
            if wanted is None:
                break
        return True

    def _part(self, number: int) -> tuple[array[int], array[int]]:
        """The hashes of part ``number`` and the line numbers of their rows, spilled and held."""
        hashes, lines = array("q"), array("q")
        descriptor = self._file.fileno()
        for offset, size in self._spilled[number]:
            hashes.frombytes(os.pread(descriptor, size, offset))
            lines.frombytes(os.pread(descriptor, size, offset + size))
        hashes.extend(self._hashes[number])
        lines.extend(self._numbers[number])
        return hashes, lines

    def _row(self, line: int) -> tuple[str, str]:
        id_, key = self._db.execute("SELECT id, key FROM ids WHERE line = ?", (line,)).fetchone()
        return id_, key if key is not None else id_

    def _flush(self) -> None:
        if not self._lines:
            return
        record = pickle.dumps((self._lines, self._ids, self._keys), pickle.HIGHEST_PROTOCOL)
        self._records.append((self._file.seek(0, os.SEEK_END), len(record)))
        self._file.write(record)
        hashes, numbers, last = self._hashes, self._numbers, self.PARTS - 1
        for line, digest in zip(self._lines, map(self._hash, self._ids), strict=True):
            hashes[digest & last].append(digest)
            numbers[digest & last].append(line)
        self._since_spill += len(self._lines)
        self._lines, self._ids, self._keys = [], [], []
        if self._since_spill >= self.SPILL:
            self._spill()

    def _spill(self) -> None:
        self._file.seek(0, os.SEEK_END)
        for number, (hashes, lines) in enumerate(zip(self._hashes, self._numbers, strict=True)):
            if hashes:
                self._spilled[number].append((self._file.tell(), len(hashes) * hashes.itemsize))
                hashes.tofile(self._file)
                lines.tofile(self._file)
                del hashes[:]
                del lines[:]
        self._since_spill = 0

    def close(self) -> None:
        """Drop the log and its files."""
        self._db.close()
        self._file.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> KeyLog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class DistinctCheck:
    """Whether no two strings added are alike, in memory that does not grow with their number.

    Each string's hash goes to one of :data:`PARTS` parts by its low bits; every :data:`SPILL` strings the
    parts are appended to one scratch file, and :meth:`distinct` loads one part at a time into a set. Two
    different strings of equal hash read as alike: the answer errs only towards "not distinct". Hashes are
    the process's own, so a check lives and ends in one process; closing it removes its file.
    """

    PARTS = 256
    SPILL = 1 << 16
    """Strings added between two spills of every part: at most 8 bytes each are held."""

    def __init__(self, directory: Path | None = None) -> None:
        descriptor, name = tempfile.mkstemp(prefix="genai-batch-distinct-", dir=directory)
        self._file = os.fdopen(descriptor, "w+b")
        self.path = Path(name)
        self._parts = [array("q") for _ in range(self.PARTS)]
        self._spilled: list[list[tuple[int, int]]] = [[] for _ in range(self.PARTS)]
        self._since_spill = 0

    def add(self, text: str) -> None:
        digest = hash(text)
        self._parts[digest & (self.PARTS - 1)].append(digest)
        self._since_spill += 1
        if self._since_spill >= self.SPILL:
            self._spill()

    def add_all(self, texts: Sequence[str]) -> None:
        """:meth:`add` for each of ``texts`` (cheaper than calling it for each)."""
        parts, last = self._parts, self.PARTS - 1
        for digest in map(hash, texts):
            parts[digest & last].append(digest)
        self._since_spill += len(texts)
        if self._since_spill >= self.SPILL:
            self._spill()

    def distinct(self) -> bool:
        """Whether every string added differs from every other (a hash shared by two says they may not)."""
        self._file.flush()
        descriptor = self._file.fileno()
        for number, part in enumerate(self._parts):
            hashes = array("q")
            for offset, size in self._spilled[number]:
                hashes.frombytes(os.pread(descriptor, size, offset))
            hashes.extend(part)
            if len(set(hashes)) != len(hashes):
                return False
        return True

    def _spill(self) -> None:
        for number, part in enumerate(self._parts):
            if part:
                self._spilled[number].append((self._file.tell(), len(part) * part.itemsize))
                part.tofile(self._file)
                del part[:]
        self._since_spill = 0

    def close(self) -> None:
        """Drop the check and its file."""
        self._file.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> DistinctCheck:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class KeyFilter:
    """A set of keys on disk (a follow-up round's keys may be millions), asked about once per input line.

    Built from an iterator of keys. Most lines of a follow-up round are not in it, so a bitmap of key hashes
    in :data:`BITMAP_BYTES` answers most of them without a look-up. Its file is unlinked once open, so
    nothing is left behind however the process ends; :meth:`close` frees it at once.
    """

    BITMAP_BYTES = 1 << 20
    BATCH = 8192

    def __init__(self, keys: Iterable[str], directory: Path | None = None) -> None:
        path = _temporary_file(directory)
        self._db = _connect(path, LOG_CACHE_KIB)
        path.unlink()
        self._db.execute("CREATE TABLE keys (key TEXT PRIMARY KEY) WITHOUT ROWID")
        self._db.execute("BEGIN")
        self._bits = bytearray(self.BITMAP_BYTES)
        mask = self.BITMAP_BYTES * 8 - 1
        pending: list[tuple[str]] = []
        for key in keys:
            spot = hash(key) & mask
            self._bits[spot >> 3] |= 1 << (spot & 7)
            pending.append((key,))
            if len(pending) >= self.BATCH:
                self._db.executemany("INSERT OR IGNORE INTO keys VALUES (?)", pending)
                pending = []
        self._db.executemany("INSERT OR IGNORE INTO keys VALUES (?)", pending)
        self._mask = mask
        (self.count,) = self._db.execute("SELECT COUNT(*) FROM keys").fetchone()

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        spot = hash(key) & self._mask
        if not self._bits[spot >> 3] & (1 << (spot & 7)):
            return False
        return self._db.execute("SELECT 1 FROM keys WHERE key = ?", (key,)).fetchone() is not None

    def __len__(self) -> int:
        return int(self.count)

    def first_missing(self, present: Iterable[str]) -> str | None:
        """A key of the filter that is not among ``present`` (every key it holds that was found), or None."""
        self._db.execute("CREATE TEMP TABLE present (key TEXT PRIMARY KEY) WITHOUT ROWID")
        try:
            pending: list[tuple[str]] = []
            for key in present:
                pending.append((key,))
                if len(pending) >= self.BATCH:
                    self._db.executemany("INSERT OR IGNORE INTO present VALUES (?)", pending)
                    pending = []
            self._db.executemany("INSERT OR IGNORE INTO present VALUES (?)", pending)
            found = self._db.execute(
                "SELECT key FROM keys WHERE key NOT IN (SELECT key FROM present) LIMIT 1"
            ).fetchone()
        finally:
            self._db.execute("DROP TABLE present")
        return None if found is None else str(found[0])

    def close(self) -> None:
        """Drop the filter."""
        self._db.close()

    def __enter__(self) -> KeyFilter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
