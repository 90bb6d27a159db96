"""The request recorder: an `events.request` listener that writes one record per request.

It holds no Locust state (the session in _hooks.py attaches and detaches it), so it runs and is
tested without Locust. The prediction user puts its judged answer into the request's context under
`VERDICT`; requests of any other client are recorded from the event's response and exception.
"""

from __future__ import annotations

from typing import Any

from load._answers import STATUS_KINDS, Verdict, error_kind_of
from load._plan import LoadPlan
from load._records import RecordWriter, format_line

VERDICT = "chaoslab_verdict"  # key of the judged answer in a request's context


def verdict_from_event(response: Any, exception: BaseException | None) -> Verdict:
    """A verdict for a request the prediction user did not judge (another client or user class)."""
    status = int(getattr(response, "status_code", 0) or 0)
    if exception is None:
        return Verdict("ok", status)
    kind = error_kind_of(exception) if status == 0 else STATUS_KINDS.get(status, f"http_{status}")
    return Verdict("error", status, kind)


class RequestRecorder:
    """An `events.request` listener writing one record per request of this process."""

    def __init__(self, writer: RecordWriter, plan: LoadPlan, origin: float) -> None:
        self.writer = writer
        self.plan = plan
        self.origin = origin

    def on_request(
        self,
        start_time: float,
        response_time: float,
        exception: BaseException | None = None,
        context: dict[str, Any] | None = None,
        response: Any = None,
        **_: Any,
    ) -> None:
        verdict = (context or {}).get(VERDICT)
        if not isinstance(verdict, Verdict):
            verdict = verdict_from_event(response, exception)
        self.writer.write_line(
            format_line(
                start_time,
                response_time / 1000.0,
                verdict.outcome,
                verdict.status,
                verdict.error_kind,
                verdict.degraded,
                verdict.fallback,
                verdict.feature_source,
                verdict.correct,
                self.plan.label_at(start_time - self.origin),
                verdict.fallback_reason,
            )
        )
