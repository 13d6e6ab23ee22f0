"""The reader benchmark runs and reports every figure (timings are read by
people, not asserted). The pcsc row needs the machine's one pcscd, which the
test session already owns, so it is left to `./dev bench readers`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readers_benchmark_reports_each_backend() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "readers.py"), "--ops", "20", "--taps", "3",
                             "--backend", "sim", "--backend", "pn532", "--backend", "nfcpy"],
                            capture_output=True, text=True, timeout=180, check=False, cwd=ROOT)
    assert result.returncode in (0, 1), result.stderr
    rows = re.findall(r"^(sim|pn532|nfcpy) +([\d.]+) us +([\d.]+) us +(-?[\d.]+) us +([\d.]+)x +([\d.]+) ms$",
                      result.stdout, re.MULTILINE)
    assert [row[0] for row in rows] == ["sim", "pn532", "nfcpy"], result.stdout
    assert all(float(row[1]) > 0 and float(row[5]) > 0 for row in rows)
    assert "aim (host overhead < 500 us per command on every backend)" in result.stdout
