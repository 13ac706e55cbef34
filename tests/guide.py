"""The deployment guide's hand-written manifests, read from the guide itself.

The guide (../shared/seed/) is the specification: tests compare what the
program declares with the manifests it writes, rather than with a copy.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

GUIDE = Path(__file__).resolve().parents[2] / "shared" / "seed" / "000_b1e0ee6ee4c3c33c.txt"


def manifests() -> dict[str, dict[str, Any]]:
    """Each YAML block of the guide that names its file, by that file's path."""
    assert GUIDE.is_file(), f"the deployment guide is missing: expected {GUIDE}"
    found = {}
    for block in re.findall(r"```yaml\n(.*?)```", GUIDE.read_text(), re.S):
        first = block.splitlines()[0]
        if first.startswith("# ") and first.endswith(".yaml"):
            found[first[2:].strip()] = yaml.safe_load(block)
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
    if isinstance(expected, list) and expected and all(isinstance(e, dict) and "name" in e for e in expected):
        by_name = {a.get("name"): a for a in actual or [] if isinstance(a, dict)}
        return [p for e in expected for p in (
            missing_or_different(e, by_name[e["name"]], f"{path}[{e['name']}]") if e["name"] in by_name
            else [f"{path}[{e['name']}]: missing"])]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {len(expected)} items, got {actual!r}"]
        return [p for i, (e, a) in enumerate(zip(expected, actual)) for p in missing_or_different(e, a, f"{path}[{i}]")]
    return [] if expected == actual else [f"{path}: expected {expected!r}, got {actual!r}"]


def differing_paths(left: Any, right: Any, path: str = "") -> set[str]:
    """The leaf paths at which two objects differ (present in one only, or unequal)."""
    if isinstance(left, dict) and isinstance(right, dict):
        return {p for key in left.keys() | right.keys()
                for p in differing_paths(left.get(key), right.get(key), f"{path}.{key}")}
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return {p for i, (a, b) in enumerate(zip(left, right)) for p in differing_paths(a, b, f"{path}[{i}]")}
    return set() if left == right else {path}
