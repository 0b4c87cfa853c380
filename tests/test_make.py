"""The README's two commands: `make test` does its own set-up (Chromium for the inspector's
browser test, no torch) and the torch check sits behind `make test-export` (issue 18)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
ENSURE = ROOT / "scripts" / "ensure_chromium.sh"


def dry_run(target: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("no make")
    out = subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_make_test_sets_up_chromium_and_installs_no_torch() -> None:
    steps = dry_run("test")
    assert "scripts/ensure_chromium.sh" in steps
    assert "export" not in steps and "torch" not in steps
    assert "pytest" in steps
    assert "export" in dry_run("test-export")
    assert (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().endswith("make test")


def run_ensure(tmp_path: Path, chromium: Path, tools: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    """ensure_chromium.sh with only ``tools`` on PATH (no apt-get unless given)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in tools:
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    env = {**os.environ, "PATH": str(bin_dir), "CHROMIUM": str(chromium)}
    return subprocess.run(["/bin/sh", str(ENSURE)], capture_output=True, text=True,
                          env=env, timeout=60)


def test_present_chromium_is_left_alone(tmp_path: Path) -> None:
    browser = tmp_path / "chromium"
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    done = run_ensure(tmp_path, browser, ("id",))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_missing_chromium_without_apt_stops_with_one_clear_line(tmp_path: Path) -> None:
    done = run_ensure(tmp_path, tmp_path / "no-chromium", ("id",))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert "needs Chromium" in done.stderr and "apt-get install chromium" in done.stderr
