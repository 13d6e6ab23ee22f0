"""Benchmark of the deny-list store (device/denylist.py) at city scale.

A list of ``--entries`` entries (default 1,000,000), each a 16-digit card
number and a 4-byte UID (so twice as many keys), is applied as a full list to
a fresh file; then, with their aims:

- *index memory*: the in-memory index of a fresh process that opens the file,
  by tracemalloc and by the growth of the process's resident set (aim: under
  32 MB for a million entries);
- *lookup*: ``is_denied(card_number, uid)``, half denied cards and half
  random ones (mostly not denied: both keys searched), median and p99,
  before and after the deltas (then with an overlay). Aim: the median under
  5 us. The p99 is printed beside it: unloaded it stays under 5 us too, but
  on a 2-core machine whose other core is busy it moves with the load, so
  the verdict is on the typical lookup;
- *delta*: ``--deltas`` deltas of 10,000 entries (7,500 added, 2,500 removed)
  each committed in SQLite and swapped into memory, median and max; the max
  includes the deltas that merge an overlay into the arrays (aim: under 200 ms);
- reported without an aim: the full list's time, and the time to open the
  file at start (load).

Baselines, measured in the same run on the same keys: a Python set of them
(memory in a fresh process, lookup) and dicts built from them in memory (load).

    ./dev bench denylist [--entries 1000000] [--deltas 12] [--lookups 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path

from device.denylist import DenyEntry, DenyList, uid_key

MEMORY_AIM_MB = 32.0
MEMORY_AIM_ENTRIES = 1_000_000
LOOKUP_AIM_US = 5.0
DELTA_AIM_MS = 200.0
DELTA_SIZE = 10_000
DELTA_ADDED = 7_500
FIRST_CARD = 6033_0000_0000_0000  # 16 digits
REASONS = ("lost", "stolen", "fraud", "damaged", "expired")
SEED = 20261121


def _keys(entries: int, seed: int = SEED) -> tuple[array[int], array[int]]:
    """Card numbers and 4-byte UIDs of the list: distinct, in random order.
    The cards and UIDs a delta adds are drawn above these ranges."""
    rng = random.Random(seed)
    cards = array("Q", (FIRST_CARD + n for n in rng.sample(range(10 * entries), entries)))
    uids = array("Q", rng.sample(range(1, 2**31), entries))
    return cards, uids


def _uid(value: int) -> bytes:
    return value.to_bytes(4, "big")


def _rss_bytes() -> int:
    """The resident set size of this process (Linux: /proc/self/statm)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _child(args: Sequence[str]) -> dict[str, float]:
    """Run a measurement in a fresh interpreter (a clean heap for the RSS)."""
    result = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True,
                            check=True)
    return json.loads(result.stdout)


def child_load(path: str) -> dict[str, float]:
    """Open the file in this fresh process: load time, RSS growth, traced bytes."""
    before = _rss_bytes()
    start = time.perf_counter()
    deny_list = DenyList(path)
    load = time.perf_counter() - start
    rss = _rss_bytes() - before
    deny_list.close()
    del deny_list
    tracemalloc.start()
    deny_list = DenyList(path)
    traced = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    deny_list.close()
    return {"load_s": load, "rss": rss, "traced": traced}


def child_set(entries: int) -> dict[str, float]:
    """The baseline: a Python set of the same keys, built from compact arrays."""
    cards, uids = _keys(entries)
    uid_keys = array("Q", (uid_key(_uid(u)) for u in uids))
    before = _rss_bytes()
    tracemalloc.start()
    keys = set(cards)
    keys.update(uid_keys)
    traced = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {"rss": _rss_bytes() - before, "traced": traced, "keys": len(keys)}


def _timed(calls: Sequence[tuple[int, bytes]], function: Callable[[int, bytes], object]) -> list[int]:
    """Nanoseconds of each ``function(a, b)``."""
    clock = time.perf_counter_ns
    samples = []
    for first, second in calls:
        start = clock()
        function(first, second)
        samples.append(clock() - start)
    return samples


def _median_p99_us(samples: list[int]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) / 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000


def _queries(cards: array[int], uids: array[int], count: int, rng: random.Random) -> list[tuple[int, bytes]]:
    """Half denied cards (card number and UID of one entry), half random
    cards: a card number and a UID drawn from the ranges the list's keys come
    from (so that their searches spread over the arrays as real ones do), most
    of them not denied."""
    queries = []
    for n in range(count):
        if n % 2:
            i = rng.randrange(len(cards))
            queries.append((cards[i], _uid(uids[i])))
        else:
            queries.append((FIRST_CARD + rng.randrange(20 * len(cards)), _uid(rng.randrange(1, 2**32))))
    rng.shuffle(queries)
    return queries


def _deltas(cards: array[int], uids: array[int], count: int, rng: random.Random) -> list[tuple[list[DenyEntry],
                                                                                                list[DenyEntry]]]:
    """``count`` deltas of 7,500 new entries and 2,500 removed ones; no key is
    added or removed twice."""
    removable = rng.sample(range(len(cards)), count * (DELTA_SIZE - DELTA_ADDED))
    fresh_cards = rng.sample(range(10 * len(cards), 10 * len(cards) + 10 * count * DELTA_SIZE), count * DELTA_ADDED)
    fresh_uids = rng.sample(range(2**31, 2**32), count * DELTA_ADDED)
    deltas = []
    for d in range(count):
        added = [DenyEntry(FIRST_CARD + fresh_cards[i], _uid(fresh_uids[i]), rng.choice(REASONS))
                 for i in range(d * DELTA_ADDED, (d + 1) * DELTA_ADDED)]
        gone = removable[d * (DELTA_SIZE - DELTA_ADDED):(d + 1) * (DELTA_SIZE - DELTA_ADDED)]
        removed = [DenyEntry(cards[i], _uid(uids[i]), "") for i in gone]
        deltas.append((added, removed))
    return deltas


def _python_baselines(cards: array[int], uids: array[int],
                      queries: Sequence[tuple[int, bytes]]) -> tuple[float, tuple[float, float]]:
    """Seconds to build dicts of the same keys (card number or UID to reason)
    from values already in memory, and the median and p99 of ``queries``
    against sets of them."""
    card_list, uid_list = cards.tolist(), [_uid(u) for u in uids]
    reasons = [REASONS[n % len(REASONS)] for n in range(len(cards))]
    start = time.perf_counter()
    by_card, by_uid = dict(zip(card_list, reasons, strict=True)), dict(zip(uid_list, reasons, strict=True))
    seconds = time.perf_counter() - start
    set_cards, set_uids = set(by_card), set(by_uid)

    def set_lookup(card: int, uid: bytes) -> bool:
        return card in set_cards or uid in set_uids

    return seconds, _median_p99_us(_timed(queries, set_lookup))


def _mb(size: float) -> float:
    return size / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=MEMORY_AIM_ENTRIES,
                        help=f"entries in the full list (default {MEMORY_AIM_ENTRIES})")
    parser.add_argument("--deltas", type=int, default=12, help="deltas of 10,000 entries to apply (default 12)")
    parser.add_argument("--lookups", type=int, default=100_000, help="lookups per figure (default 100000)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.child and (args.entries < 1 or args.lookups < 1 or args.deltas < 0
                           or args.deltas * (DELTA_SIZE - DELTA_ADDED) > args.entries):
        parser.error(f"need --entries >= {DELTA_SIZE - DELTA_ADDED} per delta (each removes that many), "
                     "--lookups >= 1, --deltas >= 0")
    if args.child:
        figures = child_load(args.child[1]) if args.child[0] == "load" else child_set(int(args.child[1]))
        print(json.dumps(figures))
        return 0

    entries = args.entries
    rng = random.Random(SEED + 1)
    cards, uids = _keys(entries)
    full = [DenyEntry(card, _uid(uid), REASONS[n % len(REASONS)])
            for n, (card, uid) in enumerate(zip(cards, uids, strict=True))]

    with tempfile.TemporaryDirectory(prefix="denylist-bench-") as tmp:
        path = str(Path(tmp) / "denylist.sqlite3")
        with DenyList(path) as deny_list:
            start = time.perf_counter()
            deny_list.apply_full(1, full)
            full_s = time.perf_counter() - start
        del full

        loaded = _child(["load", path])
        baseline_set = _child(["set", str(entries)])
        queries = _queries(cards, uids, args.lookups, rng)
        dict_s, set_lookup_us = _python_baselines(cards, uids, queries)

        with DenyList(path) as deny_list:
            lookup_us = _median_p99_us(_timed(queries, deny_list.is_denied))
            delta_ms = []
            merges = 0
            for version, (added, removed) in enumerate(_deltas(cards, uids, args.deltas, rng), start=1):
                overlay = deny_list.overlay_size
                start = time.perf_counter()
                deny_list.apply_delta(version, version + 1, added, removed)
                delta_ms.append((time.perf_counter() - start) * 1000)
                merges += deny_list.overlay_size < overlay + DELTA_SIZE
            overlay = deny_list.overlay_size
            after_us = _median_p99_us(_timed(queries, deny_list.is_denied))
            keys = len(deny_list)

    memory_mb = (_mb(loaded["traced"]), _mb(loaded["rss"]))
    memory_met = max(memory_mb) < MEMORY_AIM_MB
    lookup_met = max(lookup_us[0], after_us[0]) < LOOKUP_AIM_US  # the medians; see the module docstring
    delta_met = bool(delta_ms) and max(delta_ms) < DELTA_AIM_MS
    verdict = {"memory": memory_met, "lookup": lookup_met, "delta": delta_met}

    def met(ok: bool) -> str:
        return "met" if ok else "MISSED"

    print(f"deny list, {entries} entries (16-digit card numbers and 4-byte UIDs: {2 * entries} keys), "
          f"{os.cpu_count()} CPUs")
    print(f"full list applied: {full_s:.2f} s (no aim)")
    print(f"load at start: {loaded['load_s']:.3f} s (no aim)   "
          f"baseline: dict build of the same keys in memory {dict_s:.3f} s")
    aim_note = "" if entries == MEMORY_AIM_ENTRIES else f" (set for {MEMORY_AIM_ENTRIES} entries)"
    print(f"index memory: tracemalloc {memory_mb[0]:.1f} MB, RSS growth {memory_mb[1]:.1f} MB   "
          f"aim < {MEMORY_AIM_MB:g} MB{aim_note}: {met(memory_met)}   "
          f"baseline: set of the same keys {_mb(baseline_set['traced']):.1f} MB, "
          f"RSS {_mb(baseline_set['rss']):.1f} MB")
    print(f"lookup: median {lookup_us[0]:.2f} us, p99 {lookup_us[1]:.2f} us   aim median < {LOOKUP_AIM_US:g} us: "
          f"{met(lookup_us[0] < LOOKUP_AIM_US)}   "
          f"baseline: set lookup median {set_lookup_us[0]:.2f} us, p99 {set_lookup_us[1]:.2f} us")
    if delta_ms:
        print(f"delta of {DELTA_SIZE} entries: median {statistics.median(delta_ms):.1f} ms, "
              f"max {max(delta_ms):.1f} ms over {len(delta_ms)} deltas ({merges} merged an overlay)   "
              f"aim < {DELTA_AIM_MS:g} ms: {met(delta_met)}")
    print(f"lookup after the deltas ({overlay} keys in the overlay, {keys} keys): median {after_us[0]:.2f} us, "
          f"p99 {after_us[1]:.2f} us   aim median < {LOOKUP_AIM_US:g} us: {met(after_us[0] < LOOKUP_AIM_US)}")
    missed = [name for name, ok in verdict.items() if not ok]
    print("aims met" if not missed else f"aims MISSED: {', '.join(missed)}")
    return 0 if not missed else 1


if __name__ == "__main__":
    raise SystemExit(main())
