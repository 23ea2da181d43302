"""Portable request ids: keys OpenAI and Anthropic accept as ``custom_id`` pass through, others are hashed."""

from __future__ import annotations

import hashlib

import pytest

from airflow_provider_genai_batch.formats.bedrock import HASHED_RECORD_PREFIX, record_id
from airflow_provider_genai_batch.formats.keys import (
    HASHED_PREFIX,
    PORTABLE_ID,
    hashed_id,
    key_line,
    key_lines,
    portable_id,
    read_key_line,
)


@pytest.mark.parametrize("key", ["request-1", "a", "A_b-9", "x" * 64])
def test_a_portable_key_is_kept_as_it_is(key):
    assert portable_id(key) == key


@pytest.mark.parametrize("key", ["x" * 65, "doc 1", "invoices/00_COM.png", "clé", "a.b", ""])
def test_a_key_outside_the_portable_alphabet_or_length_is_hashed(key):
    assert portable_id(key) == "k-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


def test_the_hashed_id_is_itself_portable_so_every_provider_accepts_it():
    hashed = portable_id("invoices/00_COM.png")
    assert len(hashed) == 42
    assert PORTABLE_ID.fullmatch(hashed)


def test_hashing_is_deterministic_and_keeps_distinct_keys_distinct():
    assert portable_id("doc 1") == portable_id("doc 1")
    assert portable_id("doc 1") != portable_id("doc 2")


def test_the_pattern_rejects_a_trailing_newline_even_with_match():
    assert PORTABLE_ID.match("abc\n") is None
    assert portable_id("abc\n") != "abc\n"


@pytest.mark.parametrize("key", ["doc 1", "invoices/00_COM.png", "x" * 65])
def test_portable_ids_and_bedrock_record_ids_hash_keys_by_the_one_scheme(key):
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
    assert hashed_id(key, "p-") == "p-" + digest
    assert portable_id(key) == hashed_id(key, HASHED_PREFIX)
    assert record_id(key) == hashed_id(key, HASHED_RECORD_PREFIX)


def test_key_lines_are_the_key_line_of_each_key_in_order():
    keys = ["a", "line\nbreak", 'quote " and \\', "ünïcode", "\u2028"]
    written = key_lines(keys)
    assert written == b"".join(key_line(key) for key in keys)
    assert [read_key_line(line) for line in written.splitlines()] == keys


def test_no_keys_are_no_lines():
    assert key_lines([]) == b""
