"""The fleet tool's identity as the program renders it: read-only but for the reconcile
request on the Flux objects it names, nothing on Secrets, and an admission policy that keeps
its patches to the reconcile annotation. (tests/local_fleet/test_fleet_identity.py proves the same
against a real API server.)"""

from __future__ import annotations

from hecate import fleet_identity
from testbed.mocks import committed, unsealed

RBAC = "kubernetes:rbac.authorization.k8s.io/v1"
ADMISSION = "kubernetes:admissionregistration.k8s.io/v1"
# Every object of the identity: file (in the gitops tree) → (type, name, namespace).
FILES = {
    "clusters/{cluster}/fleet-serviceaccount.yaml": (
        "kubernetes:core/v1:ServiceAccount",
        "hecate-fleet",
        "flux-system",
    ),
    "clusters/{cluster}/fleet-role.yaml": (f"{RBAC}:Role", "hecate-fleet-reconcile", "flux-system"),
    "clusters/{cluster}/fleet-rolebinding.yaml": (
        f"{RBAC}:RoleBinding",
        "hecate-fleet-reconcile",
        "flux-system",
    ),
    "clusters/{cluster}/fleet-clusterrole.yaml": (
        f"{RBAC}:ClusterRole",
        "hecate-fleet-nodes",
        None,
    ),
    "clusters/{cluster}/fleet-clusterrolebinding.yaml": (
        f"{RBAC}:ClusterRoleBinding",
        "hecate-fleet-nodes",
        None,
    ),
    "clusters/{cluster}/fleet-admission-policy.yaml": (
        f"{ADMISSION}:ValidatingAdmissionPolicy",
        "hecate-fleet-reconcile-only",
        None,
    ),
    "clusters/{cluster}/fleet-admission-policy-binding.yaml": (
        f"{ADMISSION}:ValidatingAdmissionPolicyBinding",
        "hecate-fleet-reconcile-only",
        None,
    ),
    "infrastructure/hecate/{cluster}/fleet-role.yaml": (
        f"{RBAC}:Role",
        "hecate-fleet-read",
        "hecate",
    ),
    "infrastructure/hecate/{cluster}/fleet-rolebinding.yaml": (
        f"{RBAC}:RoleBinding",
        "hecate-fleet-read",
        "hecate",
    ),
}
READ = {"get", "list", "watch"}


def rules(evaluation) -> list[dict]:
    return [
        rule
        for r in evaluation.kubernetes_objects()
        if r.manifest["kind"] in ("Role", "ClusterRole")
        for rule in r.manifest["rules"]
    ]


def test_the_identity_reads_and_patches_only_the_named_flux_objects(stack):
    found = rules(committed(stack))
    assert found, "no RBAC rendered"
    for rule in found:
        assert "secrets" not in rule["resources"] and "*" not in rule["resources"], rule
        assert "*" not in rule["verbs"] and "*" not in rule["apiGroups"], rule
        writes = set(rule["verbs"]) - READ
        if writes:
            # The one write: the reconcile request, on the sources and syncs it names.
            assert writes == {"patch"} and rule["resourceNames"], rule
            assert set(rule["resources"]) <= {"gitrepositories", "kustomizations"}, rule
            assert set(rule["resourceNames"]) <= {"flux-system", "hecate-gitops", "hecate"}


def test_each_binding_grants_its_role_to_the_fleet_service_account_alone():
    bindings = [
        r.manifest
        for r in unsealed("beam").kubernetes_objects()
        if r.manifest["kind"] in ("RoleBinding", "ClusterRoleBinding")
    ]
    assert len(bindings) == 3
    for binding in bindings:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "hecate-fleet", "namespace": "flux-system"}
        ]
        assert binding["roleRef"]["name"] == binding["metadata"]["name"]


def test_the_admission_policy_binds_the_fleet_identity_and_denies():
    objects = {r.manifest["kind"]: r.manifest for r in unsealed("beam").kubernetes_objects()}
    policy = objects["ValidatingAdmissionPolicy"]["spec"]
    assert policy["matchConditions"] == [
        {
            "name": "fleet-identity",
            "expression": "request.userInfo.username == "
            "'system:serviceaccount:flux-system:hecate-fleet'",
        }
    ]
    assert policy["matchConstraints"]["resourceRules"][0]["operations"] == [
        "CREATE",
        "UPDATE",
        "DELETE",
    ]
    # What a cluster reports is the stack's: no change at all to a notification object.
    assert policy["matchConstraints"]["resourceRules"][1] == {
        "apiGroups": ["notification.toolkit.fluxcd.io"],
        "apiVersions": ["*"],
        "operations": ["CREATE", "UPDATE", "DELETE"],
        "resources": ["providers", "alerts", "receivers"],
    }
    expressions = [v["expression"] for v in policy["validations"]]
    assert expressions[0] == "request.resource.group != 'notification.toolkit.fluxcd.io'"
    assert expressions[1] == "request.operation == 'UPDATE'"
    # Every part of an object that a patch could change has its own rule: the spec, each field
    # of metadata a user may set (an owner reference hands the object to the garbage
    # collector), and the annotations but the reconcile request.
    for field in (
        "spec",
        *(f"metadata.{f}" for f in ("labels", "ownerReferences", "finalizers", "generateName")),
    ):
        assert any(f"object.{field} == oldObject.{field}" in e for e in expressions), field
    assert fleet_identity.REQUESTED_AT in expressions[-1]
    binding = objects["ValidatingAdmissionPolicyBinding"]["spec"]
    assert binding == {"policyName": "hecate-fleet-reconcile-only", "validationActions": ["Deny"]}


def test_direct_delivery_renders_no_identity():
    from testbed.mocks import evaluate

    kinds = {
        r.manifest["kind"] for r in evaluate("beam", {"delivery": "direct"}).kubernetes_objects()
    }
    assert not kinds & {"ServiceAccount", "Role", "ValidatingAdmissionPolicy"}
