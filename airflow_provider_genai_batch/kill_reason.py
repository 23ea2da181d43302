"""Why a waiting task was killed: a user ended it (cancel its job), or it still wants its job (keep it).

Airflow 3.3 calls ``on_kill`` in more cases than a user ending the task. The triggerer calls a trigger's
``on_kill`` whenever the trigger leaves its list: when a user marks the deferred task failed or success,
but equally when the task is cleared (its trigger row is deleted) and when the trigger moves to another
triggerer. A worker calls an operator's ``on_kill`` when it terminates the task: marked failed or success,
but also cleared while running (``restarting``) or shut down gracefully. Only a user ending the task asks
for the work to stop; otherwise the task's next try still waits on the job. The task instance's state,
read at ``on_kill`` time through the Task SDK (no database access), tells them apart: an ended state (or a
task instance that is gone) means cancel; anything else (none, scheduled, queued, running, deferred,
restarting, up for retry, ...) means keep; a state that cannot be read means keep, since a live job is
never destroyed on a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

ENDED_STATES = frozenset({"failed", "success", "skipped", "upstream_failed", "removed"})
"""Task instance states in which nothing waits on the job any more: cancelling it is what the user asked."""


@dataclass(frozen=True)
class TaskInstanceKey:
    """The task instance a trigger serves, as the Task SDK's state lookup names it."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1

    @classmethod
    def of(cls, task_instance: Any) -> TaskInstanceKey | None:
        """The key of a task instance (a task's ``ti``, the one a triggerer attached to a trigger); None for none."""
        if task_instance is None:
            return None
        map_index = getattr(task_instance, "map_index", -1)
        return cls(
            dag_id=task_instance.dag_id,
            run_id=task_instance.run_id,
            task_id=task_instance.task_id,
            map_index=-1 if map_index is None else int(map_index),
        )

    @property
    def state_key(self) -> str:
        """How the state lookup names this task instance within its run."""
        return self.task_id if self.map_index < 0 else f"{self.task_id}_{self.map_index}"


@dataclass(frozen=True)
class KillReason:
    """What ``on_kill`` found: whether to cancel the job, and why, in words for the log."""

    cancel: bool
    reason: str


def judge(task: TaskInstanceKey, states: Mapping[str, Mapping[str, Any]]) -> KillReason:
    """The decision for ``task``, given the lookup's answer ``{run_id: {state_key: state}}``."""
    in_run = states.get(task.run_id) or {}
    if task.state_key not in in_run:
        return KillReason(True, "the task instance no longer exists")
    state = in_run[task.state_key]
    if state in ENDED_STATES:
        return KillReason(True, f"the task instance was set to {state}")
    shown = "none" if state is None else state
    return KillReason(False, f"the task instance is {shown} (cleared, rescheduled or moved) and still waits on the job")


def read_kill_reason(task: TaskInstanceKey | None) -> KillReason:
    """Read the task instance's state through the Task SDK and judge it; blocking (run it in a thread).

    Anything that stops the read (no task instance attached, no supervisor to ask, an API error) keeps
    the job.
    """
    if task is None:
        return KillReason(False, "the task instance is not known, so neither is its state")
    try:
        states = RuntimeTaskInstance.get_task_states(
            dag_id=task.dag_id,
            map_index=task.map_index if task.map_index >= 0 else None,
            task_ids=[task.task_id],
            run_ids=[task.run_id],
        )
    except Exception as err:
        return KillReason(False, f"the task instance's state could not be read ({type(err).__name__}: {err})")
    return judge(task, states)
