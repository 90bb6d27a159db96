"""The request record: round trip, flushing, merging parts, tailing live parts, the run marker."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from load._records import (
    HEADER,
    Record,
    RecordFormatError,
    RecordTail,
    RecordWriter,
    part_name,
    read_records,
    read_run_marker,
    write_run_marker,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(t: float, outcome: str = "ok", **changes: object) -> Record:
    fields: dict[str, object] = {
        "time": t,
        "latency": 0.012345,
        "outcome": outcome,
        "status": 200,
        "error_kind": "",
        "degraded": False,
        "fallback": False,
        "feature_source": "store",
        "correct": True,
        "phase": "baseline",
    }
    fields.update(changes)
    return Record(**fields)  # type: ignore[arg-type]


VARIED = [
    record(1700000000.25),
    record(
        1700000000.5,
        "degraded",
        degraded=True,
        feature_source="cache",
        correct=False,
        phase="chaos",
        fallback_reason="breaker_open",
    ),
    record(1700000001.0, "degraded", fallback=True, feature_source="defaults", correct=None),
    record(1700000001.5, "error", status=503, error_kind="overload", feature_source="", correct=None),
    record(
        1700000002.0, "error", status=0, error_kind="timeout", latency=2.0, correct=None, phase="recovery"
    ),
]


def test_records_round_trip_through_a_part(tmp_path: Path) -> None:
    writer = RecordWriter(tmp_path / "requests-a-1.csv")
    for r in VARIED:
        writer.write(r)
    writer.close()
    assert read_records(tmp_path) == VARIED
    assert (tmp_path / "requests-a-1.csv").read_text().startswith(HEADER)


def test_parts_written_before_the_fallback_reason_column_still_read(tmp_path: Path) -> None:
    old_header = HEADER.removesuffix(",fallback_reason\n") + "\n"
    old_row = VARIED[1].to_line().removesuffix(",breaker_open\n") + "\n"
    (tmp_path / "requests-old-1.csv").write_text(old_header + old_row)
    (older,) = read_records(tmp_path)
    assert older == dataclasses.replace(VARIED[1], fallback_reason="")


def test_rows_reach_the_file_after_the_flush_interval_or_row_count(tmp_path: Path) -> None:
    clock = Clock()
    writer = RecordWriter(tmp_path / "requests-a-1.csv", flush_interval=1.0, flush_rows=3, clock=clock)
    writer.write(record(1.0))
    writer.write(record(2.0))
    assert read_records(tmp_path) == []  # buffered
    clock.now = 1.0
    writer.write(record(3.0))  # a second has passed: flushed with the two before
    assert len(read_records(tmp_path)) == 3
    for t in (4.0, 5.0, 6.0):
        writer.write(record(t))  # the third row fills the batch
    assert len(read_records(tmp_path)) == 6
    writer.write(record(7.0))
    writer.close()
    assert [r.time for r in read_records(tmp_path)] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert writer.written == 7


def test_parts_of_several_processes_merge_into_one_time_ordered_stream(tmp_path: Path) -> None:
    parts = {"requests-worker-a-10.csv": [1.0, 1.4, 3.0], "requests-worker-b-11.csv": [0.5, 1.2, 2.9, 4.0]}
    for name, times in parts.items():
        writer = RecordWriter(tmp_path / name)
        for t in times:
            writer.write(record(t))
        writer.close()
    (tmp_path / "run.json").write_text("{}")  # other files in the directory are not parts
    merged = read_records(tmp_path)
    assert [r.time for r in merged] == [0.5, 1.0, 1.2, 1.4, 2.9, 3.0, 4.0]


def test_a_part_reopened_by_the_same_process_keeps_one_header(tmp_path: Path) -> None:
    for t in (1.0, 2.0):
        writer = RecordWriter(tmp_path / "requests-a-1.csv")
        writer.write(record(t))
        writer.close()
    assert [r.time for r in read_records(tmp_path)] == [1.0, 2.0]


def test_the_tail_reads_only_whole_lines_and_each_record_once(tmp_path: Path) -> None:
    tail = RecordTail(tmp_path)
    assert tail.poll() == []
    part = tmp_path / "requests-a-1.csv"
    row = record(5.0).to_line()
    part.write_text(HEADER + row + row[:10])  # a writer is in the middle of a line
    assert [r.time for r in tail.poll()] == [5.0]
    assert tail.poll() == []
    with part.open("a") as f:
        f.write(row[10:])
    assert [r.time for r in tail.poll()] == [5.0]
    assert tail.poll() == []


def test_the_tail_holds_records_back_until_they_have_settled(tmp_path: Path) -> None:
    """Records of a slow request or of a part flushed late must not come after later ones."""
    a = RecordWriter(tmp_path / "requests-a-1.csv", flush_rows=1)
    b = RecordWriter(tmp_path / "requests-b-2.csv", flush_rows=1)
    tail = RecordTail(tmp_path, settle=3.0)
    a.write(record(10.0))
    a.write(record(12.0))
    assert [r.time for r in tail.poll(now=13.2)] == [10.0]
    b.write(record(10.5))  # part b flushes 2.7 s late (less than settle); it started before 12.0
    assert [r.time for r in tail.poll(now=13.4)] == []
    assert [r.time for r in tail.poll(now=15.0)] == [10.5, 12.0]
    a.write(record(16.0))
    assert [r.time for r in tail.poll()] == [16.0]  # no `now`: everything read so far


def test_a_foreign_file_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "requests-x-1.csv").write_text("a,b,c\n1,2,3\n")
    with pytest.raises(RecordFormatError, match=r"requests-x-1.csv: line 1: header must be"):
        read_records(tmp_path)


def test_a_bad_row_is_refused_naming_its_line(tmp_path: Path) -> None:
    good = record(1.0).to_line()
    bad = good.replace(",true,", ",maybe,")
    (tmp_path / "requests-x-1.csv").write_text(HEADER + good + bad)
    with pytest.raises(RecordFormatError, match=r"line 3: 'maybe' is not true/false/unknown"):
        read_records(tmp_path)
    (tmp_path / "requests-x-1.csv").write_text(HEADER + "1.0,0.1,ok\n")
    with pytest.raises(RecordFormatError, match=r"line 2: has 3 columns, expected 11"):
        read_records(tmp_path)


def test_part_names_are_per_host_and_process_and_safe_as_file_names() -> None:
    assert part_name("locust-worker-7d9f", 12) == "requests-locust-worker-7d9f-12.csv"
    assert part_name("a b/c", 3) == "requests-a_b_c-3.csv"
    assert part_name("h", 1) != part_name("h", 2)


def test_the_run_marker_tells_when_the_load_started_and_its_plan(tmp_path: Path) -> None:
    assert read_run_marker(tmp_path) is None
    write_run_marker(tmp_path, 1700000000.5, {"rps": 20.0})
    assert read_run_marker(tmp_path) == {"started": 1700000000.5, "plan": {"rps": 20.0}}


@pytest.mark.parametrize(("interval", "rows"), [(0.0, 10), (1.0, 0)])
def test_a_writer_needs_a_positive_flush_policy(tmp_path: Path, interval: float, rows: int) -> None:
    with pytest.raises(ValueError, match="flush_"):
        RecordWriter(tmp_path / "requests-a-1.csv", flush_interval=interval, flush_rows=rows)
