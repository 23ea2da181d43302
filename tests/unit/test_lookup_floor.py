"""How far back a submit's look-up by key reads: its run's ``run_after``, less a clock-skew margin, when every
run that can share the key is bounded by it; otherwise (``None``) the whole listing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pendulum
import pytest
from airflow.models.dagrun import DagRun
from airflow.utils.types import DagRunType

from airflow_provider_genai_batch.idempotency import LOOKUP_CLOCK_SKEW, lookup_floor

RUN_AFTER = pendulum.datetime(2026, 11, 20, 6, 30, 15, 123456, tz="UTC")


def context(run_id: str, run_after: datetime | None = RUN_AFTER) -> dict[str, object]:
    """What the Task SDK puts in a task's context: the dag run with its id and ``run_after``."""
    return {"dag_run": SimpleNamespace(run_id=run_id, run_after=run_after)}


@pytest.mark.parametrize(
    ("run_type", "logical_date"),
    [
        (DagRunType.SCHEDULED, RUN_AFTER - timedelta(days=1)),
        (DagRunType.MANUAL, RUN_AFTER),
        (DagRunType.MANUAL, None),  # no logical date: Airflow adds a random suffix
        (DagRunType.BACKFILL_JOB, RUN_AFTER - timedelta(days=1)),
        (DagRunType.ASSET_TRIGGERED, None),
    ],
)
def test_a_run_id_airflow_made_from_run_after_bounds_the_lookup_by_run_after(run_type, logical_date):
    run_id = DagRun.generate_run_id(run_type=run_type, logical_date=logical_date, run_after=RUN_AFTER)

    assert lookup_floor(context(run_id)) == RUN_AFTER - LOOKUP_CLOCK_SKEW


def test_a_run_id_chosen_by_hand_gets_no_floor():
    """A run deleted and triggered again under this id may have started long before this run_after."""
    assert lookup_floor(context("nightly-rebuild")) is None
    assert lookup_floor(context("manual__nightly")) is None


def test_a_run_id_naming_another_time_than_its_run_after_gets_no_floor():
    """The id of an earlier run, deleted and made again with a later run_after, names the earlier time."""
    earlier = DagRun.generate_run_id(
        run_type=DagRunType.MANUAL, logical_date=None, run_after=RUN_AFTER - timedelta(hours=3)
    )

    assert lookup_floor(context(earlier)) is None


def test_a_naive_run_after_gets_no_floor():
    naive = datetime(2026, 11, 20, 6, 30, 15)

    assert lookup_floor(context(f"manual__{naive.isoformat()}", naive)) is None


def test_a_context_without_a_dag_run_gets_no_floor():
    assert lookup_floor({}) is None
    assert lookup_floor(context(f"manual__{RUN_AFTER.isoformat()}", None)) is None


def test_the_floor_is_the_same_instant_whatever_the_offset_the_run_after_is_given_in():
    utc = datetime(2026, 11, 20, 6, 30, 15, 123456, tzinfo=timezone.utc)
    shifted = utc.astimezone(timezone(timedelta(hours=2)))

    floor = lookup_floor(context(f"manual__{utc.isoformat()}", shifted))

    assert floor == utc - LOOKUP_CLOCK_SKEW and floor.utcoffset() == timedelta(0)
