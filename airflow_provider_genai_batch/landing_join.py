"""The join on disk that lands result rows out of input order, in memory that does not grow with the row count.

Every input key has a dense index (its line in the keys file, from 0), so the join only has to turn each row
into an index, then read the rows back by index:

1. Keys, and the provider ids of keys the provider renamed, go to buckets by hash (a power of two, at least
   :data:`BUCKETS`), each with its index. Each row's line, under the key it came with, is appended once to a
   spool file as it arrives; the row's key, where its line sits, its rank under the duplicate rule and its
   status go to the bucket of its key. Buckets are held in memory up to :data:`SPILL` records, then spilled
   to one scratch file.
2. Bucket by bucket, the bucket's keys and ids are loaded into two dicts (a key listed twice keeps its first
   index; an id, the first index that has it) and each of the bucket's rows is looked up: a row found goes to
   the range of :data:`RANGE` indexes it falls in (marked when it was found by its own key, so its spooled
   line is the landed one), a row not found to the unmatched rows.
3. Range by range, in input order, each index's rows are ranked by the duplicate rule and written under the
   key read again from the keys file: the winner to the results, the others to the duplicates, an index
   without rows as unanswered. A row found by its own key lands as its spooled line, nothing re-encoded, read
   back with one ``pread`` together with the lines before it that follow one another in the spool as they do
   in the results (rows that came in input order, such as those streamed before a late break of the order,
   are read back a chunk at a time). A row found by a provider id, or placed by its index, is read alone and
   gets the input key in place of the one it came with.
4. The unmatched rows are written in arrival order, merged from the runs (each in arrival order) the
   buckets gave: their spooled lines, as they are.

What is held at once is one bucket's keys and rows (:data:`BUCKET_KEYS` keys or fewer), one range's rows,
and the records waiting to be spilled; the scratch space is the spool (about the size of the results), a copy
of the keys file and about 30 bytes per key and per row. All of it lives in the landing's scratch directory.
"""

from __future__ import annotations

import heapq
import marshal
import os
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import IO, Any, Protocol

from airflow_provider_genai_batch.formats.keys import key_line
from airflow_provider_genai_batch.formats.results import RowStatus, rekeyed

BUCKETS = 256
"""The fewest hash buckets of keys and rows: a bucket's share is what the look-up holds in memory at once."""

BUCKET_KEYS = 4096
"""Keys a bucket holds, about: a keys file of more keys has more buckets (a power of two)."""

RANGE = 1 << 14
"""Input indexes whose rows are ranked and written together: what the write-out holds in memory at once."""

SPILL = 1 << 14
"""Records held across all partitions of one kind before they are appended to their scratch file."""

RUN_CHUNK = 1024
"""Records of one unmatched run read back at once while the runs are merged."""

SPOOL_BUFFER = 1 << 20
"""Bytes of the spool buffered before one write."""

SPOOL_GROWTH = 1 << 26
"""Bytes the spool is made longer than its last write, ahead of the next ones."""

WRITE_CHUNK = 1 << 20
"""Bytes gathered before one write to a landed file."""

STATUSES = tuple(status.value for status in RowStatus)
"""A row's status by its code (the low three bits of the number a row is filed under)."""
STATUS_CODES = {status: code for code, status in enumerate(RowStatus)}
"""A status's code."""
_PLACED = 1 << 5
"""Set on a row without a key placed at the index it carried."""
_SAME = 1 << 6
"""Set by the look-up on a row found by its own key: the line spooled for it is the line it lands as."""
_RANK_SHIFT = 3
_SIZE_SHIFT = 7

_Other = tuple[int, int, int, int]
"""A row that lost under the duplicate rule: index from its range's start, rank, spool offset, packed size."""

Entry = tuple[str | None, int | None, int, int, bytes]
"""A row as the join takes it: its key as it came, position, rank under the duplicate rule (0 a success, 1 any
other readable outcome, 2 a line that could not be read), status code, and its landed line under the key it
came with (``{"key":``, that key, then ``,"status":`` and the rest)."""


class LineSink(Protocol):
    """Where landed lines go: a landed file (``landing.OutputFile``), created on its first write."""

    def write_lines(self, lines: list[bytes]) -> None: ...


class _Buffered:
    """Lines of keyed rows gathered for one :class:`LineSink`, written about :data:`WRITE_CHUNK` bytes at a time."""

    def __init__(self, sink: LineSink) -> None:
        self.sink = sink
        self.lines: list[bytes] = []
        self.count = 0
        self._size = 0

    def add(self, line: bytes) -> None:
        """A landed line."""
        self.lines.append(line)
        self.count += 1
        self._size += len(line)
        if self._size >= WRITE_CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.lines:
            self.sink.write_lines(self.lines)
            self.lines.clear()
        self._size = 0


class _Partitions:
    """Records in columns spread over ``count`` partitions, held in memory up to :data:`SPILL` records in all,
    then appended partition by partition to one scratch file; :meth:`load` gives one partition's records back
    in the order they were added. Each spilled piece names the partition's piece before it, so what is kept in
    memory of the spilled ones is two numbers per partition, however many there are."""

    def __init__(self, path: Path, count: int, columns: int) -> None:
        self._file = path.open("w+b")
        self.held: list[tuple[list[Any], ...]] = [tuple([] for _ in range(columns)) for _ in range(count)]
        self._last = array("q", [-1]) * count
        self._last_size = array("q", [0]) * count
        self.holding = 0
        """Records in :attr:`held`, as counted by the callers that append them."""

    def added(self, records: int) -> None:
        """Count records the caller appended to :attr:`held`; spill once :data:`SPILL` are held."""
        self.holding += records
        if self.holding >= SPILL:
            self.spill()

    def spill(self) -> None:
        write, where = self._file.write, self._file.tell()
        last, last_size = self._last, self._last_size
        for number, columns in enumerate(self.held):
            if columns[0]:
                data = marshal.dumps((last[number], last_size[number], columns))
                write(data)
                last[number], last_size[number] = where, len(data)
                where += len(data)
                for column in columns:
                    column.clear()
        self.holding = 0

    def load(self, number: int) -> tuple[list[Any], ...]:
        """Partition ``number``'s records, its columns in the order added (the spilled ones, then the held)."""
        self._file.flush()
        descriptor = self._file.fileno()
        pieces: list[tuple[list[Any], ...]] = []
        where, size = self._last[number], self._last_size[number]
        while where >= 0:
            where, size, columns = marshal.loads(os.pread(descriptor, size, where))
            pieces.append(columns)
        held = self.held[number]
        if not pieces:
            return held
        loaded: tuple[list[Any], ...] = tuple([] for _ in held)
        for columns in (*reversed(pieces), held):
            for column, part in zip(loaded, columns, strict=True):
                column += part
        return loaded

    def close(self) -> None:
        self._file.close()


class _Runs:
    """Runs of unmatched rows ``(spool offset, packed size and status)``, each sorted by offset, appended to one
    scratch file :data:`RUN_CHUNK` records at a time and merged back in offset order."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("w+b")
        self._runs: list[list[tuple[int, int]]] = []

    def start(self) -> int:
        """A new run, empty: its number."""
        self._runs.append([])
        return len(self._runs) - 1

    def extend(self, run: int, offsets: list[int], packed: list[int]) -> None:
        """Records whose offsets follow the run's last, written in chunks."""
        chunks = self._runs[run]
        for start in range(0, len(offsets), RUN_CHUNK):
            end = start + RUN_CHUNK
            data = marshal.dumps((offsets[start:end], packed[start:end]))
            chunks.append((self._file.tell(), len(data)))
            self._file.write(data)

    def merged(self) -> Iterator[tuple[int, int]]:
        """Every run's records, in offset order."""
        self._file.flush()
        return heapq.merge(*(self._read(run) for run in self._runs))

    def _read(self, chunks: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
        descriptor = self._file.fileno()
        for where, size in chunks:
            yield from zip(*marshal.loads(os.pread(descriptor, size, where)), strict=True)

    def close(self) -> None:
        self._file.close()


class DiskJoin:
    """Input keys and result rows joined in a scratch directory (see the module docstring).

    Keys come first (:meth:`load_keys`, or :meth:`take_keys_from_rows` once the rows are staged when there is
    no keys file), rows by :meth:`stage`; :meth:`write` lands them. ``read_keys`` reads a keys file a block of
    keys at a time; ``expected`` is about how many keys there are, which sizes the buckets when there is no keys
    file. Closing it closes its scratch files; the caller removes the directory.
    """

    def __init__(
        self, scratch: Path, read_keys: Callable[[IO[bytes]], Iterator[list[str]]], expected: int | None = None
    ) -> None:
        self._scratch = scratch
        self._read_keys = read_keys
        self._expected = expected or 0
        self._spool = (scratch / "rows.spool").open("w+b", buffering=SPOOL_BUFFER)
        self._spooled = 0
        self._grown = 0
        self._buckets = 0
        self._keys: _Partitions | None = None
        self._rows: _Partitions | None = None
        self._unmatched = _Runs(scratch / "unmatched.runs")
        self._keys_path = scratch / "keys.jsonl"
        self._count: int | None = None
        self._ranges: _Partitions | None = None
        self._deleted: _Partitions | None = None
        self.staged = 0

    # --- keys ------------------------------------------------------------------------------------------------

    def load_keys(self, source: IO[bytes], rename: Callable[[str], str]) -> None:
        """The input keys of ``source`` (a keys file), copied to the scratch directory, where the write-out
        reads them again; ``rename`` is the provider's renaming."""
        lines = 0
        with self._keys_path.open("wb") as copy:
            while chunk := source.read(SPOOL_BUFFER):
                copy.write(chunk)
                lines += chunk.count(b"\n")
        self._bucket(lines + 1)
        self._file_keys(rename)

    def _bucket(self, keys: int) -> None:
        """Make the buckets, enough for about ``keys`` keys: :data:`BUCKET_KEYS` or fewer each."""
        buckets = BUCKETS
        while buckets * BUCKET_KEYS < keys:
            buckets *= 2
        self._buckets = buckets
        self._keys = _Partitions(self._scratch / "keys.parts", buckets, 4)
        self._rows = _Partitions(self._scratch / "rows.parts", buckets, 3)

    def _file_keys(self, rename: Callable[[str], str]) -> None:
        """Each key of the scratch keys file to its bucket with its index, and each provider id that differs
        from its key to the id's bucket; then the ranges of indexes are made."""
        assert self._keys is not None
        mask = self._buckets - 1
        held, added = self._keys.held, self._keys.added
        index = 0
        with self._keys_path.open("rb") as keys:
            for block in self._read_keys(keys):
                for key in block:
                    columns = held[hash(key) & mask]
                    columns[0].append(key)
                    columns[1].append(index)
                    index += 1
                renamed = 0
                ids = list(map(rename, block))
                if ids != block:
                    first = index - len(block)
                    for number, (key, provider_id) in enumerate(zip(block, ids, strict=True), start=first):
                        if provider_id != key:
                            columns = held[hash(provider_id) & mask]
                            columns[2].append(provider_id)
                            columns[3].append(number)
                            renamed += 1
                added(len(block) + renamed)
        self._keys.spill()  # nothing held while the rows come
        self._count = index
        ranges = max(1, -(-index // RANGE))
        self._ranges = _Partitions(self._scratch / "ranges.parts", ranges, 3)
        self._deleted = _Partitions(self._scratch / "deleted.parts", ranges, 1)

    # --- rows ------------------------------------------------------------------------------------------------

    def stage(self, entries: Iterable[Entry]) -> int:
        """Spool each row's line and file the row under its key (a row without a key, at the index it carries
        when there are keys and the index is one of theirs, else as unmatched); returns how many lines could
        not be read."""
        if self._rows is None:
            self._bucket(self._expected)
        assert self._rows is not None
        write = self._spool.write
        offset, grown = self._spooled, self._grown
        mask = self._buckets - 1
        rows = self._rows
        held, holding = rows.held, rows.holding
        count = self._count
        unparseable = staged = 0
        run = self._unmatched.start()
        loose: tuple[list[int], list[int]] = ([], [])
        for key, position, rank, code, line in entries:
            write(line)
            size = len(line)
            if offset + size > grown:
                grown = self._grow(offset + size)
            packed = size << _SIZE_SHIFT | rank << _RANK_SHIFT | code
            if key is not None:
                columns = held[hash(key) & mask]
                columns[0].append(key)
                columns[1].append(offset)
                columns[2].append(packed)
                holding += 1
                if holding >= SPILL:
                    rows.spill()
                    holding = 0
            elif count is not None and position is not None and 0 <= position < count:
                self._place(position, offset, packed | _PLACED)
            else:
                loose[0].append(offset)
                loose[1].append(packed)
                if len(loose[0]) >= RUN_CHUNK:
                    self._unmatched.extend(run, *loose)
                    loose = ([], [])
            offset += size
            staged += 1
            unparseable += rank == 2
        rows.holding = holding
        rows.spill()
        self._unmatched.extend(run, *loose)
        self._spooled, self._grown = offset, grown
        self.staged += staged
        self._spool.flush()
        return unparseable

    def _grow(self, end: int) -> int:
        """Make the spool :data:`SPOOL_GROWTH` longer than ``end``, ahead of the writes: the kernel takes a
        fraction of the time for a write inside a file than for one that extends it."""
        self._grown = end + SPOOL_GROWTH
        os.ftruncate(self._spool.fileno(), self._grown)
        return self._grown

    def _place(self, index: int, offset: int, packed: int) -> None:
        assert self._ranges is not None
        columns = self._ranges.held[index // RANGE]
        columns[0].append(index)
        columns[1].append(offset)
        columns[2].append(packed)
        self._ranges.added(1)

    def take_keys_from_rows(self) -> None:
        """Without a keys file: every key a row carries is an input key, in the order keys first arrived."""
        parts = max(1, -(-self.staged // RANGE))
        span = self._spooled // parts + 1
        firsts = _Partitions(self._scratch / "firsts.parts", parts, 2)
        assert self._rows is not None
        try:
            for bucket in range(self._buckets):
                keys, offsets, _ = self._rows.load(bucket)
                for key, offset in dict(zip(reversed(keys), reversed(offsets), strict=True)).items():
                    columns = firsts.held[offset // span]
                    columns[0].append(offset)
                    columns[1].append(key)
                    firsts.added(1)
            with self._keys_path.open("wb") as derived:
                for part in range(parts):
                    offsets, keys = firsts.load(part)
                    derived.writelines(key_line(keys[i]) for i in sorted(range(len(keys)), key=offsets.__getitem__))
        finally:
            firsts.close()
        self._file_keys(str)

    # --- the look-up -----------------------------------------------------------------------------------------

    def _look_up(self) -> None:
        """Bucket by bucket, each row to its input index's range (or to the unmatched runs); keys listed again
        are noted by index, as their rows land nowhere."""
        assert self._keys is not None and self._rows is not None
        assert self._ranges is not None and self._deleted is not None
        ranges, deleted = self._ranges, self._deleted
        for bucket in range(self._buckets):
            keys, indexes, ids, id_indexes = self._keys.load(bucket)
            by_key = dict(zip(reversed(keys), reversed(indexes), strict=True))
            if len(by_key) != len(keys):
                for key, index in zip(keys, indexes, strict=True):
                    if by_key[key] != index:
                        deleted.held[index // RANGE][0].append(index)
                        deleted.added(1)
            by_id = dict(zip(reversed(ids), reversed(id_indexes), strict=True))
            row_keys, offsets, packs = self._rows.load(bucket)
            found = list(map(by_key.get, row_keys))
            same = [_SAME] * len(found)
            if by_id:  # an id comes before a key alike (the id's row lands under another key)
                for number, index in enumerate(map(by_id.get, row_keys)):
                    if index is not None:
                        found[number], same[number] = index, 0
            loose: tuple[list[int], list[int]] = ([], [])
            held, added = ranges.held, ranges.added
            for index, offset, packed, mark in zip(found, offsets, packs, same, strict=True):
                if index is None:
                    loose[0].append(offset)
                    loose[1].append(packed)
                else:
                    columns = held[index // RANGE]
                    columns[0].append(index)
                    columns[1].append(offset)
                    columns[2].append(packed | mark)
            added(len(found) - len(loose[0]))
            self._unmatched.extend(self._unmatched.start(), *loose)
        ranges.spill()

    # --- the write-out ---------------------------------------------------------------------------------------

    def write(
        self, outputs: tuple[LineSink, LineSink, LineSink], unanswered: Callable[[int, str], bytes], tally: Counter[str]
    ) -> int:
        """Land the join into ``outputs`` (results, duplicates, unmatched): for each input key in input order, the
        rule's winner among its rows to the results (or the line ``unanswered`` gives for the key and its
        position from 1) and its other rows to the duplicates; then the rows that joined no key, in arrival
        order. Counts go to ``tally``; returns how many rows without a key were placed by their index."""
        self._look_up()
        assert self._count is not None
        results, duplicates, unmatched = (_Buffered(output) for output in outputs)
        spool, read = self._spool.fileno(), os.pread
        if hasattr(os, "posix_fadvise"):  # no read-ahead around each line read back: half the system time
            os.posix_fadvise(spool, 0, 0, os.POSIX_FADV_RANDOM)
        counted = [0] * len(STATUSES)
        placed = 0
        late: list[tuple[int, int]] = []
        lines, size = results.lines, 0
        span = end = 0  # spooled lines landing as they are, one after the other, not read yet
        with self._keys_path.open("rb") as source:
            keys = chain.from_iterable(self._read_keys(source))
            for number in range(max(1, -(-self._count // RANGE))):
                base = number * RANGE
                firsts, first_packed, others, gone = self._ranked(number, base, min(RANGE, self._count - base))
                more = iter(others)
                pending = next(more, None)
                for spot, key in zip(range(len(firsts)), keys, strict=False):  # the keys of this range only
                    offset = firsts[spot]
                    if gone and spot + base in gone:  # a key listed again: rows placed here join nothing
                        if offset >= 0:
                            late.append((offset, first_packed[spot]))
                        while pending is not None and pending[0] == spot:
                            late.append((pending[2], pending[3]))
                            pending = next(more, None)
                        continue
                    if offset < 0:
                        line = unanswered(base + spot + 1, key)
                    else:
                        packed = first_packed[spot]
                        length = packed >> _SIZE_SHIFT
                        counted[packed & 7] += 1
                        placed += packed & _PLACED != 0
                        while pending is not None and pending[0] == spot:
                            other = read(spool, pending[3] >> _SIZE_SHIFT, pending[2])
                            duplicates.add(other if pending[3] & _SAME else rekeyed(other, key))
                            placed += pending[3] & _PLACED != 0
                            pending = next(more, None)
                        if packed & _SAME:
                            if offset != end:
                                if end > span:
                                    lines.append(read(spool, end - span, span))
                                span = offset
                            end = offset + length
                            size += length
                            if size >= WRITE_CHUNK:
                                lines.append(read(spool, end - span, span))
                                span = end
                                results.flush()
                                size = 0
                            continue
                        line = rekeyed(read(spool, length, offset), key)
                    if end > span:
                        lines.append(read(spool, end - span, span))
                        span = end
                    lines.append(line)
                    size += len(line)
                    if size >= WRITE_CHUNK:
                        results.flush()
                        size = 0
        if end > span:
            lines.append(read(spool, end - span, span))
        results.flush()
        late.sort()
        self._unmatched.extend(self._unmatched.start(), [offset for offset, _ in late], [packed for _, packed in late])
        for offset, packed in self._unmatched.merged():
            unmatched.add(read(spool, packed >> _SIZE_SHIFT, offset))
        duplicates.flush()
        unmatched.flush()
        tally.update({status: count for status, count in zip(STATUSES, counted, strict=True) if count})
        tally.update(
            {name: out.count for name, out in (("duplicates", duplicates), ("unmatched", unmatched)) if out.count}
        )
        return placed

    def _ranked(self, number: int, base: int, length: int) -> tuple[array[int], array[int], list[_Other], set[int]]:
        """Range ``number``'s rows ranked by the duplicate rule: the winner's offset (-1: none) and packed size
        by index from ``base``, the other rows sorted by index and rank then arrival, and the indexes of keys
        listed again."""
        assert self._ranges is not None and self._deleted is not None
        indexes, offsets, packs = self._ranges.load(number)
        firsts = array("q", [-1]) * length
        first_packed = array("q", [0]) * length
        others: list[_Other] = []
        for index, offset, packed in zip(indexes, offsets, packs, strict=True):
            spot = index - base
            held = firsts[spot]
            if held < 0:
                firsts[spot], first_packed[spot] = offset, packed
                continue
            held_packed = first_packed[spot]
            if (packed >> _RANK_SHIFT & 3, offset) < (held_packed >> _RANK_SHIFT & 3, held):
                firsts[spot], first_packed[spot] = offset, packed
                offset, packed = held, held_packed
            others.append((spot, packed >> _RANK_SHIFT & 3, offset, packed))
        others.sort()
        return firsts, first_packed, others, set(self._deleted.load(number)[0])

    def __enter__(self) -> DiskJoin:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for closing in (self._keys, self._rows, self._unmatched, self._ranges, self._deleted):
            if closing is not None:
                closing.close()
        self._spool.close()
