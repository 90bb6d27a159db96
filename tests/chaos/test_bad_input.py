"""Bad input never ends in a traceback: mutated seed files load, or fail with one clean line naming a file.

The seed files in experiments/ (the four specs, the system profile and the four Chaos Mesh
manifests) are mutated: a key dropped, an unknown key added, a value replaced by one of another type
or an odd one (NaN, infinity, huge, negative, a 5000-character path), a value replaced by raw YAML
(an alias bomb, deep nesting, a date that does not exist), or the whole file replaced by random
bytes, nothing, non-UTF-8 text or a truncated copy. Whatever comes out, the loaders and validation
either succeed or raise ChaosLabError whose one line names a file of the experiment, and
`chaoslab validate` and `sim predict` answer with one line per problem and exit status 1. The
`@example`s are the concrete cases behind the issue, each noted with what it gave before the loaders
handled it.
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from chaos.documents import MAX_BYTES
from chaos.errors import ChaosLabError
from chaos.manifest import load_manifest
from chaos.spec import load_experiment
from chaos.system import load_system_profile
from chaos.validation import validate_file, validate_paths
from cli.main import app as chaoslab_app
from cli.sim import app as sim_app
from sim.from_spec import scenario_from_experiment

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
runner = CliRunner()

# Fixed runs for CI: the same examples every time, nothing remembered between runs, no time limit
# per example (the command-line examples run a one-replication simulation).
REPRODUCIBLE = {"derandomize": True, "database": None, "deadline": None}


# -- the seed, shortened -------------------------------------------------------------------------
def _shortened() -> dict[str, Any]:
    """Every seed document, with phases of 2 s / 4 s / 2 s and faults that fit them, so that a valid
    mutation simulates in a fraction of a second."""
    docs: dict[str, Any] = {}
    for path in sorted(EXPERIMENTS.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        if doc["kind"] in ("GameDay", "Workflow"):  # tests/chaos/test_gameday.py covers these
            continue
        if doc["kind"] == "Experiment":
            doc["spec"]["phases"] = {"baseline": "2s", "chaos": "4s", "recovery": "2s"}
            for step in doc["spec"]["chaos"]:  # a rollout's Deployment file lives in k8s/, read in place
                if "rollout" in step:
                    step["rollout"] = str((path.parent / step["rollout"]).resolve())
        elif "duration" in doc["spec"]:
            doc["spec"]["duration"] = "4s"
        docs[path.name] = doc
    return docs


SEED = _shortened()
SPECS = sorted(name for name, doc in SEED.items() if doc["kind"] == "Experiment")


def _spec_reading(name: str) -> str:
    """A spec that reads file `name` (itself, for a spec)."""
    for spec in SPECS:
        chaos = SEED[spec]["spec"]["chaos"]
        files = (step["manifest"] for step in chaos if "manifest" in step)
        if name == spec or name in ("system.yaml", *files):
            return spec
    raise AssertionError(f"no seed spec reads {name}")


def _dump(doc: Any) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False).encode("utf-8")


SEED_FILES = {name: _dump(doc) for name, doc in SEED.items()}


@dataclass(frozen=True)
class Mutation:
    """File `name` of the seed replaced by `data` (None: by a folder)."""

    name: str
    data: bytes | None
    label: str

    def write(self, folder: Path) -> Path:
        for name, data in SEED_FILES.items():
            (folder / name).write_bytes(data)
        target = folder / self.name
        if self.data is None:
            target.unlink()
            target.mkdir()
        else:
            target.write_bytes(self.data)
        return folder


# -- building mutations ----------------------------------------------------------------------------
KeyPath = tuple[str | int, ...]
_RAW = "RAW-YAML-GOES-HERE"


def _paths(node: Any, prefix: KeyPath = ()) -> Iterator[KeyPath]:
    """The path of every value under `node` (not `node` itself)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield (*prefix, key)
        yield from _paths(value, (*prefix, key))


def _mappings(doc: Any) -> list[KeyPath]:
    """The path of every mapping in `doc`, itself included."""
    return [path for path in [(), *_paths(doc)] if isinstance(_at(doc, path), dict)]


def _at(doc: Any, path: KeyPath) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _set(doc: Any, path: KeyPath, value: Any) -> Any:
    doc = copy.deepcopy(doc)
    _at(doc, path[:-1])[path[-1]] = value
    return doc


def edited(name: str, path: KeyPath, value: Any) -> Mutation:
    return Mutation(name, _dump(_set(SEED[name], path, value)), f"{name}: {path} = {value!r:.60}")


def raw(name: str, path: KeyPath, text: str) -> Mutation:
    """The value at `path` written as the YAML text `text` (which yaml.safe_dump could not write)."""
    data = _dump(_set(SEED[name], path, _RAW)).replace(_RAW.encode(), text.encode("utf-8"))
    return Mutation(name, data, f"{name}: {path} = raw {text!r:.60}")


def _bomb(levels: int = 9) -> str:
    """A one-line "billion laughs": 9 ** `levels` strings written out, from a few hundred bytes."""
    parts = ["&a0 [" + ", ".join(["lol"] * 9) + "]"]
    parts += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "[" + ", ".join(parts) + "]"


ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, -1, 2**63, 10**30, -(10**400), 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "-5s", "0", "1ns", "99999999999999999999h", "\uff12\uff10s", "9_9%", "150%"]),
    st.sampled_from(["x\0y", "a\nb", "/", "."]),
    st.sampled_from(["a" * 300, "b/" * 2500 + "x.yaml", "/dev/zero", "system.yaml", "pod-failure.yaml"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
)
RAW_VALUES = st.sampled_from(
    [
        "9" * 5000,  # more digits than Python turns into an int
        "2001-02-30",  # read as a date that does not exist
        "!!int ''",
        "!!bool maybe",
        "!!timestamp soon",
        "!!float abc",
        "0x_",
        "*nowhere",
        "&self [*self]",
        "[" * 200 + "]" * 200,
        _bomb(),
        "'bell \a'",
        ".nan",
        "-.inf",
        "~",
    ]
)
UNKNOWN_KEYS = st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.sampled_from(["a\nb", "x\0"]))


@st.composite
def mutations(draw: st.DrawFn) -> Mutation:
    name = draw(st.sampled_from(sorted(SEED)))
    doc = SEED[name]
    original = SEED_FILES[name]
    kind = draw(st.sampled_from(["drop", "unknown", "replace", "raw", "bytes", "truncate", "non-utf8"]))
    if kind == "drop":
        path = draw(st.sampled_from([p for p in _paths(doc) if isinstance(p[-1], str)]))
        dropped = copy.deepcopy(doc)
        del _at(dropped, path[:-1])[path[-1]]
        return Mutation(name, _dump(dropped), f"{name}: drop {path}")
    if kind == "unknown":
        where = draw(st.sampled_from(_mappings(doc)))
        key, value = draw(UNKNOWN_KEYS), draw(ODD_VALUES)
        added = copy.deepcopy(doc)
        _at(added, where)[key] = value
        return Mutation(name, _dump(added), f"{name}: add {where} {key!r} = {value!r:.60}")
    if kind == "replace":
        return edited(name, draw(st.sampled_from(list(_paths(doc)))), draw(ODD_VALUES))
    if kind == "raw":
        return raw(name, draw(st.sampled_from(list(_paths(doc)))), draw(RAW_VALUES))
    if kind == "bytes":
        data = draw(st.one_of(st.binary(max_size=300), st.just(b""), st.text(max_size=100).map(str.encode)))
        return Mutation(name, data, f"{name}: bytes {data!r:.60}")
    if kind == "truncate":
        at = draw(st.integers(0, len(original)))
        return Mutation(name, original[:at], f"{name}: truncated at byte {at}")
    at, byte = draw(st.integers(0, len(original))), draw(st.integers(0x80, 0xFF))
    return Mutation(name, original[:at] + bytes([byte]) + original[at:], f"{name}: byte {byte:#x} at {at}")


NETWORK = "network-latency.experiment.yaml"
MANIFEST_REF = ("spec", "chaos", 0, "manifest")
_PCT = ("spec", "scope", "blastRadius", "maxPercent")
_MEAN = ("spec", "service", "serviceTime", "mean")
_PERIOD = ("spec", "readinessProbe", "period")
_LATIN1 = "# Caf\u00e9\n".encode("latin-1") + SEED_FILES[NETWORK]
KNOWN_CASES = [  # what each gave before the loaders handled it
    Mutation(NETWORK, _LATIN1, "latin-1 spec"),  # UnicodeDecodeError
    Mutation("system.yaml", b"\x80\x81\x82", "non-UTF-8 system profile"),  # UnicodeDecodeError
    Mutation("network-latency.yaml", bytes(range(256)), "binary manifest"),  # UnicodeDecodeError
    Mutation(NETWORK, SEED_FILES[NETWORK].decode().encode("utf-16"), "UTF-16 spec"),  # UnicodeDecodeError
    edited(NETWORK, MANIFEST_REF, "a" * 300 + ".yaml"),  # OSError ENAMETOOLONG (a name over NAME_MAX)
    edited(NETWORK, ("spec", "system"), ("b" * 100 + "/") * 50 + "system.yaml"),  # OSError (over PATH_MAX)
    edited(NETWORK, MANIFEST_REF, "network\0latency.yaml"),  # a raw NUL byte printed in the message
    raw(NETWORK, ("spec", "phases"), "[" * 5000 + "]" * 5000),  # RecursionError
    raw(NETWORK, ("spec", "rollback", "steps"), _bomb()),  # hang: the message wrote out 9**9 strings
    raw(NETWORK, ("metadata", "title"), "'bell \a'"),  # a YAML error message of two lines
    raw("system.yaml", ("spec", "service", "replicas"), "9" * 5000),  # ValueError (int digits limit)
    raw(NETWORK, _PCT, "2001-02-30"),  # ValueError: day is out of range for month
    raw(NETWORK, _PCT, "!!int ''"),  # IndexError
    raw(NETWORK, _PCT, "!!bool maybe"),  # KeyError
    raw(NETWORK, _PCT, "!!timestamp soon"),  # AttributeError
    edited(NETWORK, ("spec", "successCriteria", 1, "below"), 10**400),  # OverflowError
    edited("system.yaml", _MEAN, "9" * 400 + "h"),  # ValueError: mean=inf must be >= 0
    edited("system.yaml", _MEAN, "-30ms"),  # ValueError: mean=-0.03 must be >= 0
    edited("system.yaml", ("spec", "featureStore", "latency", "cv"), -1),  # ValueError: cv=-1.0
    edited("system.yaml", ("spec", "load", "users"), 10**30),  # valid; then MemoryError in `sim predict`
    edited("system.yaml", _PERIOD, "1ns"),  # valid; then `sim predict` played 8e9 checks per pod (a hang)
    edited("system.yaml", _PERIOD, 0),  # valid; then ValueError in `sim predict`
    edited("system.yaml", ("spec", "load", "rps"), float("nan")),  # valid; then no file named by predict
    edited("system.yaml", ("spec", "load", "rps"), float("inf")),  # the same
    edited(NETWORK, ("spec", "phases", "chaos"), None),  # the same
    edited(NETWORK, ("spec", "phases", "chaos"), "99999999999999999999h"),  # the same
    edited("pod-failure.yaml", ("spec", "value"), "\u00b2"),  # ValueError from int()
    edited("pod-failure.yaml", ("spec", "value"), "9" * 5000),  # ValueError (int digits limit)
    edited("pod-kill-50.yaml", ("spec", "gracePeriod"), 10**400),  # valid (a run would fail on it)
    Mutation(NETWORK, SEED_FILES[NETWORK] + b"---\n" + SEED_FILES[NETWORK], "two specs"),  # validate: valid
    Mutation("network-latency.yaml", None, "a folder where the manifest should be"),  # clean already
    Mutation(NETWORK, b"", "empty spec"),  # clean already
]


def _examples(cases: list[Mutation]) -> Callable[[Any], Any]:
    def decorate(test: Any) -> Any:
        for case in reversed(cases):
            test = example(mutation=case)(test)
        return test

    return decorate


# -- what must hold --------------------------------------------------------------------------------
def _assert_clean(line: str, folder: Path) -> None:
    assert line.isprintable(), line  # one line, nothing that would garble a terminal
    assert str(folder) in line, line  # names a file of the experiment


def _load(loader: Callable[[Path], Any], path: Path, folder: Path) -> Any:
    """What `loader` makes of `path`, or None when it raised a clean ChaosLabError."""
    try:
        return loader(path)
    except ChaosLabError as exc:
        _assert_clean(exc.one_line(), folder)
        return None


_LOADERS: dict[str, Callable[[Path], Any]] = {
    "Experiment": load_experiment,
    "SystemProfile": load_system_profile,
    "PodChaos": load_manifest,
    "NetworkChaos": load_manifest,
}


def _check_library(mutation: Mutation, folder: Path) -> None:
    target, spec = folder / mutation.name, folder / _spec_reading(mutation.name)
    problems = validate_file(target)
    for problem in problems:
        _assert_clean(str(problem), folder)
    loaded = _load(_LOADERS[SEED[mutation.name]["kind"]], target, folder)
    if SEED[mutation.name]["kind"] in ("Experiment", "SystemProfile"):
        # `chaoslab validate` passes exactly what the commands can load
        assert (problems == []) == (loaded is not None), (problems, loaded)
    experiment = loaded if target == spec else _load(load_experiment, spec, folder)
    if experiment is not None:
        _load(lambda _: scenario_from_experiment(experiment), spec, folder)


@settings(max_examples=100, **REPRODUCIBLE)
@given(mutation=mutations())
@_examples(KNOWN_CASES)
def test_loaders_and_validation_fail_in_one_line_naming_the_file(mutation: Mutation) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _check_library(mutation, mutation.write(Path(tmp)))


_SUMMARY = re.compile(r"\d+ problem\(s\) in \d+ file\(s\)")


def _check_commands(mutation: Mutation, folder: Path) -> None:
    target, spec = folder / mutation.name, folder / _spec_reading(mutation.name)
    result = runner.invoke(chaoslab_app, ["validate", str(target)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    if result.exit_code:
        assert result.exit_code == 1
        assert _SUMMARY.fullmatch(lines[-1]), result.output
        for line in lines[:-1]:  # one line per problem
            assert line.startswith("InvalidSpecError: "), result.output
            _assert_clean(line, folder)
    else:
        assert lines == ["1 file(s) valid"]
    result = runner.invoke(sim_app, ["predict", str(spec), "-r", "1", "--jobs", "1", "-f", "json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    if result.exit_code:
        assert result.exit_code == 1
        [line] = result.output.splitlines()
        assert re.match(r"\w+Error: ", line), line
        _assert_clean(line, folder)
    else:
        assert json.loads(result.output)["schemaVersion"] == 1


COMMAND_EXAMPLES = [
    Mutation(NETWORK, _LATIN1, "latin-1 spec"),
    Mutation("system.yaml", b"\x80\x81\x82", "non-UTF-8 system profile"),
    edited(NETWORK, MANIFEST_REF, "a" * 300 + ".yaml"),
    edited(NETWORK, ("spec", "system"), ("b" * 100 + "/") * 50 + "system.yaml"),
    raw(NETWORK, ("spec", "rollback", "steps"), _bomb()),
    raw("system.yaml", ("spec", "service", "replicas"), "9" * 5000),
    edited("system.yaml", ("spec", "load", "users"), 10**30),
    edited("system.yaml", _PERIOD, "1ns"),
    edited("system.yaml", _PERIOD, 0),
    edited(NETWORK, ("spec", "phases", "chaos"), None),
]


@settings(max_examples=15, **REPRODUCIBLE)
@given(mutation=mutations())
@_examples(COMMAND_EXAMPLES)
def test_the_commands_answer_bad_input_in_one_line(mutation: Mutation) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _check_commands(mutation, mutation.write(Path(tmp)))


# -- the shortened seed itself, and what no mutation of a file's content reaches ------------------
def test_the_shortened_seed_is_valid(tmp_path: Path) -> None:
    Mutation(NETWORK, SEED_FILES[NETWORK], "unchanged").write(tmp_path)
    assert validate_paths([tmp_path])[1] == []


def test_a_command_line_path_too_long_for_the_system_is_one_line(tmp_path: Path) -> None:
    for path in (tmp_path / ("a" * 300), tmp_path / (("b" * 200 + "/") * 25 + "x.yaml")):
        result = runner.invoke(chaoslab_app, ["validate", str(path)])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), repr(result.exception)
        assert "cannot be read: File name too long" in result.output
        result = runner.invoke(sim_app, ["predict", str(path)])
        assert result.exit_code == 1 and len(result.output.splitlines()) == 1
        assert "cannot be read: File name too long" in result.output


def test_files_that_are_not_regular_files_are_refused_without_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    problems = validate_paths([fifo, Path("/dev/zero")])[1]  # reading /dev/zero never ends
    assert [p.message for p in problems] == ["is not a regular file"] * 2


def test_a_file_larger_than_the_limit_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * MAX_BYTES + b"\nkind: PodChaos\n")
    [problem] = validate_file(big)
    assert problem.message.startswith("is larger than 1 MiB")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "spec.phases.chaos: is required"),
        (float("nan"), "must be a duration"),
        ("2562048h", "must be at most 2562047h"),
    ],
)
def test_phase_durations_that_no_simulation_can_play_are_refused(
    value: object, expected: str, tmp_path: Path
) -> None:
    edited(NETWORK, ("spec", "phases", "chaos"), value).write(tmp_path)
    [problem] = validate_file(tmp_path / NETWORK)
    assert expected in str(problem)
