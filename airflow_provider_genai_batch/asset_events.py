"""The Asset events of landed results: one per job and results, however often they are landed again.

Clearing a task that already landed a job's results lands them again; its outlets would announce the
same results a second time and start every consumer again. So before the task succeeds, each ``Asset``
outlet's events since the job was created are read through the Task SDK, and an outlet that already has
an event for this job with these results is dropped from the task's outlets, which is where Airflow takes
the events it registers when the task succeeds. Where the events cannot be read (no Task SDK supervisor,
an API error) the event is emitted as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import Asset
from airflow.sdk.execution_time.context import InletEventsAccessor

from airflow_provider_genai_batch.models import ResultsManifest

CLOCK_SKEW = timedelta(hours=1)
"""A generous bound on how far the provider's clock (the job's create time) may run ahead of Airflow's."""


def results_extra(manifest: ResultsManifest) -> dict[str, Any]:
    """The extra of an Asset event for landed results: the whole manifest, as ``manifest.json`` holds it."""
    return manifest.model_dump(mode="json")


def announce_once(
    task: Any, context: Mapping[str, Any], manifest: ResultsManifest, created: datetime | None, log: logging.Logger
) -> None:
    """Set the results extra on every ``Asset`` outlet of ``task``, dropping outlets that announced them already.

    ``created`` is when the job was created: no event for it can be older, so only events since then are read.
    """
    events = context.get("outlet_events")
    if events is None:
        return
    extra = results_extra(manifest)
    outlets = list(getattr(task, "outlets", None) or [])
    kept: list[Any] = []
    for outlet in outlets:
        if isinstance(outlet, Asset):
            if already_announced(outlet, extra, created, log):
                log.info(
                    "asset %r already has an event for %s with these results: not emitting another",
                    outlet.name,
                    manifest.job_ref.job_name,
                )
                continue
            events[outlet].extra = extra
        kept.append(outlet)
    if len(kept) != len(outlets):
        task.outlets = kept


def already_announced(asset: Asset, extra: Mapping[str, Any], created: datetime | None, log: logging.Logger) -> bool:
    """Whether ``asset`` has an event for the results ``extra`` announces since ``created``; False when that
    cannot be read."""
    accessor = InletEventsAccessor(asset_name=asset.name, asset_uri=asset.uri)
    if created is not None:
        since = created if created.tzinfo is not None else created.replace(tzinfo=timezone.utc)
        accessor = accessor.after((since - CLOCK_SKEW).isoformat())
    try:
        earlier = [event.extra for event in accessor]
    except ImportError as err:
        log.debug("no Task SDK supervisor to read the events of asset %r (%s): emitting", asset.name, err)
        return False
    except Exception as err:
        log.warning("could not read the events of asset %r (%s: %s): emitting", asset.name, type(err).__name__, err)
        return False
    return any(_same_results(event_extra, extra) for event_extra in earlier)


def _same_results(event_extra: Mapping[str, Any] | None, extra: Mapping[str, Any]) -> bool:
    """Whether an event announced the same job's same results: its job, result places and counts agree
    (not when they were written). An event of an earlier release carries the job's name at the top level."""
    return event_extra is not None and all(_results_of(event_extra)[k] == v for k, v in _results_of(extra).items())


def _results_of(extra: Mapping[str, Any]) -> dict[str, Any]:
    ref = extra.get("job_ref")
    job = ref if isinstance(ref, Mapping) else extra
    return {
        "provider": job.get("provider"),
        "job_name": job.get("job_name"),
        **{field: extra.get(field) for field in _RESULTS_FIELDS},
    }


_RESULTS_FIELDS = ("results_uri", "manifest_uri", "output_location", "counts")
