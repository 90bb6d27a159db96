"""The report of a recorded run, made offline: results.md, report.html, score.json, the backlog."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

from analysis.analyse import analyse
from analysis.backlog import Priority, backlog
from analysis.record import RunData
from analysis.report import HTML, RESULTS, SCORE, report_run
from analysis.score import score_run
from analysis.timeline import moments
from chaos.record import Event, EventKind
from tests.analysis.runs import recorded_run


def test_a_recorded_run_is_reported_with_no_testbed(tmp_path: Path) -> None:
    folder = recorded_run(tmp_path)
    for name in (RESULTS, HTML, SCORE):
        (folder / name).unlink()  # the run wrote them; make them again from the record alone
    shutil.rmtree(tmp_path / "spec")
    report = report_run(folder)
    results = (folder / RESULTS).read_text()
    for heading in (
        "Before, during, after",
        "Observations",
        "Hypothesis",
        "Success criteria",
        "Issues discovered and improvement backlog",
        "Runbooks",
    ):
        assert f"\n## {heading}\n" in results
    assert f"\n## Prediction score: {folder.name}\n" in results
    assert "### Emergency stop" in results and "`chaoslab cleanup`" in results
    assert "| 10.0 s | inject: chaos-testing/fail-one on pod-" in results
    assert "The machine's CPU (node exporter, share of its CPUs per scrape): baseline busy 39.0 %" in results
    score = json.loads((folder / SCORE).read_text())
    assert score["confidence"] == report.card.confidence and score["resilience"] == report.card.resilience
    assert [m["metric"] for m in score["metrics"]] == ["availability", "availability", "recovery_time"]
    html = (folder / HTML).read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count('<img class="plot"') == 5
    assert "http://" not in html and "https://" not in html  # self-contained


def test_the_backlog_files_a_high_item_for_a_criterion_missed_while_pods_were_down(tmp_path: Path) -> None:
    strict = [{"name": "available", "metric": "availability", "phase": "chaos", "above": "99%"}]
    folder = recorded_run(tmp_path, criteria=strict)
    data = RunData.load(folder)
    analysis = analyse(data)
    items = backlog(data, analysis, score_run(data, analysis))
    high = [i for i in items if i.priority == Priority.HIGH]
    assert len(high) == 1 and "while 1 pod(s) were not ready" in high[0].issue
    assert "availability (chaos) > 99 %" in high[0].issue


def test_pod_events_close_in_time_are_one_line() -> None:
    events = [Event(100.0 + 0.1 * i, EventKind.BREAKER_OPEN, {"pod": f"p-{i}"}) for i in range(10)]
    events += [Event(101.5, EventKind.INJECT, {"chaos": "ns/x", "targets": ["p-1"]})]
    events += [Event(130.0, EventKind.BREAKER_CLOSED, {"pod": "p-3"})]
    lines = [(m.when(0.0), m.text) for m in moments(events, desired=10)]
    assert lines == [
        ("100.0-100.9 s", "breaker-open on 10/10 pods"),
        ("101.5 s", "inject: ns/x on p-1"),
        ("130.0 s", "breaker-closed: p-3"),
    ]


def test_the_backlog_files_a_medium_item_when_the_machine_ran_out_of_cpu(tmp_path: Path) -> None:
    data = RunData.load(recorded_run(tmp_path))
    analysis = analyse(data)
    assert not [i for i in backlog(data, analysis, score_run(data, analysis)) if "machine's CPU" in i.issue]
    assert data.signals is not None and data.signals.host_cpu is not None and data.origin is not None
    chaos_start = data.info["phases"]["chaos"]["start"]

    def used_up_early_in_chaos(t: float, v: str, mode: str) -> str:
        return "0.0" if mode == "idle" and chaos_start < t <= chaos_start + 3 else v

    host = [
        dict(
            s, values=[[t, used_up_early_in_chaos(float(t), v, s["metric"]["mode"])] for t, v in s["values"]]
        )
        for s in data.signals.host_cpu
    ]
    used_up = replace(data, signals=replace(data.signals, host_cpu=host))
    items = backlog(used_up, analysis, score_run(used_up, analysis))
    (item,) = [i for i in items if "machine's CPU" in i.issue]
    assert item.priority == Priority.MEDIUM and "(3 s of chaos)" in item.issue
