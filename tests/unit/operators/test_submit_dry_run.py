"""A dry run validates, translates and splits, and returns the plan: nothing is looked up, uploaded or created."""

from __future__ import annotations

import json

import pytest

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.operators import submit as submit_module
from airflow_provider_genai_batch.prices import shipped_table

from .conftest import OPENAI_MODEL, Task, lines, requests, submit, write_input


def test_a_dry_run_returns_the_plan_of_parts_tokens_and_cost_and_sends_nothing(provider, tmp_path):
    rows = lines(5)

    plan = submit(write_input(tmp_path / "in.jsonl", rows), max_requests_per_job=2, dry_run=True).execute(
        Task().try_context()
    )

    assert requests(provider) == []  # no look-up, no upload, no create
    assert (plan["provider"], plan["model"]) == ("openai", OPENAI_MODEL)
    assert [(p["index"], p["requests"], p["first_line"], p["last_line"]) for p in plan["parts"]] == [
        (0, 2, 1, 2),
        (1, 2, 3, 4),
        (2, 1, 5, 5),
    ]
    assert plan["requests"] == 5
    assert plan["bytes"] == sum(p["bytes"] for p in plan["parts"]) > 0
    assert all(p["input_tokens"] > 0 for p in plan["parts"])
    assert plan["input_tokens"] == sum(p["input_tokens"] for p in plan["parts"])
    rate = shipped_table().lookup("openai", OPENAI_MODEL)[0].input
    assert plan["input_price"] == rate
    assert plan["input_cost"] == pytest.approx(plan["input_tokens"] * rate / 1_000_000)
    assert (plan["errors"], plan["errors_total"]) == ([], 0)


def test_a_dry_run_of_an_input_with_bad_lines_lists_every_problem_with_its_line_and_fails(provider, tmp_path):
    rows: list = lines(6)
    rows[1] = '{"key": "k1", "request": '  # not JSON
    rows[3] = {"key": "k3", "request": {"contents": []}}  # no contents
    rows[5] = lines(1)[0]  # key k0 again
    path = write_input(tmp_path / "in.jsonl", rows)
    task = Task()
    context = task.try_context()

    with pytest.raises(InputValidationError, match=r"dry run: 3 problem\(s\) in the input") as raised:
        submit(path, dry_run="true").execute(context)  # as a template renders it

    assert requests(provider) == []
    plan = task.xcom[("submit", -1, "dry_run_plan")]
    assert [(error["source"], error["line"]) for error in plan["errors"]] == [(path, 2), (path, 4), (path, 6)]
    assert plan["errors_total"] == 3
    assert "line 2" in str(raised.value) and "line 6" in str(raised.value)
    json.dumps(plan)


def test_a_dry_run_lists_an_input_that_would_go_as_more_jobs_than_one_task_submits(provider, tmp_path, monkeypatch):
    monkeypatch.setattr(submit_module, "MAX_PARTS", 2)
    task = Task()

    with pytest.raises(InputValidationError, match="would go as 3 jobs, over the 2 one task submits"):
        submit(write_input(tmp_path / "in.jsonl", lines(5)), max_requests_per_job=2, dry_run=True).execute(
            task.try_context()
        )

    assert requests(provider) == []
    assert len(task.xcom[("submit", -1, "dry_run_plan")]["parts"]) == 3


def test_an_input_that_would_go_as_more_jobs_than_one_task_submits_is_refused_before_upload(
    provider, tmp_path, monkeypatch
):
    monkeypatch.setattr(submit_module, "MAX_PARTS", 2)

    with pytest.raises(InputValidationError, match="raise max_requests_per_job"):
        submit(write_input(tmp_path / "in.jsonl", lines(5)), max_requests_per_job=2).execute(Task().try_context())

    assert requests(provider) == []
