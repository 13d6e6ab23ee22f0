"""The journal benchmark runs and reports every figure (timings are read by
people, not asserted here: a shared CI disk is too noisy)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_journal_benchmark_reports_every_figure(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "journal.py"), "--ops", "30", "--dir",
                             str(tmp_path)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode in (0, 1), result.stderr
    figures = re.findall(r"^(.+?)\s+median +\d+\.\d+ us +p99 +\d+\.\d+ us", result.stdout, re.MULTILINE)
    assert [name.strip() for name in figures] == [
        "baseline: raw sqlite3 insert + update", "journal: begin + complete", "journal: begin + complete(details)",
        "journal: resolve, no open intent", "journal: record (a denial)", "sqlite-utils: insert + update"]
    assert re.search(r"aim \(begin \+ complete p99 < 2 ms\): median \d+\.\d+ ms, p99 \d+\.\d+ ms -> (met|MISSED)",
                     result.stdout)
    assert list(tmp_path.iterdir()) == []  # its journals are cleaned up
