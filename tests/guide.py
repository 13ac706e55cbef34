"""The deployment guide's hand-written manifests: the specification the tests compare with.

They live in tests/data/guide/ as the project's own test data, one file per manifest, each
naming the guide's section it comes from. `guide_blocks` reads the same manifests from a
copy of the guide itself; test_guide_data.py uses it, where the guide is at hand, to keep
the data honest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).resolve().parent / "data" / "guide"
# Beside the repository for developers; never needed by the tests that compare with DATA.
GUIDE = Path(__file__).resolve().parents[2] / "shared" / "seed" / "000_b1e0ee6ee4c3c33c.txt"
_HEADER = re.compile(r'^# guide section: "(?P<section>[^"]+)" \((?P<written_as>[^)]+)\)$')


@dataclass(frozen=True)
class GuideManifest:
    section: str  # the guide's heading above the manifest
    written_as: str | None  # the file the guide writes it to, if it names one
    manifest: dict[str, Any]


@cache
def data() -> dict[str, GuideManifest]:
    """Every manifest of tests/data/guide, by the guide's section."""
    found = {}
    for path in sorted(DATA.glob("*.yaml")):
        text = path.read_text()
        header = _HEADER.match(text.splitlines()[0])
        assert header, f"{path}: the first line must name the guide's section"
        written_as = header["written_as"] if header["written_as"].endswith(".yaml") else None
        found[header["section"]] = GuideManifest(
            header["section"], written_as, yaml.safe_load(text)
        )
    return found


def manifests() -> dict[str, dict[str, Any]]:
    """The manifests the guide writes to files, by that file's path."""
    return {m.written_as: m.manifest for m in data().values() if m.written_as}


def excerpt() -> dict[str, Any]:
    """The DaemonSet excerpt of the guide's "Deployment Model"."""
    return data()["Deployment Model"].manifest


def guide_blocks(text: str) -> dict[str, dict[str, Any]]:
    """Each YAML block of the guide's text, by the heading it stands under."""
    found: dict[str, dict[str, Any]] = {}
    heading, block = None, None
    for line in text.splitlines():
        if block is not None:
            if line.startswith("```"):
                assert heading not in found, f"two YAML blocks under {heading!r}"
                found[heading] = yaml.safe_load("\n".join(block))
                block = None
            else:
                block.append(line)
        elif line.startswith("```yaml"):
            block = []
        elif line.startswith("#"):
            heading = line.lstrip("#").strip()
    return found


def missing_or_different(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Every field of `expected` that `actual` lacks or holds with another value.

    Lists of named objects (containers, volumes, mounts) are matched by name, and
    `actual` may hold more of them; other lists are compared position by position.
    Extra fields in `actual` are fine.
    """
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {actual!r}"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{path}.{key}: missing")
            else:
                problems += missing_or_different(value, actual[key], f"{path}.{key}")
        return problems
    if (
        isinstance(expected, list)
        and expected
        and all(isinstance(e, dict) and isinstance(e.get("name"), str) for e in expected)
    ):
        by_name = {a.get("name"): a for a in actual or [] if isinstance(a, dict)}
        return [
            p
            for e in expected
            for p in (
                missing_or_different(e, by_name[e["name"]], f"{path}[{e['name']}]")
                if e["name"] in by_name
                else [f"{path}[{e['name']}]: missing"]
            )
        ]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {len(expected)} items, got {actual!r}"]
        return [
            p
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for p in missing_or_different(e, a, f"{path}[{i}]")
        ]
    return [] if expected == actual else [f"{path}: expected {expected!r}, got {actual!r}"]


def differing_paths(left: Any, right: Any, path: str = "") -> set[str]:
    """The leaf paths at which two objects differ (present in one only, or unequal)."""
    if isinstance(left, dict) and isinstance(right, dict):
        return {
            p
            for key in left.keys() | right.keys()
            for p in differing_paths(left.get(key), right.get(key), f"{path}.{key}")
        }
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return {
            p
            for i, (a, b) in enumerate(zip(left, right, strict=True))
            for p in differing_paths(a, b, f"{path}[{i}]")
        }
    return set() if left == right else {path}
