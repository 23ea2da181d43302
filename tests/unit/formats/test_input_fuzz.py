"""The seeded differential fuzz of :mod:`.input_fuzz`: every fuzzed line of every input format is either refused by
line and field, or sent as bytes the emulator (as strict as the service) takes.

CI fuzzes :data:`.input_fuzz.CI_LINES` lines per target with :data:`.input_fuzz.CI_SEED`. To fuzz more by hand, set
how many lines per target and, to explore other lines, the seed::

    GENAI_BATCH_FUZZ_LINES=50000 GENAI_BATCH_FUZZ_SEED=7 pytest tests/unit/formats/test_input_fuzz.py

A failure lists the lines the pass got wrong (their text, the paths edited and why), to turn into a focused test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .input_fuzz import CI_LINES, CI_SEED, FUZZ_LINES_ENV, FUZZ_SEED_ENV, TARGETS, fuzzed_lines, run

LINES = int(os.environ.get(FUZZ_LINES_ENV, CI_LINES))
SEED = int(os.environ.get(FUZZ_SEED_ENV, CI_SEED))


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_fuzzed_line_is_refused_by_line_and_field_or_sent_as_the_service_takes_it(
    target: str, tmp_path: Path
) -> None:
    report = run(TARGETS[target], LINES, SEED, tmp_path)
    wrong = [
        f"line {finding.number} {finding.text[:300]!r} (edited {finding.edited}): {finding.problem[:600]}"
        for finding in report.findings
    ]
    assert not wrong, "\n".join(wrong[:20])
    # every line was judged, and enough of them were sent, and refused, for the fuzz to test both ways
    assert report.refused + report.accepted == LINES
    assert report.accepted >= LINES // 20
    assert report.refused >= LINES // 4


def test_the_same_seed_fuzzes_the_same_lines() -> None:
    target = TARGETS["openai-chat"]
    assert list(fuzzed_lines(target, 50, CI_SEED)) == list(fuzzed_lines(target, 50, CI_SEED))
    assert list(fuzzed_lines(target, 50, CI_SEED)) != list(fuzzed_lines(target, 50, CI_SEED + 1))
