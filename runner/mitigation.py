"""Mitigation during a run: the on-call's rollback, taken before the chaos phase ends (GameDays).

A `Mitigation` is asked every tick once chaos is in place. It watches the alerts firing now (live,
from Prometheus) and says when to mitigate: `AutomaticMitigation` `delay` seconds after the first
alert it saw (a stand-in for the on-call's response time); `HumanMitigation` when the person at the
terminal says so (`prompt` tells them the alert, `answered` is set from another thread). The runner
then recovers every chaos step at once (`mitigate` event) and measures from there; nobody acting is
fine, the chaos phase still ends and the runner rolls back on its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from chaos.errors import ChaosLabError

log = logging.getLogger(__name__)

POLL = 2.0
"""Seconds between two looks at the firing alerts."""


@dataclass(frozen=True)
class Notice:
    """An alert the mitigation saw firing, `after` seconds from the first fault."""

    alert: str
    after: float


@dataclass(frozen=True)
class Decision:
    reason: str
    by: str  # "automatic" | "on-call"


class Mitigation(Protocol):
    def observe(self, now: float, fault_at: float) -> Notice | None:
        """Look at the firing alerts (at most every POLL seconds); the first one seen, once."""
        ...

    def decide(self, now: float) -> Decision | None:
        """Whether to mitigate now."""
        ...


@dataclass
class _Watch:
    firing: Callable[[], list[str]]
    poll: float = POLL
    noticed: Notice | None = None
    noticed_at: float | None = None
    _next: float = 0.0

    def observe(self, now: float, fault_at: float) -> Notice | None:
        if self.noticed is not None or now < self._next:
            return None
        self._next = now + self.poll
        try:
            names = self.firing()
        except ChaosLabError as exc:  # Prometheus hiccup: look again at the next poll
            log.warning("could not read the firing alerts: %s", exc)
            return None
        if not names:
            return None
        self.noticed, self.noticed_at = Notice(names[0], max(0.0, now - fault_at)), now
        self.on_notice(self.noticed)
        return self.noticed

    def on_notice(self, notice: Notice) -> None:
        """Hook for subclasses: the first alert was seen."""


@dataclass
class AutomaticMitigation(_Watch):
    """Mitigate `delay` seconds after the first alert seen firing."""

    delay: float = 30.0

    def decide(self, now: float) -> Decision | None:
        if self.noticed_at is None or now < self.noticed_at + self.delay:
            return None
        return Decision(
            f"automatic mitigation {self.delay:g} s after {self.noticed.alert if self.noticed else '?'}",
            "automatic",
        )


@dataclass
class HumanMitigation(_Watch):
    """Mitigate when the on-call answers the prompt (`answer()`, from the terminal's thread)."""

    prompt: Callable[[Notice], None] = lambda notice: None
    answered: threading.Event = field(default_factory=threading.Event)

    def on_notice(self, notice: Notice) -> None:
        self.prompt(notice)

    def answer(self) -> None:
        self.answered.set()

    def decide(self, now: float) -> Decision | None:
        return Decision("the on-call ran the rollback", "on-call") if self.answered.is_set() else None


__all__ = ["AutomaticMitigation", "Decision", "HumanMitigation", "Mitigation", "Notice"]
