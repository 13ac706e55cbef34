"""Where a component's objects go: files of the gitops tree, or a live cluster.

The components write each object as its manifest and hand it to a target; only the
target knows whether it becomes a file for Flux (`gitops` delivery) or an object applied
through the Kubernetes provider (`direct`).
"""

from __future__ import annotations

from typing import Any, Protocol

import pulumi

from .gitops_tree import GitopsTree
from .kubernetes_object import KubernetesObject, Manifest, ObjectMeta
from .rendered_manifest import resource_class

KUSTOMIZE_FILE = "kustomization.yaml"
# pulumi-kubernetes' own annotation: apply with force, overriding other field managers.
PATCH_FORCE = "pulumi.com/patchForce"
AWAIT_TIMEOUT = "pulumi.com/timeoutSeconds"


class Target(Protocol):
    def declare(
        self, manifest: Manifest, file_name: str, opts: pulumi.ResourceOptions
    ) -> pulumi.CustomResource:
        """Declare one object; `file_name` is its file in a gitops directory."""
        ...


class LiveCluster:
    """Objects applied to a cluster through one Kubernetes provider."""

    def __init__(self, provider: pulumi.ProviderResource, await_seconds: int | None = None):
        self.provider = provider
        self.await_seconds = await_seconds

    def declare(
        self, manifest: Manifest, file_name: str, opts: pulumi.ResourceOptions
    ) -> pulumi.CustomResource:
        # The stack is the source of truth: a field someone changed with kubectl is taken back
        # on the next `up` instead of failing it with a server-side apply conflict.
        annotations = {**manifest["metadata"].get("annotations", {}), PATCH_FORCE: "true"}
        if self.await_seconds is not None:
            # How long the provider waits for the object (the daemon's rollout) to be ready.
            annotations[AWAIT_TIMEOUT] = str(self.await_seconds)
        metadata: ObjectMeta = {**manifest["metadata"], "annotations": annotations}
        return KubernetesObject(
            {**manifest, "metadata": metadata},
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(provider=self.provider)),
        )


class GitopsDirectory:
    """One of a cluster's directories of the gitops tree; remembers the files it was given."""

    def __init__(self, tree: GitopsTree, relative: str):
        self.tree = tree
        self.relative = relative
        self.files: list[str] = []

    @property
    def path(self) -> str:
        return self.tree.directory(self.relative)

    def declare(
        self, manifest: Manifest, file_name: str, opts: pulumi.ResourceOptions
    ) -> pulumi.CustomResource:
        return self._file(manifest["metadata"]["name"], dict(manifest), file_name, opts)

    def declare_kustomization(self, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
        """kustomization.yaml listing every file declared so far: `kustomize build` and Flux use
        exactly those (Flux would otherwise generate one from whatever the directory holds)."""
        return self._file(
            "kustomization",
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": list(self.files),
            },
            KUSTOMIZE_FILE,
            opts,
        )

    def _file(
        self,
        resource_name: str,
        fields: dict[str, Any],
        file_name: str,
        opts: pulumi.ResourceOptions,
    ) -> pulumi.CustomResource:
        self.files.append(file_name)
        resource = resource_class(fields["apiVersion"], fields["kind"])
        return resource(
            resource_name,
            fields,
            root=self.tree.root,
            path=f"{self.relative}/{file_name}",
            stack=self.tree.stack,
            opts=opts,
        )
