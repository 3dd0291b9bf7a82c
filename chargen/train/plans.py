"""The speeds a time-budget plan was made from, kept per machine and task beside the corpus cache, so that the
same command plans the same recipe while this machine keeps measuring within its own spread.

A probe's noise alone moved the recipe across its width threshold: `chargen train tinyshakespeare.txt
--minutes 10 --seed 1` chose a 2x384 twice and a 2x256 once in three runs on one machine in one day, and
the two models ended 0.02 nats apart. This is the plan's hysteresis: a probe of the reference model within
a factor SAME_MACHINE of a kept plan's plans again from that plan's speeds; one outside it measures afresh
and is kept in its place.

The same recipe is not yet the same model: a budget re-aimed at the speed of each run ends a few steps
sooner or later, the learning-rate schedule differs in every step, and the models end apart by about what
two seeds do (python-code at 2.5 minutes: 4,211 to 4,279 steps, 0.027 nats). So a kept plan also keeps
the schedule its last run trained in its budget (its Pace: the step counts it aimed at, from the step each
was set), and the next run trains that schedule again while it ends within the budget at the speed it
measures (chargen.train.budget): the same command, the same model.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chargen.data.corpus import default_cache_dir
from chargen.store.files import write_text_atomically
from chargen.train.recipe import SAME_MACHINE

FILE = "plans.json"
KEEP = 200  # plans kept, the most recently made
REFERENCE_PREFIX = "reference"  # the name of the reference model's speed in each precision: "reference fp32"


def machine() -> dict:
    """What tells this machine from another, for the key of its plans."""
    return {"node": platform.node(), "arch": platform.machine(), "cpus": os.cpu_count()}


def plan_key(parts: dict) -> str:
    """A short key for a plan: the task, budget, device and machine it is for."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


class Measurements:
    """The speeds (chars/s) one plan reads, by name, each measured once; those of a kept plan when this
    machine's probe of the reference model is within a factor SAME_MACHINE of that plan's."""

    def __init__(self, key: str, folder: Path | None = None) -> None:
        self.key, self.path = key, (folder or default_cache_dir()) / FILE
        self.speeds: dict[str, float] = {}
        self.probe: dict[str, float] = {}  # this plan's own probe of the reference model
        self.made = time.strftime("%Y-%m-%d %H:%M:%S")  # when the speeds planned from were measured
        self.note = ""  # what the log says of a kept plan used
        self.schedule: list[tuple[int, int]] | None = None  # what the kept plan's last run trained
        self.pause_s: float | None = None  # and the seconds each of its evaluations took

    def reference(self, fresh: dict[str, float]) -> dict[str, float]:
        """The reference model's speeds to plan from ({precision: chars/s}): `fresh`, or the kept plan's
        when every one of `fresh` is within a factor SAME_MACHINE of it (and then all the kept plan's speeds)."""
        kept = _read(self.path).get(self.key)
        if not (isinstance(kept, dict) and isinstance(kept.get("speeds"), dict)
                and all(isinstance(s, (int, float)) and s > 0 for s in kept["speeds"].values())):
            kept = None  # none, or not one this code wrote: measured afresh
        old = {name.split(" ", 1)[1]: s for name, s in kept["speeds"].items()
               if name.startswith(REFERENCE_PREFIX + " ")} if kept else {}
        self.probe = dict(fresh)
        if old and old.keys() == fresh.keys() and all(1 / SAME_MACHINE < fresh[p] / old[p] < SAME_MACHINE for p in fresh):
            self.speeds, self.made = dict(kept["speeds"]), str(kept.get("made", "an earlier run"))
            schedule, pause_s = valid_schedule(kept.get("schedule")), kept.get("pause_s")
            if schedule:
                self.schedule = schedule
                self.pause_s = float(pause_s) if isinstance(pause_s, (int, float)) and pause_s >= 0 else None
            first = min(fresh)
            self.note = (f"planned from this machine's measurements of {self.made} for this text and budget "
                         f"({old[first]:,.0f} chars/s, {fresh[first]:,.0f} now: within a factor {SAME_MACHINE:g}, its "
                         "own spread), so that the same command trains the same model")
            return old
        self.speeds = {f"{REFERENCE_PREFIX} {p}": s for p, s in fresh.items()}
        return dict(fresh)

    def speed(self, name: str, measure: Callable[[], float]) -> float:
        """The speed called `name`: kept, or measured now."""
        if name not in self.speeds:
            self.speeds[name] = measure()
        return self.speeds[name]

    def keep(self) -> None:
        """Keep this plan's speeds for the next plan of the same task (a cache: failing to write is no error)."""
        plans = _read(self.path)
        plans.pop(self.key, None)
        plans[self.key] = {"made": self.made, "speeds": self.speeds, "last_probe": self.probe}
        if self.schedule:  # a plan measured afresh may choose another recipe: it keeps no schedule
            plans[self.key].update(schedule=self.schedule, pause_s=self.pause_s)
        _write(self.path, plans)

    def pace(self) -> Pace:
        """The schedule this plan's run is to train (its last run's, if any) and where it records its own."""
        return Pace(self.key, str(self.path), self.schedule, self.pause_s)


@dataclass(frozen=True)
class Pace:
    """The schedule the last run of a plan trained in its time budget on this machine: (step, total steps)
    for each count it aimed at, from the step it was set; None before one has."""

    key: str
    path: str  # the plans file
    schedule: list[tuple[int, int]] | None
    pause_s: float | None = None  # the seconds an evaluation and save took in that run

    def record(self, schedule: list[tuple[int, int]], pause_s: float | None) -> None:
        """Keep `schedule` as this plan's, after a run that spent its budget and ended its schedule there."""
        path = Path(self.path)
        plans = _read(path)
        if isinstance(plans.get(self.key), dict):  # a plan since dropped (KEEP) is not brought back
            plans[self.key].update(schedule=[list(change) for change in schedule], pause_s=pause_s)
            _write(path, plans)


def valid_schedule(value) -> list[tuple[int, int]] | None:
    """A schedule as this code writes it ([[step, total], ...], steps rising), or None."""
    if not (isinstance(value, list) and value):
        return None
    pairs = []
    for change in value:
        if not (isinstance(change, list) and len(change) == 2
                and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in change)):
            return None
        pairs.append((change[0], change[1]))
    if any(b[0] <= a[0] for a, b in zip(pairs, pairs[1:])):
        return None
    return pairs


def _read(path: Path) -> dict:
    try:
        plans = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return plans if isinstance(plans, dict) else {}


def _write(path: Path, plans: dict) -> None:
    """Write the plans kept, the KEEP made last (a cache: failing to write is no error)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(path, json.dumps(dict(list(plans.items())[-KEEP:]), indent=1))
    except OSError:
        pass
