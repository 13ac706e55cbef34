"""One Kubernetes object rendered as one file of the gitops tree, with a real read and diff.

Why not pulumi-kubernetes' renderYamlToDirectory: that provider answers reads from the state
and never looks at its files, so a deleted or hand-edited file went unseen by preview and up,
refresh failed for want of a cluster, and the files bore the provider's names. This resource
owns one file. Preview, up and refresh compare the file on disk with what the program
renders, and up writes it back byte for byte.

The resource's inputs are the manifest's own fields (apiVersion, kind, metadata, spec...)
beside where the file goes (root, path) and which stack owns it, so a preview shows a
rollout as the DaemonSet's image changing. Its type names the object's kind, e.g.
`pulumi-python:dynamic/gitops/apps/v1:DaemonSet`.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from typing import Any

import pulumi
import yaml
from pulumi.dynamic import (
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

# Where the file is and who owns it; every other input is a field of the manifest.
FILE_KEYS = ("root", "path", "stack")
# Set by check() when the file on disk is not what the stack last wrote, so that previews say so.
DRIFT = "drift"
TYPE_MODULE = "gitops"
_FIRST_FIELDS = ("apiVersion", "kind", "metadata")
_OWNER = re.compile(r'^# Rendered by hecate stack "([^"]+)"')


def header(stack: str) -> str:
    return f'# Rendered by hecate stack "{stack}": change Pulumi.{stack}.yaml, not this file.'


def owner(text: str) -> str | None:
    """The stack a rendered file's first line names, or None for a file no stack rendered."""
    match = _OWNER.match(text)
    return match.group(1) if match else None


def _canonical(value: Any) -> Any:
    """Keys sorted at every level; whole numbers as integers (the engine sends floats)."""
    if isinstance(value, Mapping):
        return {key: _canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def manifest_of(props: Mapping[str, Any]) -> dict[str, Any]:
    """The object itself: the inputs minus the file's keys and the engine's own (`__provider`)."""
    return {
        k: v
        for k, v in props.items()
        if k not in FILE_KEYS and k != DRIFT and not k.startswith("__")
    }


# Plain scalars that YAML 1.2's core schema, as Go's yaml.v3 resolves it (kustomize, and so Flux),
# reads as numbers: integers in any base (underscores dropped, a leading 0 too) and floats.
# PyYAML writes YAML 1.1, where `1e3`, `0o17` and `08` are strings, and leaves them plain.
_YAML12_INT = re.compile(r"[-+]?(0[bB][01]+|0[oO][0-7]+|0[xX][0-9a-fA-F]+|[0-9]+)", re.ASCII)
_YAML12_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?", re.ASCII)


class _Dumper(yaml.SafeDumper):
    """Strings a YAML 1.2 reader would take for numbers are quoted, so that kustomize reads
    every rendered string as exactly that string."""


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if _YAML12_INT.fullmatch(value.replace("_", "")) or _YAML12_FLOAT.fullmatch(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_str(value)


_Dumper.add_representer(str, _represent_text)


def to_yaml(value: Any) -> str:
    """YAML that both YAML 1.1 (PyYAML) and YAML 1.2 (yaml.v3: kustomize, Flux) read alike."""
    return yaml.dump(value, Dumper=_Dumper, sort_keys=False, width=1 << 16)


def render(props: Mapping[str, Any]) -> str:
    """The file's exact text: the owner's line, then the object, apiVersion/kind/metadata first."""
    manifest = _canonical(manifest_of(props))
    ordered = {key: manifest[key] for key in (*_FIRST_FIELDS, *manifest) if key in manifest}
    return f"{header(props['stack'])}\n{to_yaml(ordered)}"


def file_path(props: Mapping[str, Any]) -> str:
    return os.path.join(props["root"], props["path"])


def _on_disk(props: Mapping[str, Any]) -> str | None:
    try:
        with open(file_path(props), encoding="utf-8") as file:
            return file.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except UnicodeDecodeError:
        return ""  # not text: certainly not what the stack rendered


def drift(props: Mapping[str, Any]) -> str | None:
    """How the file differs from what `props` renders, or None when it holds exactly that."""
    text = _on_disk(props)
    if text is None:
        return f"{file_path(props)} is missing"
    if text != render(props):
        return (
            f"{file_path(props)} differs from what the stack renders "
            "(edited or replaced outside Pulumi)"
        )
    return None


def _write(props: Mapping[str, Any]) -> dict[str, Any]:
    path = file_path(props)
    present = _on_disk(props)
    if present is not None and owner(present) not in (None, props["stack"]):
        raise RuntimeError(
            f"{path} is rendered by stack {owner(present)!r}; "
            f"stack {props['stack']!r} will not write over it"
        )
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Written whole or not at all: a killed run never leaves half a file for Flux.
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        file.write(render(props))
    os.replace(temporary, path)
    return _state(props)


def _state(props: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in props.items() if key != DRIFT and not key.startswith("__")}


def _comparable(props: Mapping[str, Any]) -> dict[str, Any]:
    return _canonical(_state(props))


def _same_file(olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
    return os.path.realpath(file_path(olds)) == os.path.realpath(file_path(news))


class RenderedManifestProvider(ResourceProvider):
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs = {key: value for key, value in news.items() if key != DRIFT}
        if olds and (found := drift(olds)):
            # Shown by preview as `+ drift: ...` beside the object's own changes.
            inputs[DRIFT] = found
        return CheckResult(inputs, [])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        moved = [key for key in ("root", "path") if olds.get(key) != news.get(key)]
        # Another spelling of the same file (./gitops, $PWD/gitops) is rewritten in place.
        replaces = [] if not moved or _same_file(olds, news) else moved
        changes = (
            bool(replaces) or _comparable(olds) != _comparable(news) or drift(news) is not None
        )
        # Delete first: were old and new ever the same file after all, it is written last.
        return DiffResult(
            changes=changes, replaces=replaces, stables=[], delete_before_replace=True
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=file_path(props), outs=_write(props))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_write(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        text = _on_disk(props)
        if text is None:
            return ReadResult(
                None, {}
            )  # gone: refresh drops it from the state, the next up writes it
        where = {key: props[key] for key in FILE_KEYS}
        try:
            documents = list(yaml.safe_load_all(text))
        except yaml.YAMLError:
            documents = []
        if len(documents) == 1 and isinstance(documents[0], dict):
            state = {**documents[0], **where}
            if render(state) != text:
                state[DRIFT] = f"{file_path(props)} is not formatted as the stack renders it"
        else:
            state = {**where, DRIFT: f"{file_path(props)} is not one YAML object"}
        return ReadResult(id_, state, state)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        path = file_path(props)
        text = _on_disk(props)
        # Only a file that still names this stack: whatever else stands there now is not ours.
        if text is not None and owner(text) == props["stack"]:
            os.remove(path)
        root = os.path.normpath(props["root"])
        directory = os.path.dirname(os.path.normpath(path))
        while directory != root and directory.startswith(root + os.sep):
            try:
                os.rmdir(directory)  # only while empty: a flux-system/ or README beside it stays
            except OSError:
                break
            directory = os.path.dirname(directory)


_PROVIDER = RenderedManifestProvider()


class RenderedManifest(pulumi.dynamic.Resource):
    """A file of the gitops tree holding one object; subclassed per kind for the resource type."""

    def __init__(
        self,
        resource_name: str,
        manifest: Mapping[str, Any],
        *,
        root: str,
        path: str,
        stack: str,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(
            _PROVIDER, resource_name, {**manifest, "root": root, "path": path, "stack": stack}, opts
        )


@functools.cache
def resource_class(api_version: str, kind: str) -> type[RenderedManifest]:
    """RenderedManifest typed `pulumi-python:dynamic/gitops/<group>/<version>:<Kind>`."""
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return type(kind, (RenderedManifest,), {}, module=f"{TYPE_MODULE}/{group_version}", name=kind)
