"""`fleet preview --shard I/N`: the stacks split across CI runners, and their reports joined again.

A stack's shard is a hash of its name, so it does not depend on which other stacks exist: adding
a cluster moves no other stack to another shard, and every runner agrees without talking.
`fleet merge-previews` joins the shards' `--json` into the one report an unsharded preview
writes, and refuses a stack that is missing (a shard that silently did nothing) or doubled.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from .stacks import ChangeSummary


class ShardError(ValueError):
    pass


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based, as a job matrix counts
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = re.fullmatch(r"([1-9][0-9]{0,3})/([1-9][0-9]{0,3})", text, re.ASCII)
        if not match or int(match[1]) > int(match[2]):
            raise ShardError(
                f"--shard: {text!r} is not a shard; write I/N with 1 <= I <= N, e.g. 2/4"
            )
        return cls(int(match[1]), int(match[2]))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, stack: str) -> bool:
        digest = hashlib.sha256(stack.encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index - 1

    def of(self, stacks: list[str]) -> list[str]:
        return [s for s in stacks if self.holds(s)]


def matrix(stacks: list[str], per_shard: int) -> list[str]:
    """The shards a job matrix runs for this many stacks, about `per_shard` stacks each."""
    if per_shard < 1:
        raise ShardError(f"--per-shard: {per_shard} is not a positive number of stacks")
    count = max(1, math.ceil(len(stacks) / per_shard))
    return [str(Shard(i, count)) for i in range(1, count + 1)]


def dump(summaries: list[ChangeSummary]) -> str:
    """What `fleet preview --json` prints, and merge_files() reads back."""
    return json.dumps([asdict(s) for s in summaries], indent=2)


def merged(files: list[Path], stacks: list[str]) -> list[ChangeSummary]:
    """The shards' summaries in the project's stack order, each stack exactly once."""
    found: dict[str, ChangeSummary] = {}
    problems: list[str] = []
    for file in files:
        try:
            entries = json.loads(file.read_text())
            summaries = [ChangeSummary(**entry) for entry in entries]
        except (OSError, ValueError, TypeError) as error:
            raise ShardError(f"{file}: not a `fleet preview --json` report ({error})") from None
        for summary in summaries:
            if summary.stack in found:
                problems.append(f"{summary.stack}: in more than one report ({file})")
            found[summary.stack] = summary
    problems += [f"{s}: in no report (did its shard run?)" for s in stacks if s not in found]
    problems += [f"{s}: not a stack of this project" for s in found if s not in stacks]
    if problems:
        raise ShardError("; ".join(problems))
    return [found[s] for s in stacks]
