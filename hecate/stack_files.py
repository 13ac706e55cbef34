"""A stack's configuration as committed: Pulumi.yaml's project config under Pulumi.<stack>.yaml's.

The engine does this merge for `pulumi up`; tools that run without the engine
(the mock tests, `python -m hecate verify`) use this one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

# libyaml's loader where the wheel has it: Pulumi.yaml is read on every run of the program.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=_LOADER)  # a safe loader, C or Python


# A stack file's name: Pulumi.<stack>.yaml, one per cluster.
STACK_FILE = re.compile(r"Pulumi\.([^./]+)\.yaml")


def project_name(root: Path) -> str:
    return _load(root / "Pulumi.yaml")["name"]


def stack_names(root: Path) -> list[str]:
    """Every committed stack: each Pulumi.<stack>.yaml is one cluster."""
    return sorted(m[1] for p in root.glob("Pulumi.*.yaml") if (m := STACK_FILE.fullmatch(p.name)))


def qualify(key: str, project: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def is_secure(value: Any) -> bool:
    """A value the engine keeps encrypted in the stack file (`{secure: v1:...}`)."""
    return isinstance(value, dict) and set(value) == {"secure"}


def secure_paths(value: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Where a config value holds encrypted values: the path of each, as keys from the top."""
    if is_secure(value):
        return [path]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in secure_paths(item, (*path, key))]
    return []


def project_values(root: Path) -> dict[str, Any]:
    """The values Pulumi.yaml sets for every stack (`value:`, not `default:`), by qualified key."""
    project_file = _load(root / "Pulumi.yaml")
    project = project_file["name"]
    return {
        qualify(key, project): spec["value"]
        for key, spec in (project_file.get("config") or {}).items()
        if isinstance(spec, dict) and "value" in spec
    }


# What stands in for each encrypted value where no passphrase is at hand (tests, `verify`).
SECRET_PLACEHOLDER = "placeholder-for-a-pulumi-secret"


def readable(config: dict[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
    """The config with a placeholder for each encrypted value, and the keys holding any (which
    the engine would hand the program as secrets)."""

    def substitute(value: Any) -> Any:
        if is_secure(value):
            return SECRET_PLACEHOLDER
        if isinstance(value, dict):
            return {k: substitute(v) for k, v in value.items()}
        return value

    return (
        {key: substitute(value) for key, value in config.items()},
        frozenset(key for key, value in config.items() if secure_paths(value)),
    )


def stack_config(root: Path, stack: str) -> dict[str, Any]:
    """Fully qualified key -> value (structured values stay structured; secrets stay encrypted)."""
    project_file = _load(root / "Pulumi.yaml")
    project = project_file["name"]
    merged: dict[str, Any] = {}
    for key, spec in (project_file.get("config") or {}).items():
        if isinstance(spec, dict) and ("value" in spec or "default" in spec):
            merged[qualify(key, project)] = spec.get("value", spec.get("default"))
        elif not isinstance(spec, dict):
            merged[qualify(key, project)] = spec
    path = root / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise FileNotFoundError(
            f"no stack file {path.name}: known stacks are {', '.join(stack_names(root))}"
        )
    for key, value in ((_load(path) or {}).get("config") or {}).items():
        merged[qualify(key, project)] = value
    return merged


def shared_clusters(root: Path) -> dict[str, list[str]]:
    """Clusters that more than one committed stack file names, with those stacks: each cluster's
    directories of the gitops tree belong to exactly one stack."""
    key = qualify("cluster", project_name(root))
    by_cluster: dict[str, list[str]] = {}
    for stack in stack_names(root):
        cluster = stack_config(root, stack).get(key)
        by_cluster.setdefault(str(cluster), []).append(stack)
    return {cluster: stacks for cluster, stacks in by_cluster.items() if len(stacks) > 1}
