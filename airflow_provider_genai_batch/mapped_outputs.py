"""Mapped task instances of one task given one output directory: refused before anything is uploaded or waited on.

Each task instance writes its job's input keys at a fixed name under ``output_uri`` and lands ``results.jsonl`` and
``manifest.json`` there. Mapped instances given one directory (``partial(output_uri=...)`` without
``{{ ti.map_index }}``) submit side by side: the keys of one replace the other's (its landing is then refused, after
both jobs were paid for), and landings that run at the same time write their files over each other's, so a task's
manifest could name another job's rows. So a mapped instance records the directory it writes (an XCom) and then
reads those of the task's other map indexes in the run: one already there is refused. Recording before reading means
two instances that start together cannot both miss each other; at worst both are refused.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.filesystems import directory_place

OUTPUT_DIR_XCOM_KEY = "output_dir"
"""The XCom key a mapped task instance records the results directory it writes under (``{map_index, uri}``)."""


def claim_output_dir(context: Any, uri: str) -> None:
    """Record ``uri`` (an ``output_uri`` already checked) as this mapped task instance's results directory, and
    refuse it when another map index of the task in this run records the same one; unmapped tasks are left alone."""
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    if map_index is None or map_index < 0:
        return
    place = directory_place(uri)
    ti.xcom_push(key=OUTPUT_DIR_XCOM_KEY, value={"map_index": map_index, "uri": place})
    recorded = ti.xcom_pull(task_ids=ti.task_id, key=OUTPUT_DIR_XCOM_KEY)
    others = sorted(
        claim["map_index"]
        for claim in (recorded if isinstance(recorded, list) else [recorded])
        if isinstance(claim, dict) and claim.get("uri") == place and claim.get("map_index") != map_index
    )
    if others:
        shown = ", ".join(map(str, others[:5])) + (" ..." if len(others) > 5 else "")
        raise GenAIBatchError(
            f"output_uri {uri} is also the output_uri of map index {shown} of task {ti.task_id} in this run: mapped "
            "task instances given one results directory would replace each other's input keys and land over each "
            "other's results; nothing was uploaded or landed. Give each its own, e.g. "
            "output_uri='.../{{ ti.map_index }}', or map output_uri with the input"
        )
