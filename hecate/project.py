"""The project on disk: Pulumi.yaml, one Pulumi.<stack>.yaml per cluster, the environment
`make` gives pulumi, and a stack's settings as the program parses them.

The engine merges a stack's configuration over the project's for `pulumi up`; the tools that
run without the engine (`verify`, `fleet`, `adopt`, the mock tests) read it here, the one
place that parses stack files.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from . import naming, safe_yaml, settings
from .settings import ConfigError, Settings

ROOT = Path(__file__).resolve().parents[1]  # the project this package belongs to
# The Makefile's passphrase for the local file backend (.pulumi-state) only; a test keeps
# `make`'s environment and pulumi_env() in step.
LOCAL_PASSPHRASE = "hecate-local-state"


def _load(path: Path) -> Any:
    """Pulumi.yaml or a stack file, read with limits (hecate/safe_yaml.py)."""
    try:
        return safe_yaml.load(path.read_text(), path.name)
    except safe_yaml.YamlRefused as refused:
        raise ConfigError([str(refused)]) from None


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
    return values_of(_load(root / "Pulumi.yaml"))


def values_of(project_file: Mapping[str, Any]) -> dict[str, Any]:
    """project_values() of a Pulumi.yaml already read."""
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


def stack_file_document(path: Path) -> dict[str, Any]:
    """One stack file as written (nothing merged, secrets encrypted); {} when there is none."""
    return dict((_load(path) or {}) if path.is_file() else {})


def stack_file_config(path: Path) -> dict[str, Any]:
    """The `config:` block of one stack file, as written."""
    return dict(stack_file_document(path).get("config") or {})


def stack_file_with(path: Path, values: Mapping[str, Any]) -> str:
    """The stack file's text with these config keys set (a copy for `--config-file`)."""
    document = stack_file_document(path)
    document.setdefault("config", {}).update(values)
    return yaml.safe_dump(document, sort_keys=False, width=1 << 16)


class StackFileError(ValueError):
    """A stack file that cannot be changed as asked without changing more of it."""


# The value alone is rewritten: indentation and a trailing comment stay.
_VERSION_LINE = re.compile(r"^(\s+hecate:version:[ \t]*)[^\s#]+", re.MULTILINE)


def with_version(text: str, version: str, source: str) -> str:
    """The stack file's text with `hecate:version` set and nothing else changed (its comments
    kept): the line rewritten, or added under `config:`; checked by reading both back."""
    if _VERSION_LINE.search(text):
        changed = _VERSION_LINE.sub(lambda m: f"{m[1]}{version}", text, count=1)
    elif re.search(r"^config:[ \t]*$", text, re.MULTILINE):
        changed = re.sub(
            r"^config:[ \t]*$",
            f"config:\n  hecate:version: {version}",
            text,
            count=1,
            flags=re.MULTILINE,
        )
    else:
        changed = text.rstrip("\n") + f"\nconfig:\n  hecate:version: {version}\n"
    before = safe_yaml.load(text, source) or {}
    after = safe_yaml.load(changed, source) or {}
    key = naming.VERSION_KEY
    expected = {**before, "config": {**(before.get("config") or {}), key: version}}
    if after != expected:
        raise StackFileError(f"{source}: could not set {key} without changing more")
    return changed


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


def over_project(config: Mapping[str, Any], root: Path = ROOT) -> dict[str, Any]:
    """The engine replaces a project's object value whole with a stack's; put the stack's keys over
    the project's, key by key, so a stack that sets only `gitops.url` keeps the project's
    secretRef."""
    merged = dict(config)
    for name, project_value in project_values(root).items():
        stack_value = merged.setdefault(name, project_value)
        if isinstance(stack_value, str) and isinstance(project_value, dict):
            try:
                stack_value = json.loads(stack_value)
            except json.JSONDecodeError:
                continue  # not an object: the parser says so
        if isinstance(stack_value, dict) and isinstance(project_value, dict):
            merged[name] = json.dumps({**project_value, **stack_value})
    return merged


def settings_from(config: dict[str, Any], root: Path) -> Settings:
    """A stack's settings parsed the one way the program parses them, from its stack files'
    config, each encrypted value standing in as a secret (the tools need only their names)."""
    values, secret_names = readable(config)
    return settings.parse_config(over_project(values, root), secret_names)


def delivery(root: Path, stack: str) -> str:
    """How the stack reaches its cluster, `gitops` or `direct`: what the engine needs besides
    itself (`direct` alone needs the kubernetes provider, `make kubernetes-provider`)."""
    return settings_from(stack_config(root, stack), root).delivery


def running_settings() -> Settings:
    """Settings of the running stack, read from the engine's configuration."""
    from pulumi.runtime import config as runtime_config

    everything = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_names = frozenset(key for key in everything if runtime_config.is_config_secret(key))
    return settings.parse_config(over_project(everything), secret_names)


def pulumi_env(root: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment `make up` gives pulumi (see the Makefile): the local file backend and its
    passphrase unless the caller set a backend of their own, and the engine from the cache."""
    env = dict(os.environ if base is None else base)
    cache = naming.engine_cache(env)
    env["HECATE_CACHE"] = str(cache)
    local = f"file://{root.resolve()}/.pulumi-state"
    env.setdefault("PULUMI_BACKEND_URL", local)
    if env["PULUMI_BACKEND_URL"] == local and not env.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        env.setdefault("PULUMI_CONFIG_PASSPHRASE", LOCAL_PASSPHRASE)
    env.setdefault("PULUMI_HOME", str(cache / "pulumi-home"))
    env["PATH"] = f"{cache / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    env["PULUMI_DIY_BACKEND_NO_LEGACY_WARNING"] = "true"
    return env


class Project:
    """The project at `root`: its stacks, their files and settings, pulumi's environment."""

    def __init__(self, root: Path = ROOT):
        self.root = root.resolve()

    @property
    def name(self) -> str:
        return project_name(self.root)

    @property
    def stacks(self) -> list[str]:
        return stack_names(self.root)

    def stack_file(self, stack: str) -> Path:
        return self.root / f"Pulumi.{stack}.yaml"

    def config(self, stack: str) -> dict[str, Any]:
        """The stack's config merged over the project's, fully qualified."""
        return stack_config(self.root, stack)

    def settings(self, stack: str, **overrides: Any) -> Settings:
        """The stack's settings as committed (with these qualified keys set over them), or
        ConfigError naming the stack."""
        config = {**self.config(stack), **overrides}
        try:
            return settings_from(config, self.root)
        except ConfigError as error:
            raise ConfigError([f"stack {stack}: {p}" for p in error.problems]) from None

    def committed(self, stack: str, key: str) -> Any:
        """One key of the stack file itself (not merged), None when unset."""
        return stack_file_config(self.stack_file(stack)).get(key)

    def env(self) -> dict[str, str]:
        return pulumi_env(self.root)


if __name__ == "__main__":  # `python -m hecate.project delivery STACK`: for the Makefile
    import sys

    if sys.argv[1:2] != ["delivery"] or len(sys.argv) != 3:
        sys.exit("usage: python -m hecate.project delivery STACK")
    print(delivery(Path.cwd(), sys.argv[2]))
