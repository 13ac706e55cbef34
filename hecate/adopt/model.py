"""What adopt finds and plans: the plan, each change it makes, and its refusal."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..handmade_tree import (
    HandmadeCluster,
)

# Flux leaves an object with this annotation on the cluster when it leaves the inventory.
PRUNE_ANNOTATION = "kustomize.toolkit.fluxcd.io/prune"


SCOPE_ANNOTATION = "sealedsecrets.bitnami.com/"


SHARED_KUSTOMIZATION_HEADER = (
    "# Written by `hecate adopt`: the shared manifests of the guide's layout, listed so\n"
    "# that Flux builds only these for the clusters still synced from here, and not the\n"
    "# per-cluster directories below. Removed with them when the last cluster moves.\n"
)


class AdoptRefused(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Change:
    kind: str
    name: str
    op: str
    path: str
    value: Any = None
    before: Any = None

    def line(self) -> str:
        sign = {"add": "+", "remove": "-", "replace": "~"}.get(self.op, self.op)
        text = f"{sign} {self.kind}/{self.name} {self.path}"
        if self.op == "replace":
            return f"{text}: {short(self.before)} → {short(self.value)}"
        return f"{text}: {short(self.value)}" if self.op == "add" else text


@dataclass
class Plan:
    stack: str
    cluster: str
    gitops: Path
    handmade: HandmadeCluster
    config: dict[str, Any]  # the stack's hecate: settings, fully qualified
    patches: list[dict[str, Any]]
    kept_by_patch: list[Change]  # hand-made fields no setting expresses
    changes: list[Change]  # what the first `make up` changes on the cluster
    notes: list[str]
    shared_users: list[str]  # clusters other than this one still on the shared files
    remove_shared: bool
    write: dict[str, str] = field(default_factory=dict)  # path (gitops-relative) → text
    remove: list[str] = field(default_factory=list)  # gitops-relative


def short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 72 else f"{text[:69]}..."
