"""The on-disk key stores: an index of keys with an integer each, and a log that finds duplicates."""

from __future__ import annotations

from airflow_provider_genai_batch.key_index import Duplicate, KeyIndex, KeyLog


def test_setdefault_keeps_the_first_value_of_a_key():
    with KeyIndex() as index:
        assert index.setdefault("a", 1) == 1
        assert index.setdefault("a", 7) == 1
        assert index.get("a") == 1
        assert len(index) == 1


def test_set_replaces_a_value_and_counts_each_key_once():
    with KeyIndex() as index:
        index.set("a", 1)
        index.set("a", 2)
        index.set("b", 3)
        assert (index.get("a"), index.get("b"), len(index)) == (2, 3, 2)


def test_membership_and_missing_keys():
    with KeyIndex() as index:
        index.setdefault("présent\nkey", 0)
        assert "présent\nkey" in index
        assert "absent" not in index
        assert 3 not in index
        assert index.get("absent") is None


def test_keys_that_differ_only_in_case_or_unicode_form_are_distinct():
    with KeyIndex() as index:
        for key in ("Key", "key", "\u00e9", "e\u0301"):
            index.setdefault(key, 1)
        assert len(index) == 4


def test_closing_removes_the_file(tmp_path):
    index = KeyIndex(tmp_path)
    index.setdefault("a", 1)
    assert index.path.exists() and index.path.parent == tmp_path
    index.close()
    assert not index.path.exists()


# --- KeyLog: ids appended in line order, duplicates found by one sort -----------------------------------------


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
