"""The fleet tool's identity: the one `hecate fleet` uses on a cluster, rendered with the
cluster's Flux sync so that Flux applies it: a ServiceAccount that can read what the gate and
`fleet status` read and ask Flux to reconcile, nothing more, enforced by the API server.

- RBAC: get/list/watch on the Flux objects, the daemon's DaemonSet, pods, their revisions and
  events, the SealedSecret and the nodes; `patch` only on the two Flux sources and syncs the
  reconcile request touches (by name). Nothing on Secrets, nothing that writes a workload.
- RBAC cannot narrow a patch to one annotation, so a ValidatingAdmissionPolicy lets this
  identity change nothing on those objects but `reconcile.fluxcd.io/requestedAt`: a stolen
  token cannot point Flux at another repository or path.

Where each object goes: the cluster-wide ones and those in flux-system with the Flux sync
(clusters/<cluster>/, applied by Flux's bootstrap sync); the Role in `hecate` with the daemon
(infrastructure/hecate/<cluster>/), after the namespace it lives in.
"""

from __future__ import annotations

from typing import Any

import pulumi

from . import naming
from .delivery import Target
from .settings import Settings

SERVICE_ACCOUNT = "hecate-fleet"
# One name per role (and its binding): what it grants, where.
RECONCILE_ROLE = "hecate-fleet-reconcile"  # flux-system: read Flux, request a reconcile
READ_ROLE = "hecate-fleet-read"  # hecate: read the daemon
NODES_ROLE = "hecate-fleet-nodes"  # cluster: read the nodes
USERNAME = f"system:serviceaccount:{naming.FLUX_NAMESPACE}:{SERVICE_ACCOUNT}"
POLICY = "hecate-fleet-reconcile-only"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
BOOTSTRAP = "flux-system"  # `flux bootstrap`'s own source and sync, reconciled first
READ = ["get", "list", "watch"]
RBAC = "rbac.authorization.k8s.io/v1"
ADMISSION = "admissionregistration.k8s.io/v1"
FLUX_GROUPS = ("source.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io")
# What a cluster reports (hecate:commitStatus, hecate:alerts) is the stack's alone: RBAC grants
# the identity nothing there, and the policy says so twice, as for creating a Flux object.
NOTIFICATION_GROUP = "notification.toolkit.fluxcd.io"
NOTIFICATION_KINDS = ("providers", "alerts", "receivers")


def _meta(settings: Settings, name: str, namespace: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "labels": naming.labels(settings.cluster, "fleet-access", name="hecate"),
    }
    if namespace:
        metadata["namespace"] = namespace
    return metadata


def _subjects() -> list[dict[str, str]]:
    return [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": naming.FLUX_NAMESPACE}]


def _role(settings: Settings, name: str, namespace: str | None, rules: list) -> dict[str, Any]:
    return {
        "apiVersion": RBAC,
        "kind": "Role" if namespace else "ClusterRole",
        "metadata": _meta(settings, name, namespace),
        "rules": rules,
    }


def _binding(settings: Settings, name: str, namespace: str | None) -> dict[str, Any]:
    return {
        "apiVersion": RBAC,
        "kind": "RoleBinding" if namespace else "ClusterRoleBinding",
        "metadata": _meta(settings, name, namespace),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role" if namespace else "ClusterRole",
            "name": name,
        },
        "subjects": _subjects(),
    }


# What a user may change in an object's metadata (ObjectMeta's fields that the API server does
# not maintain itself; name and namespace are immutable). The identity may change none of them
# but the reconcile annotation: an owner reference or a finalizer is as dangerous as a spec
# field (a dangling owner reference hands the object to the garbage collector).
USER_METADATA = ("generateName", "labels", "ownerReferences", "finalizers")


def _unchanged(field: str) -> str:
    """CEL: `field` (a path below object/oldObject) is absent from both, or equal in both."""
    new, old = f"object.{field}", f"oldObject.{field}"
    parent, _, name = field.rpartition(".")
    new_has = f"has(object.{parent}.{name})" if parent else f"has(object.{name})"
    old_has = f"has(oldObject.{parent}.{name})" if parent else f"has(oldObject.{name})"
    return f"{new_has} == {old_has} && (!{new_has} || {new} == {old})"


# CEL: every key of `a` other than requestedAt is in `b` with the same value.
def _same_but_requested_at(a: str, b: str) -> str:
    return (
        f"!has({a}.metadata.annotations) || {a}.metadata.annotations.all(k, k == '{REQUESTED_AT}'"
        f" || (has({b}.metadata.annotations) && k in {b}.metadata.annotations"
        f" && {b}.metadata.annotations[k] == {a}.metadata.annotations[k]))"
    )


def _on_update(expression: str) -> str:
    """Checked on an update only (a create or a delete has no object before or after it)."""
    return f"request.operation != 'UPDATE' || ({expression})"


def admission_validations() -> list[dict[str, str]]:
    """The policy's rules, one per part of the object that a request could change: the object
    after a change by the identity equals the object before it but for the reconcile
    annotation. `status` is the controllers' (its subresource is not granted, and an update of
    the object itself keeps the status it had)."""
    only = f"{SERVICE_ACCOUNT} may only request a reconcile"
    rules = [
        {
            "expression": f"request.resource.group != '{NOTIFICATION_GROUP}'",
            "message": f"{SERVICE_ACCOUNT} changes no Provider, Alert or Receiver: what a "
            "cluster reports, and to whom, is its stack's",
        },
        {
            "expression": "request.operation == 'UPDATE'",
            "message": f"{only}: it may neither create nor delete Flux objects",
        },
        {"expression": _on_update(_unchanged("spec")), "message": f"{only}: spec unchanged"},
    ]
    rules += [
        {
            "expression": _on_update(_unchanged(f"metadata.{name}")),
            "message": f"{only}: metadata.{name} unchanged",
        }
        for name in USER_METADATA
    ]
    annotations = (
        f"({_same_but_requested_at('object', 'oldObject')})"
        f" && ({_same_but_requested_at('oldObject', 'object')})"
    )
    rules.append(
        {
            "expression": _on_update(annotations),
            "message": f"{SERVICE_ACCOUNT} may change no annotation but {REQUESTED_AT}",
        }
    )
    return rules


def flux_side(settings: Settings) -> dict[str, dict[str, Any]]:
    """The objects of clusters/<cluster>/, by file name."""
    ns = naming.FLUX_NAMESPACE
    role_rules = [
        {
            "apiGroups": list(FLUX_GROUPS),
            "resources": ["gitrepositories", "kustomizations"],
            "verbs": READ,
        },
        {
            "apiGroups": ["source.toolkit.fluxcd.io"],
            "resources": ["gitrepositories"],
            "resourceNames": [BOOTSTRAP, naming.GIT_REPOSITORY],
            "verbs": ["patch"],
        },
        {
            "apiGroups": ["kustomize.toolkit.fluxcd.io"],
            "resources": ["kustomizations"],
            "resourceNames": [BOOTSTRAP, naming.KUSTOMIZATION],
            "verbs": ["patch"],
        },
        {"apiGroups": [""], "resources": ["events"], "verbs": READ},
    ]
    policy = {
        "apiVersion": ADMISSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": _meta(settings, POLICY),
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": list(FLUX_GROUPS),
                        "apiVersions": ["*"],
                        # Create and delete too: RBAC grants neither; this says so twice.
                        "operations": ["CREATE", "UPDATE", "DELETE"],
                        "resources": ["gitrepositories", "kustomizations"],
                    },
                    {
                        "apiGroups": [NOTIFICATION_GROUP],
                        "apiVersions": ["*"],
                        "operations": ["CREATE", "UPDATE", "DELETE"],
                        "resources": list(NOTIFICATION_KINDS),
                    },
                ]
            },
            "matchConditions": [
                {
                    "name": "fleet-identity",
                    "expression": f"request.userInfo.username == '{USERNAME}'",
                }
            ],
            "validations": admission_validations(),
        },
    }
    return {
        "fleet-serviceaccount.yaml": {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(settings, SERVICE_ACCOUNT, ns),
        },
        "fleet-role.yaml": _role(settings, RECONCILE_ROLE, ns, role_rules),
        "fleet-rolebinding.yaml": _binding(settings, RECONCILE_ROLE, ns),
        # Which nodes run no daemon pod, and why (taints, labels): the gate names them.
        "fleet-clusterrole.yaml": _role(
            settings,
            NODES_ROLE,
            None,
            [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}],
        ),
        "fleet-clusterrolebinding.yaml": _binding(settings, NODES_ROLE, None),
        "fleet-admission-policy.yaml": policy,
        "fleet-admission-policy-binding.yaml": {
            "apiVersion": ADMISSION,
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": _meta(settings, POLICY),
            "spec": {"policyName": POLICY, "validationActions": ["Deny"]},
        },
    }


def workload_side(settings: Settings) -> dict[str, dict[str, Any]]:
    """The objects of infrastructure/hecate/<cluster>/, by file name: reads in `hecate`."""
    ns = naming.NAMESPACE
    return {
        "fleet-role.yaml": _role(
            settings,
            READ_ROLE,
            ns,
            [
                {"apiGroups": [""], "resources": ["pods", "events"], "verbs": READ},
                {
                    "apiGroups": ["apps"],
                    "resources": ["daemonsets", "controllerrevisions"],
                    "verbs": READ,
                },
                {"apiGroups": ["bitnami.com"], "resources": ["sealedsecrets"], "verbs": READ},
            ],
        ),
        "fleet-rolebinding.yaml": _binding(settings, READ_ROLE, ns),
    }


class FleetIdentity(pulumi.ComponentResource):
    """The fleet tool's ServiceAccount, its RBAC and the admission policy that keeps its
    patches to the reconcile request (`flux_side`, `workload_side`). Its type keeps its first
    name, `hecate:index:FleetAccess`: it is in every stack's state (the resources' URNs)."""

    def __init__(
        self,
        name: str,
        settings: Settings,
        flux: Target,
        workloads: Target,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("hecate:index:FleetAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        for target, objects in ((flux, flux_side(settings)), (workloads, workload_side(settings))):
            for file_name, manifest in objects.items():
                target.declare(manifest, file_name, child)  # type: ignore[arg-type]
        self.register_outputs({"serviceAccount": f"{naming.FLUX_NAMESPACE}/{SERVICE_ACCOUNT}"})
