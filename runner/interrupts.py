"""SIGINT and SIGTERM as an exception, so that a run's rollback (its `finally`) always runs.

While a rollback is running it is shielded: further signals are noted and logged, not raised, so
that a second Ctrl-C cannot leave chaos injected half-way through recovering it. Only a SIGKILL can
stop a rollback, and the crash marker covers that (`chaoslab cleanup`).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from chaos.errors import ChaosLabError

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(ChaosLabError):
    """The run was stopped by a signal; it was rolled back."""

    hint = "the run record says how far it got"


class InterruptGuard:
    def __init__(self) -> None:
        self.received: list[str] = []
        self._shield = 0

    def handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        self.received.append(name)
        if self._shield:
            log.warning("%s received while rolling back: the rollback finishes first", name)
            return
        raise Interrupted(f"{name} received")

    @contextmanager
    def shielded(self) -> Iterator[None]:
        """Signals inside this block are noted, not raised."""
        self._shield += 1
        try:
            yield
        finally:
            self._shield -= 1


@contextmanager
def interrupts_as_exceptions(signals: tuple[signal.Signals, ...] = SIGNALS) -> Iterator[InterruptGuard]:
    """Install handlers raising Interrupted for `signals` (main thread only), restore them after."""
    guard = InterruptGuard()
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return
    previous = {s: signal.getsignal(s) for s in signals}
    for s in signals:
        signal.signal(s, guard.handle)
    try:
        yield guard
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
