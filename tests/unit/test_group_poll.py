"""GroupPollState, the one poll decision for a group of jobs (a split input, follow-up rounds).

Sans-IO like PollState: each test hands it, per polled part, a job or an error and an explicit ``now``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import NotFoundError, ProviderAPIError
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.models import BatchJob, BatchStats, JobState
from airflow_provider_genai_batch.polling import GroupPollState, Verdict, group_label
from airflow_provider_genai_batch.prices import price_table
from tests.unit.pipeline.fakes import group_ref, part_ref

START = 1_000_000.0

part = partial(part_ref, requests=100)
group = group_ref


def job(
    name: str, state: JobState = JobState.RUNNING, *, succeeded: int = 0, failed: int = 0, total: int = 100, **kw: Any
) -> BatchJob:
    pending = 0 if state.is_terminal else total - succeeded - failed
    stats = BatchStats(total=total, succeeded=succeeded, failed=failed, pending=pending)
    return BatchJob(
        name=name, provider=kw.pop("provider", "gemini"), state=state, provider_state=state.value, stats=stats, **kw
    )


def unavailable() -> ProviderAPIError:
    return ProviderAPIError("backend unavailable", http_status=503, provider="gemini")


THREE = group(part(0, "batches/a"), part(1, "batches/b"), part(2, "batches/c"))


# --- verdicts -----------------------------------------------------------------------------------------------


def test_a_group_whose_every_part_ended_is_terminal_with_every_parts_job():
    poll = GroupPollState(THREE, interval=60.0, deadline=START + 3600)
    jobs = {
        "batches/a": job("batches/a", JobState.SUCCEEDED, succeeded=100),
        "batches/b": job("batches/b", JobState.FAILED),
        "batches/c": job("batches/c", JobState.SUCCEEDED, succeeded=100),
    }

    decision = poll.observed(jobs, START)

    assert decision.verdict is Verdict.TERMINAL
    assert decision.jobs == jobs
    assert decision.states == {
        "batches/a": "JOB_STATE_SUCCEEDED",
        "batches/b": "JOB_STATE_FAILED",
        "batches/c": "JOB_STATE_SUCCEEDED",
    }


def test_one_part_still_running_keeps_the_group_waiting_the_poll_interval():
    poll = GroupPollState(THREE, interval=60.0, deadline=START + 3600)

    decision = poll.observed(
        {
            "batches/a": job("batches/a", JobState.SUCCEEDED, succeeded=100),
            "batches/b": job("batches/b", JobState.RUNNING, succeeded=40),
            "batches/c": job("batches/c", JobState.SUCCEEDED, succeeded=100),
        },
        START,
    )

    assert decision.verdict is Verdict.WAIT
    assert decision.delay == 60.0


def test_a_part_that_ended_is_not_polled_again():
    poll = GroupPollState(THREE, interval=60.0)
    assert poll.to_poll() == ["batches/a", "batches/b", "batches/c"]

    poll.observed(
        {
            "batches/a": job("batches/a", JobState.SUCCEEDED, succeeded=100),
            "batches/b": job("batches/b"),
            "batches/c": job("batches/c", JobState.CANCELLED),
        },
        START,
    )

    assert poll.to_poll() == ["batches/b"]
    assert poll.observed({"batches/b": job("batches/b", JobState.EXPIRED)}, START + 60).verdict is Verdict.TERMINAL


def test_parts_waiting_to_be_created_with_a_slot_free_under_the_cap_make_the_group_ready():
    ref = group(part(0, "batches/a"), part(1, "batches/b"), part(2, None), max_concurrent_jobs=2)
    poll = GroupPollState(ref, interval=60.0, deadline=START + 3600)

    decision = poll.observed(
        {"batches/a": job("batches/a", JobState.SUCCEEDED, succeeded=100), "batches/b": job("batches/b")}, START
    )

    assert decision.verdict is Verdict.READY
    assert poll.to_poll() == ["batches/b"]


def test_parts_waiting_while_the_cap_is_full_keep_the_group_waiting():
    ref = group(part(0, "batches/a"), part(1, "batches/b"), part(2, None), max_concurrent_jobs=2)
    poll = GroupPollState(ref, interval=60.0)

    decision = poll.observed({"batches/a": job("batches/a"), "batches/b": job("batches/b")}, START)

    assert decision.verdict is Verdict.WAIT


def test_parts_waiting_without_a_cap_make_the_group_ready():
    ref = group(part(0, "batches/a"), part(1, None))
    poll = GroupPollState(ref, interval=60.0)

    assert poll.observed({"batches/a": job("batches/a")}, START).verdict is Verdict.READY


def test_every_created_part_ended_but_parts_still_waiting_is_ready_not_terminal():
    ref = group(part(0, "batches/a"), part(1, None), max_concurrent_jobs=1)
    poll = GroupPollState(ref, interval=60.0)

    decision = poll.observed({"batches/a": job("batches/a", JobState.SUCCEEDED, succeeded=100)}, START)

    assert decision.verdict is Verdict.READY


def test_a_group_past_its_deadline_times_out_naming_its_running_and_uncreated_parts():
    ref = group(part(0, "batches/a"), part(1, "batches/b"), part(2, None), max_concurrent_jobs=2)
    poll = GroupPollState(ref, interval=60.0, deadline=START)

    decision = poll.observed(
        {"batches/a": job("batches/a", JobState.SUCCEEDED, succeeded=100), "batches/b": job("batches/b")}, START + 1
    )

    assert decision.verdict is Verdict.TIMEOUT
    assert decision.message == (
        "group of 3 parts (batches/a, batches/b; 1 not created yet) did not finish before its deadline: "
        "1 still running (batches/b), 1 not created (parts 2)"
    )


def test_a_group_that_ended_past_its_deadline_is_terminal_not_timed_out():
    poll = GroupPollState(group(part(0, "batches/a")), interval=60.0, deadline=START)

    decision = poll.observed({"batches/a": job("batches/a", JobState.SUCCEEDED, succeeded=100)}, START + 10)

    assert decision.verdict is Verdict.TERMINAL


def test_near_the_deadline_the_group_waits_only_until_the_deadline():
    poll = GroupPollState(group(part(0, "batches/a")), interval=60.0, deadline=START + 25)

    assert poll.observed({"batches/a": job("batches/a")}, START).delay == 25.0


def test_a_part_rate_limited_with_retry_after_holds_the_whole_group_that_long_until_its_deadline():
    limited = ProviderAPIError("rate limited", http_status=429, provider="gemini")
    limited.retry_after = 600.0  # the server's Retry-After, once the hook gave up retrying
    outcomes: dict[str, BatchJob | BaseException] = {"batches/a": job("batches/a"), "batches/b": limited}
    outcomes["batches/c"] = job("batches/c")

    waiting = GroupPollState(THREE, interval=60.0, deadline=START + 3600).observed(outcomes, START)
    near_the_deadline = GroupPollState(THREE, interval=60.0, deadline=START + 100).observed(outcomes, START)

    assert (waiting.verdict, waiting.delay) == (Verdict.WAIT, 600.0)
    assert (near_the_deadline.verdict, near_the_deadline.delay) == (Verdict.WAIT, 100.0)


def test_a_timeout_after_failed_polls_names_each_parts_last_failure():
    poll = GroupPollState(THREE, interval=60.0, deadline=START)

    decision = poll.observed(
        {"batches/a": unavailable(), "batches/b": job("batches/b"), "batches/c": job("batches/c")}, START
    )

    assert decision.verdict is Verdict.TIMEOUT
    assert "the last polls failed: batches/a: ProviderAPIError: " in decision.message
    assert "backend unavailable" in decision.message


# --- failed polls, counted per part -------------------------------------------------------------------------


def test_transient_errors_are_counted_per_part_and_reset_by_that_parts_own_answer():
    ref = group(part(0, "batches/a"), part(1, "batches/b"))
    poll = GroupPollState(ref, interval=60.0, max_failures=3)

    rounds = [
        {"batches/a": unavailable(), "batches/b": unavailable()},
        {"batches/a": unavailable(), "batches/b": job("batches/b")},  # b's run of failures ends here
        {"batches/a": job("batches/a"), "batches/b": unavailable()},  # and a's here
        {"batches/a": unavailable(), "batches/b": unavailable()},
    ]
    verdicts = [poll.observed(outcomes, START + i).verdict for i, outcomes in enumerate(rounds)]

    assert verdicts == [Verdict.WAIT] * 4


def test_max_failures_transient_errors_in_a_row_on_one_part_end_the_wait_naming_the_part_and_the_group():
    ref = group(part(0, "batches/a"), part(1, "batches/b"))
    poll = GroupPollState(ref, interval=60.0, max_failures=2)

    first = poll.observed({"batches/a": unavailable(), "batches/b": job("batches/b")}, START)
    second = poll.observed({"batches/a": unavailable(), "batches/b": job("batches/b")}, START + 60)

    assert first.verdict is Verdict.WAIT
    assert first.message is not None and "transient error polling batches/a" in first.message
    assert second.verdict is Verdict.ERROR
    assert second.message.startswith("group of 2 parts (batches/a, batches/b): polling batches/a failed 2 times")
    assert second.error is None  # transient errors: the wait gives up, it does not raise the last one


def test_a_permanent_error_on_one_part_ends_the_wait_with_that_error():
    poll = GroupPollState(THREE, interval=60.0)
    gone = NotFoundError("batch batches/c not found", http_status=404, provider="gemini")

    decision = poll.observed({"batches/a": job("batches/a"), "batches/b": job("batches/b"), "batches/c": gone}, START)

    assert decision.verdict is Verdict.ERROR
    assert decision.error is gone
    assert "polling batches/c failed: " in decision.message


# --- progress -----------------------------------------------------------------------------------------------


def test_progress_counts_parts_ended_and_rows_over_the_whole_input():
    ref = group(part(0, "batches/a"), part(1, "batches/b"), part(2, None), max_concurrent_jobs=2)
    poll = GroupPollState(ref, interval=60.0)

    decision = poll.observed(
        {
            "batches/a": job("batches/a", JobState.SUCCEEDED, succeeded=95, failed=5),
            "batches/b": job("batches/b", JobState.RUNNING, succeeded=30, failed=2),
        },
        START,
    )

    assert decision.progress == (
        "group of 3 parts (batches/a, batches/b; 1 not created yet): 1/3 parts ended, 125/300 rows succeeded, "
        "7 failed, 168 pending (44% done)"
    )


def test_progress_is_logged_only_when_a_part_changed():
    poll = GroupPollState(group(part(0, "batches/a"), part(1, "batches/b")), interval=60.0)
    running = {"batches/a": job("batches/a", succeeded=10), "batches/b": job("batches/b")}

    first = poll.observed(running, START)
    again = poll.observed(running, START + 60)
    moved = poll.observed({**running, "batches/b": job("batches/b", succeeded=1)}, START + 120)

    assert first.progress is not None
    assert again.progress is None
    assert moved.progress is not None and "11/200 rows succeeded" in moved.progress


def test_a_row_answered_again_in_a_follow_up_round_counts_once_as_its_latest_answer():
    ref = group(part(0, "batches/a", requests=10), part(1, "batches/r1", requests=2, round=1))
    poll = GroupPollState(ref, interval=60.0)

    decision = poll.observed(
        {
            "batches/a": job("batches/a", JobState.SUCCEEDED, succeeded=8, failed=2, total=10),
            "batches/r1": job("batches/r1", JobState.RUNNING, succeeded=1, total=2),
        },
        START,
    )

    assert decision.progress is not None
    assert decision.progress.endswith("1/2 parts ended, 9/10 rows succeeded, 0 failed, 1 pending (90% done)")


def test_a_part_read_back_from_the_landed_results_counts_as_ended_with_every_row_succeeded():
    read_back = part(1, None).model_copy(update={"upload": None, "gone": "batches/old", "landed": "/out/results.jsonl"})
    poll = GroupPollState(group(part(0, "batches/a"), read_back), interval=60.0)

    decision = poll.observed({"batches/a": job("batches/a", JobState.SUCCEEDED, succeeded=100)}, START)

    assert decision.progress == (
        "group of 2 parts (batches/a; 1 gone at the provider): 2/2 parts ended, 200/200 rows succeeded, 0 failed, "
        "0 pending (100% done)"
    )


def openai_job(name: str, prompt_tokens: int, completion_tokens: int) -> BatchJob:
    return job(
        name,
        provider="openai",
        model="gpt-4o-mini",
        raw={
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
            "request_counts": {"completed": 10},
        },
    )


def test_progress_adds_the_running_cost_where_the_provider_reports_tokens_on_the_batch():
    ref = group(part(0, "batch_a"), part(1, "batch_b"), provider="openai")
    poll = GroupPollState(ref, interval=60.0, prices=price_table("openai"))

    decision = poll.observed(
        {"batch_a": openai_job("batch_a", 1_000_000, 0), "batch_b": openai_job("batch_b", 0, 1_000_000)}, START
    )

    # gpt-4o-mini at the shipped batch prices: 0.075 per million input tokens, 0.30 per million output tokens
    assert decision.progress is not None
    assert decision.progress.endswith("; tokens so far: 1000000 in, 1000000 out over 2 parts (est. $0.3750)")


def test_progress_names_no_cost_where_the_provider_reports_no_tokens_on_the_batch():
    poll = GroupPollState(THREE, interval=60.0, prices=price_table("gemini"))

    decision = poll.observed({name: job(name) for name in THREE.job_names()}, START)

    assert decision.progress is not None
    assert "tokens" not in decision.progress


# --- naming -------------------------------------------------------------------------------------------------


def test_a_group_is_named_by_its_size_and_its_created_jobs():
    many = group(*(part(i, f"batches/{i}") for i in range(12)), part(12, None))

    assert group_label(THREE) == "group of 3 parts (batches/a, batches/b, batches/c)"
    assert group_label(many) == (
        "group of 13 parts (batches/0, batches/1, batches/2, batches/3, batches/4, batches/5, batches/6, "
        "batches/7, batches/8, batches/9 and 2 more; 1 not created yet)"
    )


def test_one_job_is_named_by_its_job_name_alone():
    assert group_label(BatchJobRef(provider="gemini", conn_id="c", job_name="batches/one")) == "batches/one"


def test_a_one_job_ref_is_not_a_group_to_poll():
    with pytest.raises(ValueError, match="one job, not a group"):
        GroupPollState(BatchJobRef(provider="gemini", conn_id="c", job_name="batches/one"), interval=60.0)
