"""The phased load shape: the rate and users of each phase, the phase boundaries, the settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos import durations
from chaos.system import load_system_profile
from load._plan import (
    DEFAULT_ARRIVAL,
    DEFAULT_RPS,
    DEFAULT_TIMEOUT,
    DEFAULT_USERS,
    MAX_SPAWN_RATE,
    LoadPlan,
    Phase,
    PlanError,
    Settings,
    parse_duration,
    parse_phases,
    resolve_plan,
)


def three_phases(chaos_rps: float | None = None) -> LoadPlan:
    return LoadPlan(
        (Phase("baseline", 60.0), Phase("chaos", 120.0, chaos_rps), Phase("recovery", 60.0)),
        rps=200.0,
        users=40,
    )


def test_users_are_paced_so_that_together_they_make_the_rate() -> None:
    plan = three_phases()
    assert plan.period == pytest.approx(0.2)
    assert plan.users / plan.period == pytest.approx(plan.rps)


def test_users_start_within_one_period_unless_that_is_faster_than_locust_spawns_well() -> None:
    slow = LoadPlan((Phase("a", 1.0),), rps=20.0, users=4)
    assert slow.users / slow.spawn_rate == pytest.approx(slow.period)
    assert three_phases().spawn_rate == MAX_SPAWN_RATE < three_phases().rps


def test_each_phase_runs_at_its_rate_until_its_end() -> None:
    plan = three_phases(chaos_rps=100.0)
    expected = [
        (0.0, "baseline", 40, 200.0),
        (59.999, "baseline", 40, 200.0),
        (60.0, "chaos", 20, 100.0),
        (179.999, "chaos", 20, 100.0),
        (180.0, "recovery", 40, 200.0),
        (239.999, "recovery", 40, 200.0),
    ]
    for t, phase, users, rps in expected:
        target = plan.target_at(t)
        assert target is not None, t
        assert (target.phase, target.users, target.rps) == (phase, users, rps), t
    assert plan.target_at(240.0) is None
    assert plan.total == 240.0


def test_a_phase_rate_changes_the_users_not_the_pacing_period() -> None:
    plan = LoadPlan((Phase("a", 1.0), Phase("b", 1.0, 30.0), Phase("c", 1.0, 0.0)), rps=20.0, users=4)
    assert [plan.users_of(p) for p in plan.phases] == [4, 6, 0]
    assert plan.users_of(Phase("tiny", 1.0, 0.1)) == 1  # a positive rate keeps at least one user


def test_phase_bounds_and_labels_clamp_outside_the_run() -> None:
    plan = three_phases()
    assert plan.bounds() == [("baseline", 0.0, 60.0), ("chaos", 60.0, 180.0), ("recovery", 180.0, 240.0)]
    assert plan.phase_at(-0.001) is None
    assert plan.label_at(-1.0) == "baseline"
    assert plan.label_at(60.0) == "chaos"
    assert plan.label_at(1000.0) == "recovery"


def test_phases_from_text_with_optional_rates() -> None:
    assert parse_phases("baseline=1m, chaos=1m30s@50 ,recovery=500ms") == (
        Phase("baseline", 60.0),
        Phase("chaos", 90.0, 50.0),
        Phase("recovery", 0.5),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("baseline", "must look like name=duration"),
        ("=10s", "must look like name=duration"),
        ("baseline=10", "is not a duration"),
        ("baseline=ten seconds", "is not a duration"),
        ("baseline=10s@fast", "must be a number"),
        ("baseline=0s", "must last longer than 0"),
        ("Baseline=10s", "lower-case"),
        ("a=1s,a=2s", "unique"),
        ("a=1s@-5", "rate must be >= 0"),
    ],
)
def test_bad_phases_name_the_variable_and_the_value(text: str, message: str) -> None:
    with pytest.raises(PlanError, match=message) as caught:
        LoadPlan(parse_phases(text))
    assert str(caught.value).startswith("CHAOSLAB_PHASES=")


@pytest.mark.parametrize(
    ("plan_args", "setting"),
    [
        ({"rps": 0.0}, "CHAOSLAB_RPS"),
        ({"users": 0}, "CHAOSLAB_USERS"),
        ({"arrival": "burst"}, "CHAOSLAB_ARRIVAL"),
        ({"timeout": 0.0}, "CHAOSLAB_TIMEOUT"),
    ],
)
def test_bad_load_values_name_their_variable(plan_args: dict[str, object], setting: str) -> None:
    with pytest.raises(PlanError) as caught:
        LoadPlan((Phase("a", 1.0),), **plan_args)  # type: ignore[arg-type]
    assert caught.value.setting == setting


def test_environment_variables_alone_make_a_plan() -> None:
    env = {
        "CHAOSLAB_PHASES": "baseline=2s,chaos=3s,recovery=4s",
        "CHAOSLAB_RPS": "50",
        "CHAOSLAB_USERS": "5",
        "CHAOSLAB_ARRIVAL": "poisson",
        "CHAOSLAB_TIMEOUT": "750ms",
        "UNRELATED": "x",
    }
    plan = resolve_plan(Settings.from_env(env))
    assert plan == LoadPlan(
        (Phase("baseline", 2.0), Phase("chaos", 3.0), Phase("recovery", 4.0)),
        rps=50.0,
        users=5,
        arrival="poisson",
        timeout=0.75,
    )


def test_without_settings_the_plan_is_the_system_profiles_default_load(repo_root: Path) -> None:
    plan = resolve_plan(Settings.from_env({}))
    profile = load_system_profile(repo_root / "experiments" / "system.yaml")
    load = profile.load
    assert (plan.rps, plan.users, plan.arrival) == (load.rps, load.users, load.arrival)
    assert (plan.rps, plan.users, plan.arrival) == (DEFAULT_RPS, DEFAULT_USERS, DEFAULT_ARRIVAL)
    assert plan.timeout == DEFAULT_TIMEOUT == profile.client.timeout
    assert [p.name for p in plan.phases] == ["baseline", "chaos", "recovery"]


def test_a_spec_gives_phases_and_load_and_variables_override_it(experiments_dir: Path) -> None:
    spec = str(experiments_dir / "network-latency.experiment.yaml")
    plan = resolve_plan(Settings(spec=spec))
    assert plan.bounds() == [("baseline", 0.0, 120.0), ("chaos", 120.0, 420.0), ("recovery", 420.0, 600.0)]
    assert (plan.rps, plan.users, plan.arrival, plan.timeout) == (200.0, 40, "closed", 2.0)
    overridden = resolve_plan(Settings(spec=spec, rps="20", users="4", phases="baseline=5s"))
    assert (overridden.rps, overridden.users, [p.name for p in overridden.phases]) == (20.0, 4, ["baseline"])


def test_an_invalid_spec_is_a_plan_error_naming_the_spec(tmp_path: Path) -> None:
    bad = tmp_path / "bad.experiment.yaml"
    bad.write_text("apiVersion: chaoslab.dev/v1alpha1\nkind: Experiment\n", encoding="utf-8")
    with pytest.raises(PlanError) as caught:
        resolve_plan(Settings(spec=str(bad)))
    assert caught.value.setting == "CHAOSLAB_SPEC"
    assert "metadata" in caught.value.message


def test_the_plan_survives_a_trip_through_environment_variables() -> None:
    plan = LoadPlan((Phase("warm", 1.5), Phase("hot", 61.25, 33.5)), rps=12.5, users=3, arrival="poisson")
    assert resolve_plan(Settings.from_env(plan.to_env())) == plan


@pytest.mark.parametrize("text", ["0", "1s", "500ms", "1m30s", "1.5h", "250us", "2h0m3s", ".5s", "10ns"])
def test_durations_read_as_the_shared_go_duration_parser_reads_them(text: str) -> None:
    assert parse_duration(text, "X") == pytest.approx(durations.parse_duration(text))


@pytest.mark.parametrize("text", ["", "5", "s", "1s2", "-1s", "1 s", "1d"])
def test_non_durations_are_rejected(text: str) -> None:
    with pytest.raises(PlanError, match="is not a duration"):
        parse_duration(text, "CHAOSLAB_TIMEOUT")
