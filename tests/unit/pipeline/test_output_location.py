"""An output_uri that cannot hold the results directory is refused by the submit before anything is uploaded or
paid for, naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError

from .fakes import FakeBatchHook, FakeTI, make_context, submit_op


def test_a_submit_whose_output_uri_is_a_file_fails_naming_it_before_anything_is_uploaded(
    tmp_path: Path, fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path
):
    (tmp_path / "results").write_text("an earlier export")

    with pytest.raises(GenAIBatchError, match=f"output_uri '{tmp_path}/results' names the file"):
        submit_op(str(input_jsonl), output_uri=str(tmp_path / "results")).execute(make_context(ti))

    assert fake_hook.uploads == [] and fake_hook.created == []
    assert (tmp_path / "results").read_text() == "an earlier export"
