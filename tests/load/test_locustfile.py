"""`locust -f load/` as Locust sees it: one user class, one shape, helpers not taken as locustfiles.

Locust is imported in a child process only: importing it patches the standard library (gevent).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

LOAD_DIR = Path(__file__).resolve().parents[2] / "load"

PROBE = """
import json, sys
from argparse import Namespace
from locust.argument_parser import parse_locustfile_paths
from locust.env import Environment
from locust.main import merge_locustfiles_content

paths = parse_locustfile_paths([sys.argv[1]])
users, shapes, _, shape = merge_locustfiles_content(paths)
options = Namespace(chaoslab_phases="baseline=2s,chaos=3s@40,recovery=1s", chaoslab_rps="20",
                    chaoslab_users="4", chaoslab_arrival="", chaoslab_timeout="", chaoslab_spec="")
env = Environment(user_classes=list(users.values()), shape_class=shape, parsed_options=options)
env.create_local_runner()
ticks = []
for t in (0.0, 1.99, 2.0, 4.99, 5.0, 5.99, 6.0):
    shape.get_run_time = lambda t=t: t  # the run time the shape sees, whatever the machine's speed
    ticks.append(shape.tick())
import load
print(json.dumps({"files": sorted(p.rsplit("/", 1)[-1] for p in paths), "users": sorted(users),
                  "shapes": sorted(shapes), "ticks": ticks, "module": load.__file__}))
"""


WITHOUT_CHAOSLAB = """
import sys
for name in ("chaos", "sim", "service", "testbed", "analysis", "runner", "cli"):
    sys.modules[name] = None  # as in the Locust image: only Locust, scikit-learn and load/
"""


def probe(
    load_dir: Path = LOAD_DIR, prelude: str = "", env: dict[str, str] | None = None
) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", prelude + PROBE, str(load_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).parent,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_locust_finds_one_user_class_and_one_shape_and_the_shape_follows_the_phases() -> None:
    found = probe()
    helpers = sorted(p.name for p in LOAD_DIR.glob("_*.py"))
    assert helpers, "helpers start with an underscore"
    assert found["files"] == sorted(p.name for p in LOAD_DIR.glob("[!_]*.py"))
    assert not set(helpers) & set(found["files"])  # type: ignore[arg-type]
    assert found["users"] == ["PredictionUser"]
    assert found["shapes"] == ["PhasedShape"]
    # (users, spawn rate) per tick; the chaos phase's 40 rps at the 0.2 s period needs 8 users
    assert found["ticks"] == [[4, 20.0], [4, 20.0], [8, 20.0], [8, 20.0], [4, 20.0], [4, 20.0], None]


def test_the_image_layout_runs_without_chaoslab(tmp_path: Path) -> None:
    """What load/Dockerfile builds: load/*.py in /home/locust/load, PYTHONPATH=/home/locust."""
    home = tmp_path / "home"
    (home / "load").mkdir(parents=True)
    for source in LOAD_DIR.glob("*.py"):
        shutil.copy(source, home / "load" / source.name)
    env = {**os.environ, "PYTHONPATH": str(home)}
    found = probe(home / "load", WITHOUT_CHAOSLAB, env)
    assert found["users"] == ["PredictionUser"] and found["shapes"] == ["PhasedShape"]
    assert found["module"] == str(home / "load" / "__init__.py")
