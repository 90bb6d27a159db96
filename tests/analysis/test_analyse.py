"""A recorded run judged again from its directory alone: the same files as the run wrote."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from analysis.analyse import analyse, reanalyse
from analysis.record import RunData, RunRecordReadError
from chaos.record import OBSERVED, RUN, SUMMARY, VERDICT, RunStatus
from tests.analysis.runs import recorded_run

ANALYSIS_FILES = (OBSERVED, VERDICT, SUMMARY)


def test_reanalysing_a_recorded_run_rewrites_exactly_what_the_run_wrote(tmp_path: Path) -> None:
    folder = recorded_run(tmp_path)
    written = {name: (folder / name).read_text() for name in ANALYSIS_FILES}
    for name in ANALYSIS_FILES:
        (folder / name).unlink()
    shutil.rmtree(tmp_path / "spec")  # the original spec is gone: the record's copy is what counts
    analysis = reanalyse(folder)
    assert analysis.verdict.passed
    assert {name: (folder / name).read_text() for name in ANALYSIS_FILES} == written


def test_a_record_read_back_holds_the_run_as_it_ran(tmp_path: Path) -> None:
    folder = recorded_run(tmp_path)
    data = RunData.load(folder)
    info = json.loads((folder / RUN).read_text())
    assert data.status == RunStatus.PASSED and data.origin == info["origin"]
    assert len(data.records) == 300  # 10 requests per second for 30 s
    assert data.fault_start == info["chaos"][0]["injectedAt"]
    assert data.forecast is not None and data.forecast.criterion("available") is not None
    assert data.signals is not None and data.signals.errors == {}
    assert analyse(data).observation is not None


def test_a_folder_that_is_not_a_run_record_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RunRecordReadError, match=r"run\.json: missing"):
        RunData.load(tmp_path)
    (tmp_path / RUN).write_text("[1, 2]")
    with pytest.raises(RunRecordReadError, match="expected a JSON object"):
        RunData.load(tmp_path)
