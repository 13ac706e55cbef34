"""The SealedSecret from which the sealed-secrets controller makes hecate-secrets."""

from __future__ import annotations

from typing import Mapping, Optional, TypedDict

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from . import naming
from .settings import Settings


class SecretTemplate(TypedDict):
    metadata: dict
    type: str


class SealedSecretSpec(TypedDict):
    encryptedData: dict[str, str]
    template: SecretTemplate


class SealedSecrets(pulumi.ComponentResource):
    """hecate-secrets, sealed for one cluster's controller.

    Holds only ciphertext: what kubeseal (or the program) sealed with the
    cluster's public certificate. The controller alone can open it.
    """

    sealed_secret: k8s.apiextensions.CustomResource

    def __init__(self, name: str, settings: Settings, encrypted_data: Mapping[str, str],
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("hecate:index:SealedSecrets", name, None, opts)
        secret_labels = naming.labels(settings.cluster, "secrets")
        spec: SealedSecretSpec = {
            "encryptedData": dict(sorted(encrypted_data.items())),
            # The Secret the controller produces: same name and namespace as the guide's.
            "template": {
                "metadata": {"name": naming.SECRET, "namespace": naming.NAMESPACE, "labels": secret_labels},
                "type": "Opaque",
            },
        }
        self.sealed_secret = k8s.apiextensions.CustomResource(
            naming.SECRET,
            api_version="bitnami.com/v1alpha1",
            kind="SealedSecret",
            metadata=ObjectMetaArgs(name=naming.SECRET, namespace=naming.NAMESPACE, labels=secret_labels),
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"sealedSecret": naming.SECRET, "keys": sorted(encrypted_data)})
