"""The back-office benchmark fills its database and reports every figure
(timings are read by people, not asserted here: a shared CI machine is too noisy)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_server_benchmark_reports_every_figure(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "server.py"), "--cards", "2000", "--transactions",
                             "20000", "--lookups", "50", "--pull-rows", "3000", "--dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    out = result.stdout
    assert "database: 2,000 cards, 20,000 transactions, 200 devices" in out
    for figure in ("card lookup, API", "card lookup, raw SELECT"):
        assert re.search(rf"^{re.escape(figure)}.* median +[\d.]+ ms +p99 +[\d.]+ ms", out, re.MULTILINE), out
    for figure in ("transaction pull, API pages", "transaction pull, raw SELECT", "CSV export, API (streamed)",
                   "CSV export, raw SELECT"):
        assert re.search(rf"^{re.escape(figure)}.* +[\d,]+ rows/s", out, re.MULTILINE), out
    assert "(3,000 rows)" in out and "(20,000 rows," in out
    assert re.search(r"aim \(p99 < 20 ms\): [\d.]+ ms -> (met|MISSED)", out)
    assert re.search(r"aim \(>= 200,000 rows/s\): [\d,]+ rows/s -> (met|MISSED)", out)
    assert list(tmp_path.iterdir()) == []  # the database is cleaned up
