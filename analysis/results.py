"""results.md: the experiment's deliverable, filled from what the run showed.

Sections: the experiment and how the run ended; before / during / after metrics; observations (the
timeline, pod events grouped); the hypothesis, validated or not, each blank with its predicted and
actual value; the success criteria; the score card; issues discovered and the improvement backlog
(analysis.backlog); runbooks for this experiment (how to run it, how to roll it back, the
emergency stop). Pure: data in, markdown out.
"""

from __future__ import annotations

import math

from analysis.analyse import Analysis, host_text
from analysis.backlog import Item, Priority
from analysis.observed import Observation
from analysis.record import RunData
from analysis.score import ScoreCard
from analysis.score_render import headline, score_card_lines
from analysis.summary import criteria_table, phase_table, timeline_table
from chaos.spec import Blank, Experiment
from sim.forecast import UNIT_SCALE, format_value


def render_results(
    data: RunData, analysis: Analysis, card: ScoreCard, items: list[Item], record_dir: str = ""
) -> str:
    e = data.experiment
    status = str(analysis.status(data.status))
    out = [f"# Results: {e.title}", ""]
    out += [
        f"- experiment: `{e.name}` ({data.info.get('experiment', {}).get('source', e.source)})",
        f"- run: {record_dir or '-'}, started {data.info.get('originUtc') or 'never'}",
        f"- outcome: **{status}**" + (f" ({data.info['reason']})" if data.info.get("reason") else ""),
        f"- {headline(card)}",
    ]
    out += ["", "## Before, during, after", ""]
    out += phase_table(analysis.observation) if analysis.observation else ["Nothing was observed."]
    host = host_text(data)
    out += ["", host] if host else []
    out += ["", "## Observations", ""]
    out += timeline_table(list(data.events), data.origin, e.system.service.replicas)
    out += ["", "## Hypothesis", ""]
    out += hypothesis_lines(e, analysis, data)
    out += ["", "## Success criteria", ""]
    out += criteria_table(analysis.verdict)
    out += [""] + [line.replace("## Score", "## Prediction score", 1) for line in score_card_lines(card)]
    out += ["", "## Issues discovered and improvement backlog", ""]
    out += backlog_lines(items)
    out += ["", "## Runbooks", ""]
    out += runbook_lines(e, data)
    return "\n".join(out) + "\n"


def hypothesis_lines(e: Experiment, analysis: Analysis, data: RunData) -> list[str]:
    validated = analysis.verdict.passed
    out = [
        f"**{'Validated' if validated else 'Not validated'}**: "
        + ("every success criterion held." if validated else "a success criterion failed."),
        "",
        f"> {(data.forecast.filled if data.forecast else '') or e.hypothesis.statement}",
    ]
    if not e.hypothesis.blanks:
        return out
    out += ["", "| blank | metric | predicted (90 % PI) | actual |", "|---|---|---|---|"]
    predicted = {b.name: b for b in data.forecast.blanks} if data.forecast else {}
    for blank in e.hypothesis.blanks:
        p = predicted.get(blank.name)
        shown = "-"
        if p is not None:
            est = p.estimate
            span = (
                ""
                if est.low is None or est.high is None
                else (f" ({format_value(est.low, blank.unit)} to {format_value(est.high, blank.unit)})")
            )
            shown = f"{p.text} {_unit(blank)}{span}"
        actual = observed_blank(blank, analysis.observation)
        where = f"{blank.metric} ({blank.phase or 'run'}" + (
            f" vs {blank.relative_to})" if blank.relative_to else ")"
        )
        out.append(
            f"| {blank.name} | {where} | {shown} | {format_value(actual, blank.unit)} {_unit(blank)} |"
        )
    return out


def observed_blank(blank: Blank, observation: Observation | None) -> float | None:
    """What the run showed for a hypothesis blank, in the blank's unit."""
    if observation is None:
        return None
    value = observation.metric(blank.metric, blank.phase)
    if value is None:
        return None
    if blank.relative_to is not None:
        base = observation.metric(blank.metric, blank.relative_to)
        if base is None:
            return None
        value -= base
    scaled = value * UNIT_SCALE[blank.unit]
    return scaled if math.isfinite(scaled) else None


def backlog_lines(items: list[Item]) -> list[str]:
    if not items:
        return ["Nothing to improve was found by the rules (analysis/backlog.py)."]
    out = ["| priority | issue | action |", "|---|---|---|"]
    out += [f"| {i.priority} | {i.issue} | {i.action} |" for i in items]
    highs = sum(1 for i in items if i.priority == Priority.HIGH)
    out += ["", f"{highs} high, {len(items) - highs} other item(s)."]
    return out


def runbook_lines(e: Experiment, data: RunData) -> list[str]:
    spec = data.info.get("experiment", {}).get("source", str(e.source))
    manifests = ", ".join(f"`{step.path}`" for step in e.chaos) or "none"
    out = [
        "### Run it",
        "",
        f"1. `chaoslab validate {spec}` and `sim predict {spec}` (the hypothesis, filled);",
        "2. `chaoslab testbed up` (the embedded testbed; it runs until `chaoslab testbed down`);",
        f"3. `chaoslab run {spec} --dry-run` shows what would be touched; then `chaoslab run {spec}`;",
        "4. `chaoslab score RUN_DIR` and `chaoslab report RUN_DIR` judge it again from the record.",
        "",
        "### Roll it back",
        "",
        f"The runner recovers every chaos object it applied ({manifests}) at the end of the chaos phase "
        "and on every exit path. By hand: `chaoslab cleanup` (from the crash marker), or "
        "`chaoslab cleanup --all` (every pod failure and proxy fault on the testbed); on a cluster, "
        "`kubectl delete` the chaos objects the run created.",
    ]
    if e.rollback.steps:
        out += ["", "The experiment's rollback plan:", ""]
        out += [f"{n}. {step}" for n, step in enumerate(e.rollback.steps, start=1)]
    out += [
        "",
        "### Emergency stop",
        "",
        "Ctrl-C (SIGINT) or SIGTERM to `chaoslab run`: it stops injecting, recovers every chaos object, "
        "stops the load and writes the record. If the runner itself died (SIGKILL), "
        "`chaoslab cleanup` recovers what its crash marker lists; `chaoslab testbed down` stops "
        "the whole testbed.",
    ]
    return out


def _unit(blank: Blank) -> str:
    return {"percent": "%", "fraction": "", "pods": "pods", "rps": "rps"}.get(blank.unit, blank.unit)
