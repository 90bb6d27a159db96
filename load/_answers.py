"""Judging one /predict answer: ok, degraded or error; right or wrong against the true label.

A well-formed 2xx answer is a success for Locust even when the prediction is wrong (wrong answers are
measured, not failed) or degraded (cached/default features, fallback model). Malformed answers,
error statuses and transport errors are failures, each with a short error kind:

    overload (503), deadline (504), http_<status>, timeout, refused, reset, transport, malformed
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

OUTCOMES = ("ok", "degraded", "error")
FEATURE_SOURCES = ("store", "cache", "defaults", "request")
STATUS_KINDS = {503: "overload", 504: "deadline"}
_MAX_WRAPPING = 5
_REASON = re.compile(r"[a-z][a-z0-9_]{0,63}")
"""A fallback reason is a word (breaker_open, store_timeout, model_error, ...): it goes into CSV as is."""
TALLY_KEYS = ("requests", "ok", "degraded", "error", "fallback", "cache", "judged", "wrong")


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: str
    status: int
    error_kind: str = ""
    degraded: bool = False
    fallback: bool = False
    feature_source: str = ""
    correct: bool | None = None
    fallback_reason: str = ""
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome == "error"

    @property
    def failure_message(self) -> str:
        """Short, low-cardinality text for Locust's failure table."""
        return f"{self.error_kind}: {self.detail}" if self.detail else self.error_kind


def judge(
    status: int, body: bytes | None, error: BaseException | None, entity_id: str, label: int | None
) -> Verdict:
    """The verdict on one answer to a request for `entity_id` whose true label is `label`."""
    if status == 0:
        cause = root_cause(error)
        return Verdict("error", 0, error_kind_of(error), detail=type(cause).__name__ if cause else "")
    if not 200 <= status < 300:
        return Verdict("error", status, STATUS_KINDS.get(status, f"http_{status}"))
    answer, problem = _parse(body, entity_id)
    if answer is None:
        return Verdict("error", status, "malformed", detail=problem)
    prediction: int = answer["prediction"]
    degraded, fallback = answer["degraded"], answer["fallback"]
    return Verdict(
        outcome="degraded" if degraded or fallback else "ok",
        status=status,
        degraded=degraded,
        fallback=fallback,
        feature_source=answer["feature_source"],
        correct=None if label is None else prediction == label,
        fallback_reason=answer.get("fallback_reason") or "",
    )


def error_kind_of(error: BaseException | None) -> str:
    """The kind of a transport error (no HTTP status was received)."""
    error = root_cause(error)
    if error is None:
        return "transport"
    name = type(error).__name__.lower()
    if isinstance(error, TimeoutError) or "timeout" in name:
        return "timeout"
    if isinstance(error, ConnectionRefusedError) or "refused" in str(error).lower():
        return "refused"
    if isinstance(error, ConnectionResetError | BrokenPipeError) or "closed" in name:
        return "reset"
    return "transport"


def root_cause(error: BaseException | None) -> BaseException | None:
    """The innermost error: HTTP clients wrap the socket error (`original`, `__cause__`)."""
    for _ in range(_MAX_WRAPPING):
        inner = getattr(error, "original", None) or (error.__cause__ if error is not None else None)
        if not isinstance(inner, BaseException) or inner is error:
            break
        error = inner
    return error


_FIELD_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "prediction": ((int,), "an integer"),
    "probability": ((int, float), "a number"),
    "model_version": ((str,), "a string"),
    "feature_source": ((str,), "a string"),
    "degraded": ((bool,), "true or false"),
    "fallback": ((bool,), "true or false"),
}


def _parse(body: bytes | None, entity_id: str) -> tuple[dict[str, Any] | None, str]:
    """The answer as a dict when it follows the contract, else None and what is wrong."""
    try:
        answer = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        return None, "not JSON"
    if not isinstance(answer, dict):
        return None, "not a JSON object"
    if answer.get("entity_id") != entity_id:
        return None, "entity_id differs from the request"
    for name, (types, kind) in _FIELD_TYPES.items():
        value = answer.get(name)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            return None, f"{name} missing or not {kind}"
    if answer["feature_source"] not in FEATURE_SOURCES:
        return None, "unknown feature_source"
    reason = answer.get("fallback_reason")
    if reason is not None and not (isinstance(reason, str) and _REASON.fullmatch(reason)):
        return None, "fallback_reason not null or a lower-case word"
    if not 0.0 <= float(answer["probability"]) <= 1.0:
        return None, "probability outside [0, 1]"
    return answer, ""


class AnswerTally:
    """Counts of answers by kind; workers send their counts to the master, which adds them up."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, verdict: Verdict) -> None:
        c = self.counts
        c["requests"] += 1
        c[verdict.outcome] += 1
        c["fallback"] += verdict.fallback
        c["cache"] += verdict.feature_source == "cache"
        if verdict.correct is not None:
            c["judged"] += 1
            c["wrong"] += not verdict.correct

    def merge(self, counts: dict[str, int]) -> None:
        self.counts.update({k: int(v) for k, v in counts.items() if k in TALLY_KEYS})

    def take(self) -> dict[str, int]:
        """The counts since the last take (what a worker reports), then start from zero."""
        out = self.as_dict()
        self.counts.clear()
        return out

    def as_dict(self) -> dict[str, int]:
        return {k: self.counts[k] for k in TALLY_KEYS}

    def summary(self) -> str:
        c = self.counts
        wrong = f"{100 * c['wrong'] / c['judged']:.2f} %" if c["judged"] else "n/a"
        return (
            f"{c['requests']} answers: {c['ok']} ok, {c['degraded']} degraded "
            f"({c['fallback']} through a fallback, {c['cache']} of them with cached features), "
            f"{c['error']} failed; wrong predictions {c['wrong']} of {c['judged']} judged ({wrong})"
        )
