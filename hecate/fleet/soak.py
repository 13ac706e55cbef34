"""A wave's soak: once its gates pass, they must keep holding for the plan's soak time before
the next wave starts. Each cluster is read about once a second; a reading is holding, trouble
(fails the wave at once) or Unknown (Flux reconciling the same revision, an API server that does
not answer: waited out for the plan's `timeouts.unknown`, then trouble too).
(hecate/fleet/cluster_health.py's soak_reading sorts the readings.)"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from .cluster_health import ClusterHealth
from .gates import PASSED, TROUBLE, Gate, soak_reading

POLL_SECONDS = 1.0  # a reading is three GETs and a list: cheap next to a rollout


class SoakBroken(RuntimeError):
    def __init__(self, stack: str, detail: str):
        self.stack, self.detail = stack, detail
        super().__init__(f"{stack}: {detail}")


class _Progress(Protocol):
    def event(self, wave: str, stack: str, step: str, detail: str = "") -> None: ...


@dataclass
class Soak:
    wave: str
    seconds: float
    grace: float  # how long a reading may stay Unknown
    progress: _Progress

    def hold(
        self,
        read: Mapping[str, Callable[[], ClusterHealth]],
        judges: Mapping[str, Callable[[ClusterHealth], Gate]],
        sleep: Callable[[float], None],
    ) -> None:
        """Until the soak is over, or SoakBroken naming the stack, the reading and when."""
        self.progress.event(
            self.wave, "", "soak", f"{self.seconds:.0f} s (Unknown waited out {self.grace:.0f} s)"
        )
        start = time.monotonic()
        end = start + self.seconds
        unknown_since: dict[str, float] = {}
        while time.monotonic() < end:
            sleep(min(POLL_SECONDS, max(0.0, end - time.monotonic())))
            for stack, reader in read.items():
                reading = soak_reading(reader(), judges[stack])
                now = time.monotonic()
                into = f"{now - start:.0f} s into the {self.seconds:.0f} s soak"
                if reading.state == PASSED:
                    if stack in unknown_since:
                        lasted = now - unknown_since.pop(stack)
                        self.progress.event(
                            self.wave, stack, "soak", f"holding again after {lasted:.0f} s Unknown"
                        )
                    continue
                if reading.state == TROUBLE:
                    raise SoakBroken(stack, f"the gate stopped holding ({into}): {reading.detail}")
                first = unknown_since.setdefault(stack, now)
                if now - first > self.grace:
                    raise SoakBroken(
                        stack,
                        f"Unknown for {now - first:.0f} s, over the plan's grace of "
                        f"{self.grace:.0f} s (timeouts.unknown; {into}): {reading.detail}",
                    )
