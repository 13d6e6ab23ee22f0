"""The ingest benchmark runs end to end and reports every figure (timings are
read by people, not asserted here: a shared CI machine is too noisy)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ingest_benchmark_reports_every_figure(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "ingest.py"), "--devices", "2", "--entries", "300",
                             "--batch", "50", "--dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=180, check=False, cwd=ROOT)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    figures = ("raw pipe, a message per transaction", "raw pipe, batch messages", "end to end, acked in the journal")
    for figure in figures:
        assert re.search(rf"^{re.escape(figure)} +[\d,]+ tx/s", result.stdout, re.MULTILINE), result.stdout
    assert "server holds 600)" in result.stdout
    assert re.search(r"aim \(>= 20,000 tx/s and >= 0\.5 x the raw pipe\): [\d,]+ tx/s, x\d+\.\d+ -> (met|MISSED)",
                     result.stdout)
    assert list(tmp_path.iterdir()) == []  # its broker, server and journals are cleaned up
