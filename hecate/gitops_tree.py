"""The gitops tree a stack renders into, checked before anything is declared.

For cluster C, Flux's multi-cluster layout:

    <gitopsDir>/
    ├── clusters/C/                    Flux's bootstrap syncs this directory
    │   ├── flux-system/               written by `flux bootstrap`; never touched here
    │   ├── hecate-gitrepository.yaml
    │   └── hecate-kustomization.yaml  → ./infrastructure/hecate/C
    └── infrastructure/hecate/C/
        ├── kustomization.yaml         lists the files below
        ├── namespace.yaml
        ├── configmap.yaml
        ├── daemonset.yaml
        └── sealed-secret.yaml         only when the stack seals values

Every file's first line names the stack that renders it; a stack refuses a cluster whose
directories hold another stack's files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import rendered_manifest
from .handmade_tree import KUSTOMIZE_FILES
from .settings import ConfigError, Settings


@dataclass(frozen=True)
class GitopsTree:
    root: str  # relative to the project when inside it, so the state holds no machine's paths
    stack: str

    def directory(self, relative: str) -> str:
        return os.path.normpath(os.path.join(self.root, relative))


def _inside(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def _in_git_work_tree(path: Path) -> bool:
    return any((candidate / ".git").exists() for candidate in (path, *path.parents))


def _owners(directory: Path) -> dict[str, str]:
    """The stack named by each rendered file directly in `directory` (not in subdirectories)."""
    found = {}
    for file in sorted(directory.glob("*.yaml")) if directory.is_dir() else ():
        try:
            with file.open(encoding="utf-8") as handle:
                stack = rendered_manifest.owner(handle.readline())
        except (OSError, UnicodeDecodeError):
            continue
        if stack:
            found[str(file)] = stack
    return found


def open_tree(settings: Settings, stack: str, project_dir: str) -> GitopsTree:
    """The stack's tree, or ConfigError when it may not render there."""
    key, value = "hecate:gitopsDir", settings.gitops_dir
    project = Path(project_dir).resolve()
    normalized = Path(os.path.normpath(os.path.join(project, value)))
    resolved = normalized.resolve()
    problems = []
    if resolved == Path(resolved.anchor):
        problems.append(
            f"{key}: {value!r} is the filesystem root; name the gitops checkout's directory"
        )
    elif resolved.exists() and not resolved.is_dir():
        problems.append(
            f"{key}: {value!r} is a file, not a directory; name the gitops checkout's directory"
        )
    elif not _inside(normalized, project) and not _in_git_work_tree(resolved):
        problems.append(
            f"{key}: {value!r} is outside the project and not inside a git work tree; "
            "name a checkout of the gitops repository (or a directory inside the project)"
        )
    if problems:
        raise ConfigError(problems)

    root = os.path.relpath(normalized, project) if _inside(normalized, project) else str(normalized)
    for directory in (settings.workloads_dir, settings.flux_dir):
        for file, other in _owners(normalized / directory).items():
            if other != stack:
                problems.append(
                    f"hecate:cluster: {settings.cluster!r} is rendered by stack {other!r} "
                    f"({file}); stack {stack!r} will not render over it. "
                    f"Give stack {stack!r} a cluster of its own, "
                    f"or destroy stack {other!r} first (`make destroy STACK={other}`)"
                )
                break
    problems += _shared_layout_above(normalized, settings)
    if problems:
        raise ConfigError(problems)
    return GitopsTree(root, stack)


def _shared_layout_above(tree: Path, settings: Settings) -> list[str]:
    """A directory above the stack's workloads that holds hand-made manifests (the guide's
    shared `infrastructure/hecate/`) and no kustomization file: Flux generates one there that
    takes in every directory below it, so rendering a cluster's directory inside it would
    break every cluster still synced from it."""
    workloads = Path(settings.workloads_dir)
    for above in workloads.parents:
        directory = tree / above
        if above == Path(".") or not directory.is_dir():
            continue
        if any((directory / name).is_file() for name in KUSTOMIZE_FILES):
            continue
        handmade = [
            f.name
            for f in sorted(directory.glob("*.y*ml"))
            if f.suffix in (".yaml", ".yml") and f.is_file() and str(f) not in _owners(directory)
        ]
        if handmade:
            return [
                f"hecate:cluster: {settings.cluster!r} renders into {workloads}/, below "
                f"{above}/, which holds hand-made manifests ({', '.join(handmade)}) and no "
                "kustomization.yaml: Flux would take the new directory into every cluster still "
                f"synced from {above}/ and fail them. Run `hecate adopt --stack "
                "<stack>` first (it lists the shared files in a kustomization.yaml)"
            ]
    return []
