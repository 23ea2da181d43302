"""PartWriter: where an input is cut, what each part's fingerprint covers, and Bedrock's minimum per part."""

from __future__ import annotations

import hashlib

import pytest

from airflow_provider_genai_batch.parts import PartWriter, SplitLimits

HEADER = b'["openai","gpt-4o-mini",false]\n'


pytestmark = pytest.mark.usefixtures("spool_dir")


def line(number: int) -> bytes:
    return b'{"custom_id":"k%d","body":{"input":"text"}}\n' % number


def write(limits: SplitLimits, count: int) -> PartWriter:
    writer = PartWriter(HEADER, limits, provider="openai", count_tokens=False)
    for number in range(1, count + 1):
        writer.add(line(number), number)
    return writer


def test_the_lower_maximum_and_the_higher_minimum_win():
    users = SplitLimits(max_requests=10, max_bytes=None, max_input_tokens=500, min_requests=1)
    providers = SplitLimits(max_requests=50_000, max_bytes=1_000, min_requests=100)

    with pytest.raises(ValueError, match=r"max_requests \(10\) is under min_requests \(100\)"):
        users.within(providers)
    assert SplitLimits(max_requests=200, max_input_tokens=500).within(providers) == SplitLimits(
        max_requests=200, max_bytes=1_000, max_input_tokens=500, min_requests=100
    )


def test_each_part_is_its_lines_and_its_fingerprint_covers_the_header_and_them():
    parts = write(SplitLimits(max_requests=2), 3).finish()

    assert [part.path.read_bytes() for part in parts] == [line(1) + line(2), line(3)]
    assert [part.fingerprint for part in parts] == [
        hashlib.sha256(HEADER + part.path.read_bytes()).hexdigest() for part in parts
    ]


def test_the_first_part_reads_its_fingerprint_from_the_whole_inputs_hash():
    whole = hashlib.sha256(HEADER)
    writer = PartWriter(HEADER, SplitLimits(), provider="openai", count_tokens=False, whole=whole)
    for number in (1, 2):
        writer.add(line(number), number)
        whole.update(line(number))

    (part,) = writer.finish()

    assert part.fingerprint == whole.hexdigest() == hashlib.sha256(HEADER + line(1) + line(2)).hexdigest()


def test_a_line_over_the_token_budget_is_refused():
    writer = PartWriter(HEADER, SplitLimits(max_input_tokens=10), provider="openai", count_tokens=True)

    with pytest.raises(ValueError, match="an estimated 11 input tokens, over the 10 one part may hold"):
        writer.add(line(1), 1, 11)
    writer.discard()


def test_a_full_part_under_the_minimum_is_refused():
    with pytest.raises(ValueError, match=r"a part would hold only 3 requests .* fewer than the 4 one job needs"):
        write(SplitLimits(max_bytes=3 * len(line(1)), min_requests=4), 8)


def test_the_last_two_parts_are_rebalanced_and_both_rewritten():
    parts = write(SplitLimits(max_requests=6, min_requests=4), 8).finish()

    assert [part.request_count for part in parts] == [4, 4]
    assert [(part.first_line, part.last_line) for part in parts] == [(1, 4), (5, 8)]
    assert parts[1].path.read_bytes() == b"".join(line(n) for n in range(5, 9))
    assert parts[1].fingerprint == hashlib.sha256(HEADER + parts[1].path.read_bytes()).hexdigest()


def test_a_tail_that_cannot_make_two_parts_of_the_minimum_is_refused():
    writer = write(SplitLimits(max_requests=5, min_requests=4), 7)

    with pytest.raises(ValueError, match=r"the 7 requests cannot make 2 parts of at least 4"):
        writer.finish()
    writer.discard()


def test_a_shortfall_the_part_before_cannot_spare_is_taken_from_the_parts_before_it():
    parts = write(SplitLimits(max_requests=5, min_requests=4), 12).finish()  # cut 5, 5, 2: 4, 4, 4 fits

    assert [part.request_count for part in parts] == [4, 4, 4]
    assert [(part.first_line, part.last_line) for part in parts] == [(1, 4), (5, 8), (9, 12)]
    assert [part.path.read_bytes() for part in parts] == [
        b"".join(line(n) for n in range(first, first + 4)) for first in (1, 5, 9)
    ]
    assert [part.fingerprint for part in parts] == [
        hashlib.sha256(HEADER + part.path.read_bytes()).hexdigest() for part in parts
    ]


def test_lines_moved_across_parts_keep_their_input_line_numbers_past_left_out_lines():
    writer = PartWriter(HEADER, SplitLimits(max_requests=5, min_requests=4), provider="openai", count_tokens=False)
    for number in (n for n in range(1, 21) if n not in (5, 6, 7)):  # lines 5-7 were bad and left out
        writer.add(line(number), number)

    parts = writer.finish()

    assert [(part.first_line, part.last_line) for part in parts] == [(1, 8), (9, 12), (13, 16), (17, 20)]
    assert parts[0].path.read_bytes() == b"".join(line(n) for n in (1, 2, 3, 4, 8))


def test_every_part_but_one_at_the_minimum_cannot_spare_a_line_and_the_input_is_refused():
    writer = write(SplitLimits(max_requests=4, min_requests=4), 11)

    with pytest.raises(ValueError, match=r"the 11 requests cannot make 3 parts of at least 4 requests each"):
        writer.finish()
    writer.discard()
