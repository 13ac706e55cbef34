"""The rollout plan (`rollout-plan.yaml`): the order a version moves through the fleet.

    soak: 10m            # how long a wave's gates must keep holding before the next wave
    timeouts:
      gate: 10m          # how long a stack's gate may take: Flux applied it, the daemon is ready
      unknown: 1m        # during a soak, how long a reading may stay Unknown (Flux reconciling
                         # the same revision, the API server silent) before it is trouble
    unlisted: last       # a stack this file does not name: `last` (a wave after the others)
                         # or `refuse`
    waves:
      - name: dev
        stacks: [dev]
        soak: 0s         # a wave's own soak, over the one above
        verify:          # the team's own checks, per cluster, after the gates and the soak
          - name: smoke
            command: [scripts/smoke.sh, --quick]   # run from the project, no shell
            timeout: 2m                          # default 5m
      - stacks: [edge]
      - stacks: [beam]
        approval: required   # the rollout stops before this wave until it is approved

Parsed once into frozen objects, every problem reported together, before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import safe_yaml
from ..grammars import duration_seconds, is_flux_duration

PLAN_FILE = "rollout-plan.yaml"
UNLISTED = ("last", "refuse")
_KEYS = {"soak", "timeouts", "unlisted", "waves"}
_WAVE_KEYS = {"name", "stacks", "soak", "verify", "approval"}
_TIMEOUT_KEYS = {"gate", "unknown"}
_CHECK_KEYS = {"name", "command", "timeout"}
APPROVALS = ("required", "none")
DEFAULT_SOAK = 0.0
DEFAULT_GATE_TIMEOUT = 600.0
DEFAULT_UNKNOWN_GRACE = 60.0
DEFAULT_CHECK_TIMEOUT = 300.0


class PlanError(ValueError):
    """Every problem of a rollout plan, reported together."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        super().__init__(
            f"invalid rollout plan {source} (nothing was rolled out):\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


@dataclass(frozen=True)
class Check:
    """A check of the team's own (`verify:`): a command, run once per cluster of the wave."""

    name: str
    command: tuple[str, ...]
    timeout_seconds: float


@dataclass(frozen=True)
class Wave:
    name: str
    stacks: tuple[str, ...]
    soak_seconds: float
    verify: tuple[Check, ...] = ()
    approval_required: bool = False

    @property
    def checks_seconds(self) -> float:
        """The longest the wave's checks can take: each on each cluster, after the gates and
        again after the soak."""
        runs = 2 if self.soak_seconds else 1
        return runs * len(self.stacks) * sum(c.timeout_seconds for c in self.verify)


@dataclass(frozen=True)
class RolloutPlan:
    waves: tuple[Wave, ...]
    gate_timeout_seconds: float
    unknown_grace_seconds: float = DEFAULT_UNKNOWN_GRACE

    @property
    def stacks(self) -> list[str]:
        return [stack for wave in self.waves for stack in wave.stacks]

    def only(self, stacks: Iterable[str], source: str = "--only") -> RolloutPlan:
        """The plan restricted to `stacks` (a hotfix to one cluster): its waves in their order,
        each with the chosen stacks alone, waves left empty dropped; PlanError for a stack the
        plan does not hold."""
        chosen = list(dict.fromkeys(stacks))
        unknown = [s for s in chosen if s not in self.stacks]
        if unknown or not chosen:
            why = f"{', '.join(unknown)}: no such stack in the plan" if unknown else "no stack"
            raise PlanError(source, [f"{why}; the plan's stacks are {', '.join(self.stacks)}"])
        waves = tuple(
            replace(w, stacks=tuple(s for s in w.stacks if s in chosen))
            for w in self.waves
            if any(s in chosen for s in w.stacks)
        )
        return RolloutPlan(waves, self.gate_timeout_seconds, self.unknown_grace_seconds)

    def check_approvals(self, waves: Iterable[str], source: str = "--approve") -> None:
        """PlanError unless each wave is one of the plan's that needs an approval."""
        needing = [w.name for w in self.waves if w.approval_required]
        wrong = [w for w in waves if w not in needing]
        if wrong:
            allowed = ", ".join(needing) or "none: no wave has `approval: required`"
            raise PlanError(
                source, [f"{', '.join(wrong)}: not a wave that needs an approval ({allowed})"]
            )

    @property
    def worst_case_seconds(self) -> float:
        """The longest a rollout of this plan can take on its clusters: each wave's gate to its
        timeout, then its soak and its checks (a rollback's gate, too, at most once)."""
        waves = sum(
            self.gate_timeout_seconds + wave.soak_seconds + wave.checks_seconds
            for wave in self.waves
        )
        return waves + self.gate_timeout_seconds


def _seconds(value: Any, name: str, problems: list[str]) -> float | None:
    """A duration: a Flux duration string (`30s`, `10m`, `1h30m`) or a number of seconds."""
    allowed = "a duration such as 0s, 30s, 10m or 1h30m"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        problems.append(f"{name}: {value!r} is not {allowed}")
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    elif value.startswith("-") and is_flux_duration(value[1:]):
        seconds = -duration_seconds(value[1:])
    elif is_flux_duration(value):
        seconds = duration_seconds(value)
    else:
        problems.append(f"{name}: {value!r} is not {allowed}")
        return None
    if seconds < 0:
        problems.append(f"{name}: {value!r} is negative; it must be 0s or more ({allowed})")
        return None
    return seconds


def _unknown_keys(value: dict, known: set[str], where: str, problems: list[str]) -> None:
    for key in sorted(set(value) - known, key=str):
        problems.append(f"{where}{key}: unknown key; the keys are {', '.join(sorted(known))}")


def _mappings(
    items: list, where: str, known: set[str], example: str, problems: list[str]
) -> Iterator[tuple[int, str, dict]]:
    """Each item of a list of mappings (waves, checks) with its place (`waves[1]`); an item
    that is not a mapping, or a key that is not known, is a problem named at its place."""
    for index, raw in enumerate(items):
        at = f"{where}[{index}]"
        if not isinstance(raw, dict):
            problems.append(f"{at}: {raw!r} is not a mapping such as {example}")
            continue
        _unknown_keys(raw, known, f"{at}.", problems)
        yield index, at, raw


def _checks(value: Any, where: str, problems: list[str]) -> tuple[Check, ...]:
    """A wave's `verify:`, each check `{name, command: [program, arg, …], timeout}`."""
    example = "[{name: smoke, command: [scripts/smoke.sh], timeout: 2m}]"
    if not isinstance(value, list):
        problems.append(f"{where}: {value!r} is not a list of checks such as {example}")
        return ()
    checks = []
    for _, at, raw in _mappings(value, where, _CHECK_KEYS, example[1:-1], problems):
        command = raw.get("command")
        # A list, never a shell line: what runs is exactly what the plan says.
        if (
            not isinstance(command, list)
            or not command
            or not all(isinstance(part, str) and part for part in command)
        ):
            problems.append(
                f"{at}.command: {command!r} is not a list of strings (the program and its "
                "arguments, e.g. [scripts/smoke.sh, --quick]; no shell)"
            )
            continue
        timeout = DEFAULT_CHECK_TIMEOUT
        if "timeout" in raw:
            seconds = _seconds(raw["timeout"], f"{at}.timeout", problems)
            if seconds == 0:
                problems.append(f"{at}.timeout: must be more than 0s: a check needs time to run")
                continue
            if seconds is None:
                continue
            timeout = seconds
        name = raw.get("name", Path(command[0]).name)
        if not isinstance(name, str) or not name:
            problems.append(f"{at}.name: {name!r} is not a name")
            continue
        checks.append(Check(name, tuple(command), timeout))
    return tuple(checks)


def parse_plan(document: Any, stacks: Iterable[str], source: str = PLAN_FILE) -> RolloutPlan:
    """The plan for this project's stacks, or PlanError naming each problem."""
    known = sorted(stacks)
    problems: list[str] = []
    if not isinstance(document, dict):
        raise PlanError(source, ["the file must be a mapping with `waves:` (a list of waves)"])
    _unknown_keys(document, _KEYS, "", problems)
    soak = _seconds(document.get("soak", DEFAULT_SOAK), "soak", problems) or 0.0
    timeouts = document.get("timeouts") or {}
    gate_timeout, unknown_grace = DEFAULT_GATE_TIMEOUT, DEFAULT_UNKNOWN_GRACE
    if not isinstance(timeouts, dict):
        problems.append(
            f"timeouts: {timeouts!r} is not a mapping such as {{gate: 10m, unknown: 1m}}"
        )
    else:
        _unknown_keys(timeouts, _TIMEOUT_KEYS, "timeouts.", problems)
        if "gate" in timeouts:
            value = _seconds(timeouts["gate"], "timeouts.gate", problems)
            if value == 0:
                problems.append("timeouts.gate: must be more than 0s: a gate needs time to pass")
            elif value is not None:
                gate_timeout = value
        if "unknown" in timeouts:
            value = _seconds(timeouts["unknown"], "timeouts.unknown", problems)
            if value is not None:
                unknown_grace = value
    unlisted = document.get("unlisted", "last")
    if unlisted not in UNLISTED:
        problems.append(f"unlisted: {unlisted!r} is not one of {', '.join(UNLISTED)}")

    raw_waves = document.get("waves")
    if not isinstance(raw_waves, list) or not raw_waves:
        problems.append("waves: must be a non-empty list of waves, each `{stacks: [<stack>, …]}`")
        raw_waves = []
    waves: list[Wave] = []
    placed: dict[str, str] = {}
    for index, where, raw in _mappings(raw_waves, "waves", _WAVE_KEYS, "{stacks: [dev]}", problems):
        name = str(raw.get("name") or f"wave {index + 1}")
        members = raw.get("stacks")
        if not isinstance(members, list) or not members:
            problems.append(f"{where}.stacks: wave {name!r} is empty; list at least one stack")
            members = []
        for stack in members:
            if stack not in known:
                problems.append(
                    f"{where}.stacks: {stack!r} is not a stack of this project "
                    f"(no Pulumi.{stack}.yaml); the stacks are {', '.join(known)}"
                )
            elif stack in placed:
                problems.append(
                    f"{where}.stacks: {stack!r} is already in wave {placed[stack]!r}; "
                    "a stack belongs to one wave"
                )
            else:
                placed[stack] = name
        wave_soak = _seconds(raw["soak"], f"{where}.soak", problems) if "soak" in raw else soak
        checks = _checks(raw["verify"], f"{where}.verify", problems) if "verify" in raw else ()
        approval = raw.get("approval", "none")
        if approval not in APPROVALS:
            problems.append(f"{where}.approval: {approval!r} is not one of {', '.join(APPROVALS)}")
        waves.append(
            Wave(
                name,
                tuple(s for s in members if placed.get(s) == name),
                wave_soak or 0,
                checks,
                approval == "required",
            )
        )
    names = [wave.name for wave in waves]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"waves: the name {name!r} is given to more than one wave")

    rest = [stack for stack in known if stack not in placed]
    if rest and unlisted == "refuse":
        problems.append(
            f"unlisted: refuse, and no wave names {', '.join(rest)}: "
            "add each to a wave (or set `unlisted: last`)"
        )
    if problems:
        raise PlanError(source, problems)
    if rest:
        waves.append(Wave("unlisted", tuple(rest), soak))
    return RolloutPlan(tuple(waves), gate_timeout, unknown_grace)


def load_plan(path: Path, stacks: Iterable[str]) -> RolloutPlan:
    try:
        document = safe_yaml.load(path.read_text(), path.name)
    except OSError as error:
        raise PlanError(str(path), [f"cannot read it: {error.strerror}"]) from None
    except safe_yaml.YamlRefused as refused:
        raise PlanError(str(path), [str(refused)]) from None
    return parse_plan(document, stacks, str(path))
