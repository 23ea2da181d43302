"""Mapped task instances given one output_uri: refused before anything is uploaded or waited on, never left to
replace each other's keys and land over each other's results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.filesystems import directory_place
from airflow_provider_genai_batch.landing import KEYS_FILE
from airflow_provider_genai_batch.mapped_outputs import OUTPUT_DIR_XCOM_KEY
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor

from .fakes import FakeBatchHook, FakeTI, canonical_line, make_context, submit_op, write_jsonl


@pytest.fixture
def xcom() -> dict[tuple[str, int, str], Any]:
    """One run's XCom, shared by the task instances of a test."""
    return {}


def mapped(xcom: dict[tuple[str, int, str], Any], map_index: int, task_id: str = "submit") -> dict[str, Any]:
    return make_context(FakeTI(task_id=task_id, map_index=map_index, xcom=xcom))


def inputs(tmp_path: Path) -> list[Path]:
    """Two inputs with other keys, as ``.expand(input=[...])`` maps over."""
    return [write_jsonl(tmp_path / f"in-{i}.jsonl", [canonical_line(k) for k in keys]) for i, keys in enumerate("ab")]


@pytest.mark.parametrize("second_uri", ["{out}", "{out}/", "file://{out}"])
def test_a_mapped_submit_given_the_output_uri_of_another_map_index_is_refused_before_anything_is_uploaded(
    fake_hook: FakeBatchHook, tmp_path: Path, output_uri: str, xcom: dict[tuple[str, int, str], Any], second_uri: str
):
    first_input, second_input = inputs(tmp_path)
    first = submit_op(str(first_input), output_uri=output_uri).execute(mapped(xcom, 0))

    with pytest.raises(GenAIBatchError, match="also the output_uri of map index 0 of task submit") as err:
        submit_op(str(second_input), output_uri=second_uri.format(out=output_uri)).execute(mapped(xcom, 1))

    assert "ti.map_index" in str(err.value)
    assert [created["job_name"] for created in fake_hook.created] == [first["job_name"]]
    assert len(fake_hook.uploads) == 1
    assert (Path(output_uri) / KEYS_FILE).read_text() == '"a"\n'


def test_a_mapped_submit_is_refused_when_a_map_index_that_started_with_it_recorded_the_same_output_uri(
    fake_hook: FakeBatchHook, tmp_path: Path, output_uri: str, xcom: dict[tuple[str, int, str], Any]
):
    xcom[("submit", 1, OUTPUT_DIR_XCOM_KEY)] = {"map_index": 1, "uri": directory_place(output_uri)}

    with pytest.raises(GenAIBatchError, match="map index 1"):
        submit_op(str(inputs(tmp_path)[0]), output_uri=output_uri).execute(mapped(xcom, 0))

    assert fake_hook.uploads == [] and fake_hook.created == []
    assert not (Path(output_uri) / KEYS_FILE).exists()


def test_mapped_submits_with_an_output_uri_each_submit_a_job_each(
    fake_hook: FakeBatchHook, tmp_path: Path, output_uri: str, xcom: dict[tuple[str, int, str], Any]
):
    refs = [
        submit_op(str(path), output_uri=f"{output_uri}/{index}").execute(mapped(xcom, index))
        for index, path in enumerate(inputs(tmp_path))
    ]

    assert [created["job_name"] for created in fake_hook.created] == [ref["job_name"] for ref in refs]
    assert [(Path(output_uri) / str(i) / KEYS_FILE).read_text() for i in (0, 1)] == ['"a"\n', '"b"\n']


def test_a_mapped_submit_tried_again_keeps_its_own_output_uri(
    fake_hook: FakeBatchHook, tmp_path: Path, output_uri: str, xcom: dict[tuple[str, int, str], Any]
):
    path = inputs(tmp_path)[0]
    first = submit_op(str(path), output_uri=output_uri).execute(mapped(xcom, 0))

    again = submit_op(str(path), output_uri=output_uri).execute(mapped(xcom, 0))

    assert again["job_name"] == first["job_name"]


def test_an_unmapped_submit_records_no_output_uri(fake_hook: FakeBatchHook, tmp_path: Path, output_uri: str):
    ti = FakeTI()

    submit_op(str(inputs(tmp_path)[0]), output_uri=output_uri).execute(make_context(ti))

    assert OUTPUT_DIR_XCOM_KEY not in {key for key, _ in ti.pushes}


def test_a_mapped_sensor_given_the_output_uri_of_another_map_index_is_refused_before_it_waits(
    fake_hook: FakeBatchHook, tmp_path: Path, output_uri: str, xcom: dict[tuple[str, int, str], Any]
):
    refs = [
        submit_op(str(path), output_uri=f"{output_uri}/{index}").execute(mapped(xcom, index))
        for index, path in enumerate(inputs(tmp_path))
    ]
    shared = str(tmp_path / "landed")
    with pytest.raises(TaskDeferred):
        GenAIBatchSensor(task_id="wait", job_ref=refs[0], output_uri=shared).execute(mapped(xcom, 0, "wait"))
    polled = len(fake_hook.names("get_batch"))

    with pytest.raises(GenAIBatchError, match="also the output_uri of map index 0 of task wait"):
        GenAIBatchSensor(task_id="wait", job_ref=refs[1], output_uri=shared).execute(mapped(xcom, 1, "wait"))

    assert len(fake_hook.names("get_batch")) == polled
