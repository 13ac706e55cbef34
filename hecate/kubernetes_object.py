"""Any Kubernetes object, declared as its manifest.

Why not pulumi_kubernetes' generated classes: importing its core/v1 and apps/v1
packages takes about 0.7 s on every preview, as long as the rest of the
program's run. The engine and the Kubernetes provider see exactly the same
resource either way (type `kubernetes:<apiVersion>:<kind>`, the manifest's
fields as inputs), so the program writes each object the way the deployment
guide does, as its manifest, and pays only for the provider it uses.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

import pulumi


class ObjectMeta(TypedDict):
    name: str
    namespace: NotRequired[str]
    labels: NotRequired[dict[str, str]]
    annotations: NotRequired[dict[str, str]]


class Manifest(TypedDict):
    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: NotRequired[Any]
    data: NotRequired[dict[str, str]]


class KubernetesObject(pulumi.CustomResource):
    """One object, named by its manifest: the Pulumi resource takes the object's own name,
    and the object is never auto-named."""

    metadata: pulumi.Output[dict]

    def __init__(self, manifest: Manifest, opts: pulumi.ResourceOptions | None = None):
        # The provider plugin's version, as the generated classes pin it. Imported here: gitops
        # stacks never load pulumi_kubernetes.
        from pulumi_kubernetes import _utilities

        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(version=_utilities.get_version())
        )
        api_version = manifest["apiVersion"]
        # The core group has no name in apiVersion ("v1") but has one in the type token.
        group_version = api_version if "/" in api_version else f"core/{api_version}"
        super().__init__(
            f"kubernetes:{group_version}:{manifest['kind']}",
            manifest["metadata"]["name"],
            dict(manifest),
            opts,
        )
