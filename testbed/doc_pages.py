"""The docs' shell blocks as the tests read them, each with the marker that says how it is
tested: `<!-- docs-test: run by <test file>[, how] -->` (that test runs the block as written)
or `<!-- docs-test: not run: <why> -->`, on the line before the block's fence."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from testbed.paths import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELLS = ("sh", "bash", "shell", "console")
MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(?P<says>.*?)\s*-->\s*$")
RUN_BY = re.compile(r"^run by (?P<test>tests/\S+?\.py)(?:,\s*(?P<how>.+))?$")
NOT_RUN = re.compile(r"^not run(?: as a block)?:\s*(?P<why>.+)$")


@dataclass(frozen=True)
class ShellBlock:
    page: Path
    line: int  # the block's first line
    text: str
    marker: str  # what the marker says, "" for none

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def run_by(self) -> str | None:
        """The test file that runs this block, or None."""
        found = RUN_BY.match(self.marker)
        return found["test"] if found else None

    @property
    def not_run_because(self) -> str | None:
        found = NOT_RUN.match(self.marker)
        return found["why"] if found else None


def shell_blocks(page: Path) -> list[ShellBlock]:
    """Each shell block of the page, in order, with the marker just above its fence."""
    lines = page.read_text().splitlines()
    found: list[ShellBlock] = []
    start, fence, body, marker = None, "", [], ""
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if start is None and stripped.startswith("```") and stripped[3:].strip() in SHELLS:
            above = lines[number - 2] if number > 1 else ""
            marked = MARKER.match(above)
            start, fence, body = number + 1, stripped[:3], []
            marker = marked["says"] if marked else ""
        elif start is not None and stripped.startswith(fence):
            found.append(ShellBlock(page, start, "\n".join(body), marker))
            start = None
        elif start is not None:
            body.append(line)
    return found


def yaml_blocks(page: Path) -> list[str]:
    """The page's YAML blocks, in order (what a step asks the reader to write)."""
    return re.findall(r"^```yaml\n(.*?)^```", page.read_text(), re.MULTILINE | re.DOTALL)
