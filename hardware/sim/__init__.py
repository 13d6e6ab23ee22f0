"""The simulated MIFARE Classic 1K card and its reader, and card dump files:
what tests, benchmarks and the demo tap instead of a physical card."""

from hardware.sim.card import CommandRecord, SimulatedCard
from hardware.sim.dump import load_dump, save_dump
from hardware.sim.field import SimField
from hardware.sim.reader import SimReader

__all__ = ["CommandRecord", "SimField", "SimReader", "SimulatedCard", "load_dump", "save_dump"]
