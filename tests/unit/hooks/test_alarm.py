"""Alarm: many waits' timeouts kept by one timer, so waits that end in time leave nothing in the event loop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvloop

from airflow_provider_genai_batch.hooks.alarm import Alarm


@pytest.fixture
async def timers_set(monkeypatch: pytest.MonkeyPatch) -> list[asyncio.TimerHandle]:
    """Every timer the running loop is asked to set, in order."""
    loop = asyncio.get_running_loop()
    timers: list[asyncio.TimerHandle] = []
    call_at = loop.call_at

    def recording(when: float, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        timers.append(call_at(when, *args, **kwargs))
        return timers[-1]

    monkeypatch.setattr(loop, "call_at", recording)
    return timers


async def answered_soon(alarm: Alarm, timeout: float | None) -> None:
    waiter = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(waiter.set_result, None)
    await alarm.wait(waiter, timeout)


async def test_a_hundred_waits_answered_in_time_set_one_timer(timers_set: list[asyncio.TimerHandle]):
    alarm = Alarm()
    for _ in range(100):
        await answered_soon(alarm, 60.0)
    assert len(timers_set) == 1


async def test_a_wait_past_its_deadline_raises_timeout_error_and_a_later_one_keeps_waiting():
    alarm = Alarm()
    loop = asyncio.get_running_loop()
    short, long = loop.create_future(), loop.create_future()
    short_wait = asyncio.create_task(alarm.wait(short, 0.01))
    long_wait = asyncio.create_task(alarm.wait(long, 3600.0))

    with pytest.raises(TimeoutError):
        await short_wait
    assert not long_wait.done()
    long.set_result(None)
    await long_wait


async def test_an_earlier_deadline_arriving_sets_the_timer_for_it(timers_set: list[asyncio.TimerHandle]):
    alarm = Alarm()
    loop = asyncio.get_running_loop()
    patient = asyncio.create_task(alarm.wait(loop.create_future(), 3600.0))
    await asyncio.sleep(0)

    with pytest.raises(TimeoutError):
        await alarm.wait(loop.create_future(), 0.01)

    assert timers_set[1].when() < timers_set[0].when()
    assert not patient.done()
    patient.cancel()


async def test_a_cancelled_wait_is_forgotten():
    alarm = Alarm()
    waiting = asyncio.create_task(alarm.wait(asyncio.get_running_loop().create_future(), 0.01))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.sleep(0.03)  # the timer rings over no wait
    assert alarm._deadlines == {}


async def test_a_wait_without_timeout_sets_no_timer(timers_set: list[asyncio.TimerHandle]):
    await answered_soon(Alarm(), None)
    assert timers_set == []


async def test_stop_cancels_the_timer_once_the_connection_is_gone(timers_set: list[asyncio.TimerHandle]):
    alarm = Alarm()
    await answered_soon(alarm, 60.0)
    alarm.stop()
    assert [timer.cancelled() for timer in timers_set] == [True]


def test_a_timer_due_within_uvloops_rounding_still_lets_every_wait_time_out():
    """uvloop hands back a plain Handle (no ``when()``) for a timer due within half a millisecond."""

    async def waits() -> list[str]:
        alarm = Alarm()
        loop = asyncio.get_running_loop()
        soon = asyncio.create_task(alarm.wait(loop.create_future(), 0.0004))
        await asyncio.sleep(0)  # its timer is set
        later = asyncio.create_task(alarm.wait(loop.create_future(), 0.02))
        outcomes = await asyncio.gather(soon, later, return_exceptions=True)
        return [type(outcome).__name__ for outcome in outcomes]

    assert uvloop.run(waits()) == ["TimeoutError", "TimeoutError"]


def test_an_alarm_set_on_a_loop_that_closed_times_waits_on_the_next_loop():
    alarm = Alarm()

    async def set_then_answered() -> None:
        await answered_soon(alarm, 0.2)  # its timer stays set on this loop, which closes before it rings

    async def timed_out() -> bool:
        wait = asyncio.ensure_future(alarm.wait(asyncio.get_running_loop().create_future(), 0.3))
        await asyncio.wait([wait], timeout=5.0)
        return wait.done() and isinstance(wait.exception(), TimeoutError)

    asyncio.run(set_then_answered())
    assert asyncio.run(timed_out())
