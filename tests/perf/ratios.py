"""Targets as ratios to a floor measured in the same run: interleaved rounds, medians, the spread printed.

A round measures the floor and the path under test alternately (A, B, A, B ...), so a noisy neighbour
slows both alike; each round gives one ratio (median of B / median of A). The verdict is the median of the
rounds' ratios; the spread (lowest and highest round) is printed beside it, so a reader sees how much the
machine moved. `make bench` fails when a ratio misses its target; absolute figures are printed only.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

ROUNDS = 3


@dataclass
class Ratio:
    name: str
    target: float
    higher_is_better: bool = False  # throughput ratios: the path's rate over the floor's
    rounds: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, floor: float, value: float, note: str = "") -> None:
        self.rounds.append(value / floor)
        self.notes.append(note)

    @property
    def median(self) -> float:
        return statistics.median(self.rounds)

    @property
    def met(self) -> bool:
        return self.median >= self.target if self.higher_is_better else self.median <= self.target

    def line(self) -> str:
        sign = ">=" if self.higher_is_better else "<="
        spread = f"{min(self.rounds):.2f}-{max(self.rounds):.2f}"
        rounds = "; ".join(f"{r:.2f}x {n}".strip() for r, n in zip(self.rounds, self.notes, strict=True))
        return (
            f"{self.name}: median {self.median:.2f}x over {len(self.rounds)} rounds (spread {spread}), "
            f"target {sign} {self.target:g}x: {'met' if self.met else 'NOT MET'}\n        rounds: {rounds}"
        )


def check(ratios: list[Ratio]) -> None:
    """Print every ratio, then fail naming the ones that missed their target."""
    for ratio in ratios:
        assert len(ratio.rounds) >= ROUNDS, f"{ratio.name}: {len(ratio.rounds)} rounds"
        print("     " + ratio.line())
    missed = [r.name for r in ratios if not r.met]
    assert not missed, f"targets missed: {', '.join(missed)}"


def median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.2f} ms"


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]
