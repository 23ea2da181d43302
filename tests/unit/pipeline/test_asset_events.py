"""Re-landing a job's results emits no second Asset event for an outlet that announced them already.

Airflow registers a succeeding task's events for the outlets in ``ti.task.outlets``; the sensor reads
each Asset outlet's events through the Task SDK (here: a fake supervisor channel) and drops the outlets
that already carry an event for this job with these results.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from airflow._shared.secrets_masker import redact
from airflow.sdk import Asset, AssetAlias
from airflow.sdk.execution_time.comms import GetAssetEventByAsset

from airflow_provider_genai_batch.asset_events import CLOCK_SKEW, results_extra
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.models import JobState, ResultsManifest
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor

from .fakes import (
    FAKE_CONN_ID,
    FakeBatchHook,
    FakeSupervisor,
    capture_log,
    log_messages,
    make_context,
    outlet_events,
    succeeded,
)

JOB = "batches/job-1"
CREATED = datetime(2026, 1, 2, 0, 0, tzinfo=timezone.utc)
RESULTS = Asset("genai://batches/nightly")
OTHER = Asset("genai://batches/copy")


@pytest.fixture
def ref(tmp_path: Path) -> BatchJobRef:
    keys = tmp_path / "input_keys.jsonl"
    keys.write_text('"a"\n"b"\n"c"\n')
    return BatchJobRef(provider="gemini", conn_id=FAKE_CONN_ID, job_name=JOB, request_count=3, keys_uri=str(keys))


@pytest.fixture
def finished(fake_hook: FakeBatchHook) -> None:
    fake_hook.add_job(JOB, JobState.SUCCEEDED, total=3, succeeded=3, results=[succeeded(k) for k in "abc"])
    fake_hook.jobs[JOB] = fake_hook.jobs[JOB].model_copy(update={"create_time": CREATED})


def land(ref: BatchJobRef, output_uri: str, outlets: list[Any], caplog: Any = None) -> tuple[GenAIBatchSensor, Any]:
    """Land the job's results through the sensor; returns the sensor (its outlets as left) and the outlet events."""
    op = GenAIBatchSensor(task_id="wait", job_ref=ref.to_xcom(), output_uri=output_uri, outlets=outlets)
    if caplog is not None:
        capture_log(op, caplog)
    events = outlet_events()
    op.execute_complete(make_context(events=events), event={"status": "terminal", "job_ref": ref.to_xcom()})
    return op, events


def landed_extra(ref: BatchJobRef, output_uri: str) -> dict[str, Any]:
    """The extra a first landing into ``output_uri`` announced (landing again gives the same)."""
    manifest = ResultsManifest.model_validate_json((Path(output_uri) / "manifest.json").read_text())
    return results_extra(manifest)


@pytest.mark.usefixtures("finished")
def test_a_first_landing_emits_and_sets_the_results_extra(
    ref: BatchJobRef, output_uri: str, supervisor: FakeSupervisor
):
    op, events = land(ref, output_uri, [RESULTS])

    assert op.outlets == [RESULTS]
    assert events[RESULTS].extra == landed_extra(ref, output_uri)
    assert events[RESULTS].extra["job_ref"]["job_name"] == JOB


@pytest.mark.usefixtures("finished")
def test_landing_the_same_results_again_emits_no_second_event(
    ref: BatchJobRef, output_uri: str, supervisor: FakeSupervisor, caplog
):
    land(ref, output_uri, [RESULTS])
    supervisor.asset_events[(RESULTS.name, RESULTS.uri)].append(
        (CREATED + timedelta(hours=2), landed_extra(ref, output_uri))
    )

    op, events = land(ref, output_uri, [RESULTS], caplog)

    assert op.outlets == []  # what Airflow registers events for on success
    assert RESULTS not in events
    assert (
        f"asset {RESULTS.name!r} already has an event for {JOB} with these results: not emitting another"
        in log_messages(caplog, logging.INFO)
    )


@pytest.mark.usefixtures("finished")
def test_the_extra_is_the_whole_manifest_as_written_and_returned(
    ref: BatchJobRef, output_uri: str, supervisor: FakeSupervisor
):
    op = GenAIBatchSensor(task_id="wait", job_ref=ref.to_xcom(), output_uri=output_uri, outlets=[RESULTS])
    events = outlet_events()

    returned = op.execute_complete(make_context(events=events), event={"status": "terminal", "job_ref": ref.to_xcom()})

    written = json.loads((Path(output_uri) / "manifest.json").read_text())
    assert events[RESULTS].extra == written == returned
    assert set(written) == set(ResultsManifest.model_fields)
    assert json.loads(json.dumps(events[RESULTS].extra)) == events[RESULTS].extra


@pytest.mark.usefixtures("finished")
def test_airflow_shows_the_extra_unredacted(ref: BatchJobRef, output_uri: str, supervisor: FakeSupervisor):
    _, events = land(ref, output_uri, [RESULTS])

    assert redact(events[RESULTS].extra) == events[RESULTS].extra


@pytest.mark.usefixtures("finished")
def test_an_event_for_the_same_results_written_at_another_time_counts(
    ref: BatchJobRef, output_uri: str, supervisor: FakeSupervisor
):
    land(ref, output_uri, [RESULTS])
    earlier = {**landed_extra(ref, output_uri), "written_at": "2026-01-02T00:30:00Z"}
    supervisor.asset_events[(RESULTS.name, RESULTS.uri)].append((CREATED + timedelta(hours=1), earlier))

    op, events = land(ref, output_uri, [RESULTS])

    assert op.outlets == []
    assert RESULTS not in events


@pytest.mark.usefixtures("finished")
def test_an_event_of_an_earlier_release_for_the_same_results_counts(
    ref: BatchJobRef, output_uri: str, supervisor: FakeSupervisor
):
    land(ref, output_uri, [RESULTS])
    manifest = landed_extra(ref, output_uri)
    earlier = {
        "job_name": JOB,
        "provider": "gemini",
        "results_uri": manifest["results_uri"],
        "manifest_uri": manifest["manifest_uri"],
        "counts": manifest["counts"],
    }
    supervisor.asset_events[(RESULTS.name, RESULTS.uri)].append((CREATED + timedelta(hours=1), earlier))

    op, events = land(ref, output_uri, [RESULTS])

    assert op.outlets == []
    assert RESULTS not in events


@pytest.mark.usefixtures("finished")
def test_only_the_outlets_that_announced_the_results_are_dropped(
    ref: BatchJobRef, output_uri: str, supervisor: FakeSupervisor
):
    land(ref, output_uri, [RESULTS])
    supervisor.asset_events[(RESULTS.name, RESULTS.uri)].append((CREATED, landed_extra(ref, output_uri)))
    alias = AssetAlias("genai-results")

    op, events = land(ref, output_uri, [RESULTS, OTHER, alias])

    assert op.outlets == [OTHER, alias]
    assert events[OTHER].extra["job_ref"]["job_name"] == JOB


@pytest.mark.usefixtures("finished")
@pytest.mark.parametrize(
    "earlier",
    [
        {"job_ref": {"provider": "gemini", "job_name": "batches/another-job"}},
        {"counts": {"total": 3, "succeeded": 2}},
        {"results_uri": "/elsewhere/results.jsonl"},
    ],
    ids=["another-job", "other-counts", "other-place"],
)
def test_an_event_for_another_job_or_other_results_does_not_count(
    ref: BatchJobRef, output_uri: str, supervisor: FakeSupervisor, earlier: dict[str, Any]
):
    land(ref, output_uri, [RESULTS])
    supervisor.asset_events[(RESULTS.name, RESULTS.uri)].append((CREATED, {**landed_extra(ref, output_uri), **earlier}))

    op, events = land(ref, output_uri, [RESULTS])

    assert op.outlets == [RESULTS]
    assert events[RESULTS].extra == landed_extra(ref, output_uri)


@pytest.mark.usefixtures("finished")
def test_an_event_with_no_extra_does_not_count(ref: BatchJobRef, output_uri: str, supervisor: FakeSupervisor):
    supervisor.asset_events[(RESULTS.name, RESULTS.uri)].append((CREATED, {}))

    op, _ = land(ref, output_uri, [RESULTS])

    assert op.outlets == [RESULTS]


@pytest.mark.usefixtures("finished")
def test_only_events_since_the_job_was_created_are_read(ref: BatchJobRef, output_uri: str, supervisor: FakeSupervisor):
    land(ref, output_uri, [RESULTS])

    (query,) = [m for m in supervisor.sent if isinstance(m, GetAssetEventByAsset)]
    assert (query.name, query.uri) == (RESULTS.name, RESULTS.uri)
    assert query.after == CREATED - CLOCK_SKEW
    assert query.limit is None


@pytest.mark.usefixtures("finished")
def test_an_unreadable_event_history_emits_as_usual_with_a_warning(
    ref: BatchJobRef, output_uri: str, supervisor: FakeSupervisor, caplog
):
    supervisor.fail = True

    op, events = land(ref, output_uri, [RESULTS], caplog)

    assert op.outlets == [RESULTS]
    assert events[RESULTS].extra["job_ref"]["job_name"] == JOB
    assert any(
        m.startswith(f"could not read the events of asset {RESULTS.name!r}")
        for m in log_messages(caplog, logging.WARNING)
    )


@pytest.mark.usefixtures("finished")
def test_without_a_supervisor_the_event_is_emitted_and_that_is_logged_at_debug(
    ref: BatchJobRef, output_uri: str, caplog
):
    op, events = land(ref, output_uri, [RESULTS], caplog)

    assert op.outlets == [RESULTS]
    assert events[RESULTS].extra["job_ref"]["job_name"] == JOB
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any(m.startswith(f"no Task SDK supervisor to read the events of asset {RESULTS.name!r}") for m in debug)
    assert log_messages(caplog, logging.WARNING) == []


def test_a_job_without_a_create_time_reads_every_event(
    fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str, supervisor: FakeSupervisor
):
    fake_hook.add_job(JOB, JobState.SUCCEEDED, total=3, succeeded=3, results=[succeeded(k) for k in "abc"])

    land(ref, output_uri, [RESULTS])

    (query,) = [m for m in supervisor.sent if isinstance(m, GetAssetEventByAsset)]
    assert query.after is None
