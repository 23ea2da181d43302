"""The on-disk key log: appends in bulk, finds the earliest duplicate with one sort, removes its file; the
distinct check: says whether strings repeat, across spills to its file, and removes its file."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_genai_batch.key_index import DistinctCheck, Duplicate, KeyLog


def test_a_log_of_distinct_ids_has_no_duplicate():
    with KeyLog() as log:
        for line, id_ in enumerate(("a", "b", "A", "\u00e9", "e\u0301"), 1):
            log.add(line, id_)
        assert log.first_duplicate() is None


def test_the_duplicate_reported_is_the_earliest_second_use():
    with KeyLog() as log:
        for line, id_ in enumerate(("a", "b", "c", "b", "a", "c"), 1):
            log.add(line, id_)
        assert log.first_duplicate() == Duplicate(id="b", line=4, key="b", first_line=2, first_key="b")


def test_a_duplicate_names_the_keys_the_ids_stand_for():
    with KeyLog() as log:
        log.add(1, "k-1234", "order 17 / item 3")
        log.add(2, "x")
        log.add(3, "k-1234")
        assert log.first_duplicate() == Duplicate(
            id="k-1234", line=3, key="k-1234", first_line=1, first_key="order 17 / item 3"
        )


def test_duplicates_are_found_across_bulk_inserts_and_in_what_is_still_buffered():
    with KeyLog() as log:
        count = 2 * KeyLog.BATCH + 10
        for line in range(1, count + 1):
            log.add(line, f"id-{line}")
        log.add(count + 1, "id-7")  # still in the buffer, its twin long flushed
        assert log.first_duplicate() == Duplicate(id="id-7", line=count + 1, key="id-7", first_line=7, first_key="id-7")


def test_ids_with_one_hash_are_still_told_apart_by_their_text():
    # Rows are grouped on (hash, id): equal text makes a duplicate, never an equal hash alone.
    class Colliding(KeyLog):
        _hash = staticmethod(lambda id_: 7)

    with Colliding() as log:
        for line, id_ in enumerate(("a", "b", "c"), 1):
            log.add(line, id_)
        assert log.first_duplicate() is None
        log.add(4, "b")
        assert log.first_duplicate() == Duplicate(id="b", line=4, key="b", first_line=2, first_key="b")


def test_closing_a_log_removes_its_file(tmp_path):
    log = KeyLog(tmp_path)
    log.add(1, "a")
    assert log.path.exists() and log.path.parent == tmp_path
    log.close()
    assert not log.path.exists()


class SmallKeyLog(KeyLog):
    BATCH = 5
    PARTS = 4
    SPILL = 7


def _earliest_duplicates(ids: list[tuple[int, str, str | None]]) -> list[Duplicate]:
    """Every later use of an id, in line order, with the line and key of its first use: the answer by brute force."""
    first: dict[str, tuple[int, str]] = {}
    found = []
    for line, id_, key in ids:
        if id_ in first:
            first_line, first_key = first[id_]
            found.append(Duplicate(id=id_, line=line, key=key or id_, first_line=first_line, first_key=first_key))
        else:
            first[id_] = (line, key or id_)
    return found


def _logged(log: KeyLog, ids: list[tuple[int, str, str | None]]) -> KeyLog:
    for line, id_, key in ids:
        log.add(line, id_, key)
    return log


MANY_IDS = [(3 * n + 1, f"id-{n % 97 if n % 13 == 0 else n}", f"key {n}" if n % 5 == 0 else None) for n in range(600)]


def test_duplicates_across_spilled_parts_are_those_found_by_brute_force(tmp_path: Path):
    expected = _earliest_duplicates(MANY_IDS)
    assert len(expected) > 10  # the corpus has duplicates, spread over many batches and spills
    with _logged(SmallKeyLog(tmp_path), MANY_IDS) as log:
        assert log.first_duplicate() == expected[0]
        assert log.duplicates(4) == (expected[:4], len(expected))


def test_colliding_hashes_across_spilled_parts_still_compare_the_ids_text(tmp_path: Path):
    class Colliding(SmallKeyLog):
        _hash = staticmethod(lambda id_: len(id_))

    with _logged(Colliding(tmp_path), MANY_IDS) as log:
        assert log.duplicates(1000) == (_earliest_duplicates(MANY_IDS), len(_earliest_duplicates(MANY_IDS)))


def test_a_log_without_duplicates_reports_none_across_spills(tmp_path: Path):
    distinct = [(line, f"id-{line}", None) for line in range(1, 200)]
    with _logged(SmallKeyLog(tmp_path), distinct) as log:
        assert log.first_duplicate() is None
        assert log.duplicates(5) == ([], 0)


class SmallSpills(DistinctCheck):
    SPILL = 7


def test_distinct_strings_are_found_distinct_across_spills(tmp_path: Path):
    with SmallSpills(tmp_path) as check:
        for start in range(0, 500, 3):
            check.add_all([f"key-{i}" for i in range(start, min(start + 3, 500))])
        check.add("k-0")
        assert check.distinct()


@pytest.mark.parametrize("repeat_at", [1, 250, 499], ids=["first-spill", "middle", "still-held"])
def test_a_string_added_twice_is_found_wherever_the_two_fell(tmp_path: Path, repeat_at: int):
    with SmallSpills(tmp_path) as check:
        for start in range(0, 500, 3):
            check.add_all([f"key-{i}" for i in range(start, min(start + 3, 500))])
            if start <= repeat_at < start + 3:
                check.add("key-0")
        assert not check.distinct()


def test_the_distinct_check_removes_its_file_when_closed(tmp_path: Path):
    with DistinctCheck(tmp_path) as check:
        check.add("a")
        assert check.path.exists()
    assert list(tmp_path.iterdir()) == []
