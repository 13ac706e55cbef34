"""A gitops tree laid out as the deployment guide builds it by hand, from the guide's own
manifests (tests/data/guide): the shared files in infrastructure/hecate/ with no
kustomization.yaml, and per cluster a clusters/<cluster>/hecate-kustomization.yaml pointing at
them, with the cluster's own `spec.patches` (the guide's "cluster-specific patches")."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from tests import guide

SHARED = "infrastructure/hecate"
SHARED_FILES = ("namespace.yaml", "configmap.yaml", "daemonset.yaml")


def sealed_secret(encrypted: dict[str, str]) -> dict[str, Any]:
    """hecate-secrets as `kubeseal --format yaml` writes it (strict scope)."""
    metadata = {"creationTimestamp": None, "name": "hecate-secrets", "namespace": "hecate"}
    return {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": metadata,
        "spec": {"encryptedData": encrypted, "template": {"metadata": dict(metadata)}},
    }


def sealed_values_patch(encrypted: dict[str, str]) -> dict[str, Any]:
    """A cluster's own sealed values over the shared SealedSecret: sealed for its controller."""
    patch = {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": {"name": "hecate-secrets"},
        "spec": {"encryptedData": encrypted},
    }
    return {"patch": yaml.safe_dump(patch), "target": {"kind": "SealedSecret"}}


def pod_annotation_patch(key: str, value: str) -> dict[str, Any]:
    """A field no setting expresses: an annotation on the daemon's pods, as a JSON 6902 patch."""
    escaped = key.replace("~", "~0").replace("/", "~1")
    operations = [
        {"op": "add", "path": "/spec/template/metadata/annotations", "value": {}},
        {"op": "add", "path": f"/spec/template/metadata/annotations/{escaped}", "value": value},
    ]
    return {"patch": yaml.safe_dump(operations), "target": {"kind": "DaemonSet"}}


def kustomization(patches: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    written = copy.deepcopy(guide.manifests()["clusters/beam-cluster/hecate-kustomization.yaml"])
    if patches:
        written["spec"]["patches"] = patches
    return written


def write(
    gitops: Path,
    shared_encrypted: dict[str, str] | None,
    clusters: dict[str, list[dict[str, Any]]],
    daemon_set: dict[str, Any] | None = None,
) -> None:
    """The guide's layout into `gitops`: the shared files (the SealedSecret when
    `shared_encrypted`), and each cluster's Kustomization with its patches."""
    shared = gitops / SHARED
    shared.mkdir(parents=True, exist_ok=True)
    manifests = guide.manifests()
    for name in SHARED_FILES:
        manifest = manifests[f"{SHARED}/{name}"]
        if name == "daemonset.yaml" and daemon_set is not None:
            manifest = daemon_set
        (shared / name).write_text(yaml.safe_dump(manifest, sort_keys=False))
    if shared_encrypted is not None:
        (shared / "sealed-secret.yaml").write_text(
            yaml.safe_dump(sealed_secret(shared_encrypted), sort_keys=False)
        )
    for cluster, patches in clusters.items():
        directory = gitops / "clusters" / cluster
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "hecate-kustomization.yaml").write_text(
            yaml.safe_dump(kustomization(patches), sort_keys=False)
        )
