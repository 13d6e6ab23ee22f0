"""The tap benchmark runs and reports its figures (timings are read by people, not asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_tap_benchmark_reports_every_figure() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "tap.py"), "--taps", "30"], capture_output=True,
                            text=True, timeout=120, check=False, cwd=ROOT)
    assert result.returncode in (0, 1), result.stderr
    out = result.stdout
    assert re.search(r"baseline: bare card operations .* median +[\d.]+ ms +p99 +[\d.]+ ms", out)
    assert re.search(r"tap: engine with journal .* median +[\d.]+ ms +p99 +[\d.]+ ms +x[\d.]+ baseline", out)
    assert "card commands per tap: 24" in out
    assert re.search(r"modelled tap-to-decision on a PN532 .* = [\d.]+ ms of the 300 ms budget", out)
