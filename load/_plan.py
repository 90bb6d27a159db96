"""The load plan: phases, request rate, users and arrival model of one experiment's traffic.

A plan comes from an experiment spec (`CHAOSLAB_SPEC`, read through `chaos.spec` when the chaoslab
package is importable) or from environment variables alone, so the locustfiles also run where only
Locust and scikit-learn are installed. Variables set explicitly override what the spec says:

    CHAOSLAB_PHASES   "baseline=60s,chaos=2m,recovery=60s"; a phase may carry its own rate: "chaos=2m@100"
    CHAOSLAB_RPS      requests per second (all users together)
    CHAOSLAB_USERS    simulated users
    CHAOSLAB_ARRIVAL  "closed" (users with constant pacing) or "poisson" (open Poisson arrivals)
    CHAOSLAB_TIMEOUT  client timeout per request, a duration such as "2s"

Users are paced so that together they make the requested rate: each user starts a request every
`period = users / rps` seconds. A phase with its own rate keeps the period and changes the number of
users, so pacing never needs to know which phase it is in (workers of a distributed run cannot).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaos.spec import Experiment

ARRIVALS = ("closed", "poisson")
ENV_PREFIX = "CHAOSLAB_"
SETTINGS = ("spec", "phases", "rps", "users", "arrival", "timeout")

# Standalone defaults; they mirror `load` and `client` in experiments/system.yaml (a test checks).
DEFAULT_PHASES = "baseline=60s,chaos=120s,recovery=60s"
DEFAULT_RPS = 200.0
DEFAULT_USERS = 40
DEFAULT_ARRIVAL = "closed"
DEFAULT_TIMEOUT = 2.0

MAX_SPAWN_RATE = 100.0  # users per second; Locust warns that faster spawning may cause issues

_PHASE_NAME = re.compile(r"[a-z][a-z0-9_-]*")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class PlanError(ValueError):
    """A load setting is invalid; names the setting (environment variable) and the bad value."""

    def __init__(self, setting: str, value: object, message: str) -> None:
        self.setting = setting
        self.value = value
        self.message = message
        super().__init__(f"{setting}={value!r}: {message}")


def env_name(setting: str) -> str:
    """The environment variable of a setting: "rps" -> "CHAOSLAB_RPS"."""
    return ENV_PREFIX + setting.upper()


def parse_duration(text: str, setting: str) -> float:
    """Seconds in a Go duration string ("500ms", "2m", "1m30s"), as chaos.durations reads them."""
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if text == "0":
        return 0.0
    if pos == 0 or pos != len(text):
        raise PlanError(setting, text, "is not a duration such as '500ms', '30s' or '2m'")
    return total


def format_seconds(seconds: float) -> str:
    """A duration string parse_duration reads back exactly (whole milliseconds)."""
    return f"{round(seconds * 1000)}ms"


@dataclass(frozen=True)
class Phase:
    """A named stretch of the run; `rps` None means the plan's rate."""

    name: str
    duration: float
    rps: float | None = None

    def __post_init__(self) -> None:
        if not _PHASE_NAME.fullmatch(self.name):
            raise PlanError(env_name("phases"), self.name, "phase names are lower-case words like 'chaos'")
        if not (math.isfinite(self.duration) and self.duration > 0):
            raise PlanError(env_name("phases"), self.duration, f"phase {self.name} must last longer than 0")
        if self.rps is not None and not (math.isfinite(self.rps) and self.rps >= 0):
            raise PlanError(env_name("phases"), self.rps, f"phase {self.name} rate must be >= 0")


@dataclass(frozen=True)
class Target:
    """What the load should be at one moment: the phase, its users and its request rate."""

    phase: str
    users: int
    rps: float


@dataclass(frozen=True)
class LoadPlan:
    phases: tuple[Phase, ...]
    rps: float = DEFAULT_RPS
    users: int = DEFAULT_USERS
    arrival: str = DEFAULT_ARRIVAL
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        if not self.phases:
            raise PlanError(env_name("phases"), "", "needs at least one phase")
        names = [p.name for p in self.phases]
        if len(set(names)) != len(names):
            raise PlanError(env_name("phases"), ",".join(names), "phase names must be unique")
        if not (math.isfinite(self.rps) and self.rps > 0):
            raise PlanError(env_name("rps"), self.rps, "must be a number > 0")
        if self.users < 1:
            raise PlanError(env_name("users"), self.users, "must be a whole number >= 1")
        if self.arrival not in ARRIVALS:
            raise PlanError(env_name("arrival"), self.arrival, f"must be one of {', '.join(ARRIVALS)}")
        if not (math.isfinite(self.timeout) and self.timeout > 0):
            raise PlanError(env_name("timeout"), self.timeout, "must be longer than 0")

    @property
    def period(self) -> float:
        """Seconds between two request starts of one user."""
        return self.users / self.rps

    @property
    def total(self) -> float:
        return sum(p.duration for p in self.phases)

    @property
    def spawn_rate(self) -> float:
        """Users started per second, no faster than Locust starts users without warning. Locust's
        dispatcher starts floor(rate) users at once, one such batch per floor(rate) / rate seconds,
        so up to 100 users start together; their grid phases (load/_pacing.py) then spread their
        requests over the period."""
        return min(self.rps, MAX_SPAWN_RATE)

    def rate_of(self, phase: Phase) -> float:
        return self.rps if phase.rps is None else phase.rps

    def users_of(self, phase: Phase) -> int:
        """Users that make the phase's rate at the plan's pacing period."""
        rate = self.rate_of(phase)
        return 0 if rate == 0 else max(1, round(rate * self.period))

    def bounds(self) -> list[tuple[str, float, float]]:
        """Each phase's name, start and end in seconds from the run start."""
        out, start = [], 0.0
        for phase in self.phases:
            out.append((phase.name, start, start + phase.duration))
            start += phase.duration
        return out

    def phase_at(self, t: float) -> Phase | None:
        """The phase running `t` seconds after the start; None before the start and after the end."""
        if t < 0:
            return None
        start = 0.0
        for phase in self.phases:
            if t < start + phase.duration:
                return phase
            start += phase.duration
        return None

    def label_at(self, t: float) -> str:
        """The phase name for a request started at `t`, clamped to the first and last phase."""
        phase = self.phase_at(t)
        if phase is not None:
            return phase.name
        return self.phases[0].name if t < 0 else self.phases[-1].name

    def target_at(self, t: float) -> Target | None:
        """The load for `t` seconds after the start; None when the run is over."""
        phase = self.phase_at(max(t, 0.0))
        if phase is None:
            return None
        return Target(phase.name, self.users_of(phase), self.rate_of(phase))

    def to_env(self) -> dict[str, str]:
        """Environment variables that reproduce this plan without a spec."""
        phases = ",".join(
            f"{p.name}={format_seconds(p.duration)}" + ("" if p.rps is None else f"@{p.rps!r}")
            for p in self.phases
        )
        return {
            env_name("phases"): phases,
            env_name("rps"): repr(self.rps),
            env_name("users"): str(self.users),
            env_name("arrival"): self.arrival,
            env_name("timeout"): format_seconds(self.timeout),
        }

    def describe(self) -> dict[str, Any]:
        """Plain data for the run marker and logs."""
        return {
            "phases": [
                {"name": name, "start": start, "end": end, "rps": self.rate_of(p), "users": self.users_of(p)}
                for (name, start, end), p in zip(self.bounds(), self.phases, strict=True)
            ],
            "rps": self.rps,
            "users": self.users,
            "arrival": self.arrival,
            "period": self.period,
            "timeout": self.timeout,
        }


def parse_phases(text: str) -> tuple[Phase, ...]:
    """Phases from "baseline=60s,chaos=2m@100,recovery=60s"."""
    setting = env_name("phases")
    phases = []
    for item in (part.strip() for part in text.split(",")):
        name, sep, rest = item.partition("=")
        if not sep or not name.strip():
            raise PlanError(setting, text, f"item {item!r} must look like name=duration or name=duration@rps")
        duration_text, at, rate_text = rest.strip().partition("@")
        rate = _number(rate_text, setting) if at else None
        phases.append(Phase(name.strip(), parse_duration(duration_text, setting), rate))
    return tuple(phases)


@dataclass(frozen=True)
class Settings:
    """Raw load settings as given (strings; None when not set), before they become a plan."""

    spec: str | None = None
    phases: str | None = None
    rps: str | None = None
    users: str | None = None
    arrival: str | None = None
    timeout: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        return cls(**{key: env.get(env_name(key)) or None for key in SETTINGS})

    @classmethod
    def from_options(cls, options: object) -> Settings:
        """From Locust's parsed options (the `--chaoslab-*` arguments, which also read the env)."""
        values = {key: getattr(options, f"chaoslab_{key}", None) for key in SETTINGS}
        return cls(**{key: str(v) if v not in (None, "") else None for key, v in values.items()})


@functools.lru_cache(maxsize=16)
def resolve_plan(settings: Settings) -> LoadPlan:
    """The plan for these settings: the spec's (or the defaults), then each explicit setting on top."""
    base = plan_from_spec(settings.spec) if settings.spec else LoadPlan(parse_phases(DEFAULT_PHASES))
    return LoadPlan(
        phases=parse_phases(settings.phases) if settings.phases else base.phases,
        rps=_number(settings.rps, env_name("rps")) if settings.rps else base.rps,
        users=_whole(settings.users, env_name("users")) if settings.users else base.users,
        arrival=settings.arrival or base.arrival,
        timeout=parse_duration(settings.timeout, env_name("timeout")) if settings.timeout else base.timeout,
    )


def plan_from_spec(path: str) -> LoadPlan:
    """The plan of an experiment spec file; needs the chaoslab package (chaos.spec) to read it."""
    try:
        from chaos.errors import ChaosLabError
        from chaos.spec import load_experiment
    except ImportError as exc:
        raise PlanError(
            env_name("spec"),
            path,
            "reading a spec needs the chaoslab package; set CHAOSLAB_PHASES, CHAOSLAB_RPS, "
            "CHAOSLAB_USERS and CHAOSLAB_ARRIVAL instead",
        ) from exc
    try:
        experiment = load_experiment(Path(path))
    except ChaosLabError as exc:
        raise PlanError(env_name("spec"), path, str(exc)) from exc
    return plan_of_experiment(experiment)


def plan_of_experiment(experiment: Experiment) -> LoadPlan:
    """The plan of a loaded experiment: its three phases at its load, its system's client timeout."""
    p = experiment.phases
    return LoadPlan(
        phases=(Phase("baseline", p.baseline), Phase("chaos", p.chaos), Phase("recovery", p.recovery)),
        rps=experiment.load.rps,
        users=experiment.load.users,
        arrival=experiment.load.arrival,
        timeout=experiment.system.client.timeout,
    )


def _number(text: str, setting: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise PlanError(setting, text, "must be a number") from None
    if not math.isfinite(value):
        raise PlanError(setting, text, "must be a finite number")
    return value


def _whole(text: str, setting: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise PlanError(setting, text, "must be a whole number") from None
