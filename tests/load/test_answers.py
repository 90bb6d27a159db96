"""Judging answers: wrong predictions are measured, degraded ones counted, malformed ones failed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from load._answers import AnswerTally, Verdict, error_kind_of, judge


def answer(**changes: Any) -> bytes:
    body = {
        "entity_id": "42",
        "prediction": 1,
        "probability": 0.91,
        "model_version": "v1",
        "feature_source": "store",
        "fallback": False,
        "fallback_reason": None,
        "degraded": False,
        "pod": "pod-0",
    }
    body.update(changes)
    return json.dumps({k: v for k, v in body.items() if v != "<absent>"}).encode()


def test_a_right_answer_is_ok_and_correct() -> None:
    assert judge(200, answer(), None, "42", label=1) == Verdict(
        "ok", 200, feature_source="store", correct=True
    )


def test_a_wrong_prediction_is_a_success_measured_as_wrong() -> None:
    verdict = judge(200, answer(prediction=0), None, "42", label=1)
    assert (verdict.outcome, verdict.failed, verdict.correct) == ("ok", False, False)


def test_an_entity_without_a_label_is_judged_unknown() -> None:
    assert judge(200, answer(), None, "42", label=None).correct is None


@pytest.mark.parametrize(
    ("changes", "degraded", "fallback", "source"),
    [
        ({"degraded": True, "feature_source": "cache"}, True, False, "cache"),
        ({"degraded": True, "feature_source": "defaults"}, True, False, "defaults"),
        ({"fallback": True, "fallback_reason": "model_error"}, False, True, "store"),
    ],
)
def test_degraded_and_fallback_answers_are_counted_successes(
    changes: dict[str, Any], degraded: bool, fallback: bool, source: str
) -> None:
    verdict = judge(200, answer(**changes), None, "42", label=1)
    assert verdict.outcome == "degraded"
    assert not verdict.failed
    assert (verdict.degraded, verdict.fallback, verdict.feature_source) == (degraded, fallback, source)
    assert verdict.fallback_reason == changes.get("fallback_reason", "")


@pytest.mark.parametrize(
    ("status", "kind"), [(503, "overload"), (504, "deadline"), (500, "http_500"), (422, "http_422")]
)
def test_error_statuses_fail_with_their_kind(status: int, kind: str) -> None:
    verdict = judge(status, b'{"error": "x"}', None, "42", label=1)
    assert (verdict.outcome, verdict.status, verdict.error_kind, verdict.correct) == (
        "error",
        status,
        kind,
        None,
    )
    assert verdict.failure_message == kind


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"<html>busy</html>", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (answer(entity_id="43"), "entity_id differs"),
        (answer(prediction=True), "prediction missing or not an integer"),
        (answer(prediction="<absent>"), "prediction missing"),
        (answer(probability="high"), "probability missing or not a number"),
        (answer(probability=1.5), "probability outside"),
        (answer(degraded="no"), "degraded missing or not true or false"),
        (answer(feature_source="guess"), "unknown feature_source"),
        (answer(model_version=3), "model_version missing or not a string"),
        (answer(fallback_reason="a,b"), "fallback_reason not null or a lower-case word"),
        (answer(fallback_reason=7), "fallback_reason not null or a lower-case word"),
    ],
)
def test_malformed_answers_fail(body: bytes, detail: str) -> None:
    verdict = judge(200, body, None, "42", label=1)
    assert (verdict.outcome, verdict.error_kind) == ("error", "malformed")
    assert detail in verdict.failure_message


class Wrapped(Exception):
    """An HTTP client's error around the socket error, as geventhttpclient's RetriesExceeded."""

    def __init__(self, original: BaseException) -> None:
        super().__init__("retries exceeded")
        self.original = original


class Timeout(BaseException):
    """Named like gevent's Timeout, which is no TimeoutError."""


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "refused"),
        (TimeoutError("timed out"), "timeout"),
        (Timeout(), "timeout"),
        (ConnectionResetError(104, "reset"), "reset"),
        (Wrapped(TimeoutError("timed out")), "timeout"),
        (Wrapped(Wrapped(ConnectionRefusedError(111, "Connection refused"))), "refused"),
        (OSError("no route"), "transport"),
        (None, "transport"),
    ],
)
def test_transport_errors_are_classified_through_their_wrapping(
    error: BaseException | None, kind: str
) -> None:
    assert error_kind_of(error) == kind
    verdict = judge(0, None, error, "42", label=1)
    assert (verdict.outcome, verdict.status, verdict.error_kind) == ("error", 0, kind)


def test_the_tally_counts_kinds_and_workers_report_increments() -> None:
    worker, master = AnswerTally(), AnswerTally()
    for verdict in [
        judge(200, answer(), None, "42", 1),
        judge(200, answer(prediction=0), None, "42", 1),
        judge(200, answer(degraded=True, feature_source="cache"), None, "42", 1),
        judge(200, answer(fallback=True), None, "42", None),
        judge(503, b"", None, "42", 1),
    ]:
        worker.add(verdict)
    master.merge(worker.take())
    assert worker.as_dict()["requests"] == 0  # taken: the next report starts from zero
    worker.add(judge(504, b"", None, "42", 1))
    master.merge(worker.take())
    assert master.as_dict() == {
        "requests": 6,
        "ok": 2,
        "degraded": 2,
        "error": 2,
        "fallback": 1,
        "cache": 1,
        "judged": 3,
        "wrong": 1,
    }
    assert "wrong predictions 1 of 3 judged (33.33 %)" in master.summary()
