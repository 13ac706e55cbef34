"""The SealedSecret from which the sealed-secrets controller makes hecate-secrets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

import pulumi

from . import naming, sealing
from .delivery import Target
from .kubernetes_object import Manifest, ObjectMeta
from .settings import Settings


class SecretTemplate(TypedDict):
    metadata: ObjectMeta
    type: str


class SealedSecretSpec(TypedDict):
    encryptedData: dict[str, pulumi.Input[str]]
    template: SecretTemplate


def sealed_secret(settings: Settings, encrypted_data: Mapping[str, pulumi.Input[str]]) -> Manifest:
    """hecate-secrets as the program renders it, around `encrypted_data` (ciphertext only)."""
    metadata: ObjectMeta = {
        "name": naming.SECRET,
        "namespace": naming.NAMESPACE,
        "labels": naming.labels(settings.cluster, "secrets"),
    }
    # The scope is read by the controller from these annotations.
    annotations = sealing.scope_annotations(settings.sealing_scope)
    if annotations:
        metadata["annotations"] = annotations
    spec: SealedSecretSpec = {
        "encryptedData": dict(sorted(encrypted_data.items())),
        # The Secret the controller produces: same name and namespace as the guide's.
        "template": {"metadata": metadata, "type": "Opaque"},
    }
    return {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": metadata,
        "spec": spec,
    }


class SealedSecrets(pulumi.ComponentResource):
    """hecate-secrets, sealed for one cluster's controller.

    Holds only ciphertext: values sealed beforehand with kubeseal
    (hecate:sealedSecrets) beside API keys the program seals itself from Pulumi
    secrets (hecate:apiKeys) with the cluster's certificate. Only the controller
    can open either.
    """

    sealed_secret: pulumi.CustomResource

    def __init__(
        self,
        name: str,
        settings: Settings,
        target: Target,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("hecate:index:SealedSecrets", name, None, opts)
        encrypted_data: dict[str, pulumi.Input[str]] = dict(settings.sealed_secrets)
        if settings.api_keys:
            # A dynamic provider: loaded only by stacks that seal.
            from .sealed_value import SealedValue

            assert settings.sealing_cert, "apiKeys without a sealingCert passed validation"

            for key, value in settings.api_keys.items():
                encrypted_data[key] = SealedValue(
                    key,
                    plaintext=pulumi.Output.secret(value.reveal()),
                    certificate=settings.sealing_cert,
                    scope=settings.sealing_scope,
                    namespace=naming.NAMESPACE,
                    name=naming.SECRET,
                    opts=pulumi.ResourceOptions(parent=self),
                ).ciphertext

        manifest = sealed_secret(settings, encrypted_data)
        self.encrypted_data = manifest["spec"]["encryptedData"]
        self.sealed_secret = target.declare(
            manifest, "sealed-secret.yaml", pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({"sealedSecret": naming.SECRET, "keys": sorted(encrypted_data)})
