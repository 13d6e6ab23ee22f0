"""The main job as a user runs it, through the installed console script."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

# The console script that pip installed next to this interpreter (./dev puts it there).
CITIZENCARD = shutil.which("citizencard", path=str(Path(sys.executable).parent)) or "citizencard"


def _cents(text: str) -> int:
    return round(float(text) * 100)


def test_demo_runs_and_money_adds_up(tmp_path: Path) -> None:
    result = subprocess.run([CITIZENCARD, "demo", "--dir", str(tmp_path), "--cards", "4", "--taps", "60",
                             "--seed", "7"], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "issued 4 cards" in out
    assert re.search(r"card (\d{4}): torn_retry .*\n.*card \1: tapped again: ", out)
    assert "blocked" in out  # card 0001 was reported lost
    check = re.search(r"money check: issued ([\d.]+) EUR \+ topped up ([\d.]+) EUR - fares ([\d.]+) EUR "
                      r"= balances ([\d.]+) EUR", out)
    assert check is not None
    issued, topped, fares, balances = (_cents(g) for g in check.groups())
    assert issued + topped - fares == balances
    charged = sum(_cents(m) for m in re.findall(r" -([\d.]+) EUR ", out))
    assert charged == fares  # every fare printed was charged, and journaled, exactly once
    dumps = sorted(tmp_path.glob("card-*.mfd"))
    assert len(dumps) == 4
    for dump in dumps:
        verify = subprocess.run([CITIZENCARD, "card", "verify", str(dump), "--keys", str(tmp_path / "issuer.keys")],
                                capture_output=True, text=True, timeout=60, check=False)
        assert verify.returncode == 0, verify.stdout
        assert verify.stdout.startswith("genuine:")


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run([CITIZENCARD, "card", "show", str(tmp_path / "missing.mfd")], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "missing.mfd" in result.stderr
