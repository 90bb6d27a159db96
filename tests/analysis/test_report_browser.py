"""report.html in a real browser: headless Chromium renders it, the screenshot is not blank and the
figures are drawn (their colours are on the page)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

from analysis.plots import OBSERVED, PHASE_COLOURS
from analysis.report import HTML
from tests.analysis.runs import recorded_run

pytestmark = pytest.mark.e2e
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def screenshot(page: Path, out: Path, profile: Path, size: tuple[int, int] = (1200, 2600)) -> np.ndarray:
    chromium = shutil.which("chromium")
    assert chromium is not None, "Debian's chromium is needed (scripts/setup.sh installs it)"
    argv = [chromium, *FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}"]
    done = subprocess.run(
        [*argv, f"--screenshot={out}", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and out.is_file(), done.stderr[-2000:]
    pixels: np.ndarray = image.imread(str(out))[:, :, :3]
    return pixels


def pixels_of(pixels: np.ndarray, colour: str, tolerance: float = 0.04) -> int:
    """How many pixels have `colour` (#rrggbb)."""
    rgb = np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(pixels - rgb).max(axis=2) < tolerance).sum())


def test_the_report_renders_with_its_figures(tmp_path: Path) -> None:
    folder = recorded_run(tmp_path)
    pixels = screenshot(folder / HTML, tmp_path / "report.png", tmp_path / "chromium")
    assert pixels.shape[:2] == (2600, 1200)
    not_white = float((pixels.min(axis=2) < 0.95).mean())
    assert not_white > 0.05, "the page looks blank"
    # three figures, each a line of the observed colour across ~600 px and a shaded chaos phase
    assert pixels_of(pixels, OBSERVED) > 3 * 300, "the figures' observed lines are not on the page"
    assert pixels_of(pixels, PHASE_COLOURS["chaos"]) > 3 * 20_000, (
        "the figures' phase shading is not on the page"
    )
