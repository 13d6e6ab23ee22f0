"""The benchmark script runs and reports its figures (its timings are read by
people, not asserted here; command counts are exact and are)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_card_ops_benchmark_reports_every_figure() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "card_ops.py"), "--ops", "30"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode in (0, 1), result.stderr
    out = result.stdout
    assert re.search(r"baseline: bare sim command .* median +\d+\.\d+ us", out)
    counts = {m[0].strip(): int(m[1]) for m in re.findall(r"^(.+?)\s+(\d+) commands +median", out, re.MULTILINE)}
    assert counts == {"issue": 111, "verify": 13, "debit + trip state": 7, "credit": 8,
                      "bus tap: verify + debit + event": 24}
    assert re.search(r"x +\d+ baseline", out)
