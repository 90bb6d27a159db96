"""The request listener: what one request event becomes in the record."""

from __future__ import annotations

from pathlib import Path

from load._answers import Verdict
from load._plan import LoadPlan, Phase
from load._recorder import VERDICT, RequestRecorder
from load._records import RecordWriter, read_records

PLAN = LoadPlan((Phase("baseline", 10.0), Phase("chaos", 20.0), Phase("recovery", 10.0)), rps=10.0, users=2)
ORIGIN = 1000.0


class Response:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


def recorder(tmp_path: Path) -> RequestRecorder:
    return RequestRecorder(RecordWriter(tmp_path / "requests-h-1.csv"), PLAN, ORIGIN)


def test_a_judged_request_is_recorded_with_its_verdict_and_phase(tmp_path: Path) -> None:
    rec = recorder(tmp_path)
    verdict = Verdict(
        "degraded", 200, degraded=True, feature_source="cache", correct=False, fallback_reason="breaker_open"
    )
    rec.on_request(
        request_type="POST",
        name="/predict",
        start_time=ORIGIN + 12.5,
        response_time=42.0,
        response_length=120,
        response=Response(200),
        exception=None,
        context={VERDICT: verdict},
        url="http://127.0.0.1/predict",
    )
    rec.writer.close()
    [r] = read_records(tmp_path)
    assert (r.time, r.latency, r.phase) == (ORIGIN + 12.5, 0.042, "chaos")
    assert (r.outcome, r.status, r.degraded, r.feature_source, r.correct, r.fallback_reason) == (
        "degraded",
        200,
        True,
        "cache",
        False,
        "breaker_open",
    )


def test_requests_nobody_judged_are_recorded_from_the_event(tmp_path: Path) -> None:
    rec = recorder(tmp_path)
    rec.on_request(
        start_time=ORIGIN + 1.0, response_time=5.0, response=Response(200), exception=None, context={}
    )
    rec.on_request(
        start_time=ORIGIN + 2.0, response_time=5.0, response=Response(503), exception=RuntimeError("503")
    )
    rec.on_request(
        start_time=ORIGIN + 39.0, response_time=2000.0, response=Response(0), exception=TimeoutError("t/o")
    )
    rec.on_request(start_time=ORIGIN + 45.0, response_time=1.0, response=None, exception=None, context=None)
    rec.writer.close()
    rows = [(r.outcome, r.status, r.error_kind, r.correct, r.phase) for r in read_records(tmp_path)]
    assert rows == [
        ("ok", 200, "", None, "baseline"),
        ("error", 503, "overload", None, "baseline"),
        ("error", 0, "timeout", None, "recovery"),
        ("ok", 0, "", None, "recovery"),  # started after the last phase: labelled with the last
    ]
