"""The deny-list benchmark runs at a small size and prints every figure with
its aim and baseline (its timings are read by people, not asserted here)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NUMBER = r"\d+\.\d+"


def test_denylist_benchmark_reports_every_figure() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "denylist.py"), "--entries", "20000",
                             "--deltas", "3", "--lookups", "2000"],
                            capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode in (0, 1), result.stderr
    lines = result.stdout.splitlines()
    expected = [
        r"deny list, 20000 entries \(16-digit card numbers and 4-byte UIDs: 40000 keys\), \d+ CPUs",
        rf"full list applied: {NUMBER} s \(no aim\)",
        rf"load at start: {NUMBER} s \(no aim\) +baseline: dict build of the same keys in memory {NUMBER} s",
        rf"index memory: tracemalloc {NUMBER} MB, RSS growth -?{NUMBER} MB +aim < 32 MB \(set for 1000000 entries\): "
        rf"(met|MISSED) +baseline: set of the same keys {NUMBER} MB, RSS -?{NUMBER} MB",
        rf"lookup: median {NUMBER} us, p99 {NUMBER} us +aim median < 5 us: (met|MISSED) +"
        rf"baseline: set lookup median {NUMBER} us, p99 {NUMBER} us",
        rf"delta of 10000 entries: median {NUMBER} ms, max {NUMBER} ms over 3 deltas \(\d merged an overlay\) +"
        r"aim < 200 ms: (met|MISSED)",
        rf"lookup after the deltas \(\d+ keys in the overlay, \d+ keys\): median {NUMBER} us, p99 {NUMBER} us +"
        r"aim median < 5 us: (met|MISSED)",
        r"aims (met|MISSED: [a-z, ]+)",
    ]
    assert len(lines) == len(expected), result.stdout
    for line, pattern in zip(lines, expected, strict=True):
        assert re.fullmatch(pattern, line), f"{line!r} does not match {pattern!r}"
    assert (lines[-1] == "aims met") == (result.returncode == 0)


def test_denylist_benchmark_refuses_more_removals_than_entries() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "denylist.py"), "--entries", "1000"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "--entries" in result.stderr
