"""One timer for many waits' timeouts, so a wait that ends in time leaves nothing behind in the event loop."""

from __future__ import annotations

import asyncio


class Alarm:
    """The timeouts of a few waits (one connection's reads and writes, one client's queue), kept by one timer set
    for the earliest of them.

    A timer per wait, cancelled when the wait ends, would stay in the loop's timer heap with a copy of the
    context until its time came: at hundreds of polls a second thousands of them outlive their requests,
    long enough to reach the garbage collector's oldest generation, and every arrival there brings the next
    full collection (a stall of the whole loop) closer. This timer is set again only when it rings, an
    earlier deadline arrives, or the waits are on another event loop than the one it was set on.
    """

    def __init__(self) -> None:
        self._deadlines: dict[asyncio.Future[None], float] = {}
        self._timer: asyncio.Handle | None = None
        self._when = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    async def wait(self, waiter: asyncio.Future[None], timeout: float | None) -> None:
        """Wait for ``waiter``, raising TimeoutError once ``timeout`` seconds have passed."""
        if timeout is None:
            await waiter
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._deadlines[waiter] = deadline
        if self._timer is None or self._loop is not loop or deadline < self._when:
            self._set(loop, deadline)
        try:
            await waiter
        finally:
            del self._deadlines[waiter]

    def stop(self) -> None:
        """Cancel the timer, once every wait has been woken (the connection is gone)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _set(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        self.stop()
        # its own record of when: uvloop hands back a plain Handle, without when(), for a timer due within 0.5 ms
        self._timer = loop.call_at(when, self._ring, loop, when)
        self._when, self._loop = when, loop

    def _ring(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        self._timer = None
        now = max(loop.time(), when)  # a loop may run a timer a clock tick early
        earliest: float | None = None
        for waiter, deadline in self._deadlines.items():
            if waiter.done():
                continue
            if deadline <= now:
                waiter.set_exception(TimeoutError())
            elif earliest is None or deadline < earliest:
                earliest = deadline
        if earliest is not None:
            self._set(loop, earliest)
