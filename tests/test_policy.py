"""The policy pack's rules (policy/rules.py) on passing and failing resources, and on what the
program declares."""

from __future__ import annotations

import copy
import importlib.util

import pytest

from testbed.mocks import ROOT, committed, evaluate

_spec = importlib.util.spec_from_file_location("hecate_policy_rules", ROOT / "policy" / "rules.py")
rules = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rules)

DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
KUSTOMIZATION = rules.KUSTOMIZATION
RESOURCE_RULES = [
    rules.pinned_images,
    rules.resources_and_probes,
    rules.host_access,
    rules.git_source,
    rules.kustomization,
    rules.hardened_containers,
]


@pytest.fixture
def declared(evaluation):
    return [(d.type, d.manifest) for d in evaluation.kubernetes_objects()]


def test_every_committed_stack_complies(declared, evaluation):
    for resource_type, props in declared:
        for rule in RESOURCE_RULES:
            assert rule(resource_type, props) == [], (rule.__name__, resource_type)
    assert rules.source_declared(declared) == []
    for d in evaluation.kubernetes_objects():
        assert rules.plaintext_secret(d.registered_type) == []
        assert rules.object_type(d.registered_type) == d.type


def daemon(evaluation):
    return copy.deepcopy(evaluation.get(DAEMON_SET, "hecate-daemon").manifest)


def containers(props):
    return props["spec"]["template"]["spec"]["containers"]


@pytest.mark.parametrize(
    "image, pinned",
    [
        ("ghcr.io/hecate-social/hecate-daemon:0.7.2", True),
        ("ghcr.io/hecate-social/hecate-daemon:v1.2", True),
        ("registry:5000/hecate@sha256:" + "a" * 64, True),
        ("ghcr.io/hecate-social/hecate-daemon:latest", False),
        ("ghcr.io/hecate-social/hecate-daemon", False),
        ("registry:5000/hecate-daemon", False),
    ],
)
def test_pinned_images(evaluation, image, pinned):
    props = daemon(evaluation)
    containers(props)[0]["image"] = image
    assert (rules.pinned_images(DAEMON_SET, props) == []) is pinned


@pytest.mark.parametrize(
    "remove",
    [
        ("resources", "limits", "cpu"),
        ("resources", "requests", "memory"),
        ("livenessProbe",),
        ("readinessProbe",),
    ],
)
def test_resources_and_probes(evaluation, remove):
    props = daemon(evaluation)
    target = containers(props)[0]
    for key in remove[:-1]:
        target = target[key]
    del target[remove[-1]]
    assert len(rules.resources_and_probes(DAEMON_SET, props)) == 1


def test_host_access(evaluation):
    props = daemon(evaluation)
    props["spec"]["template"]["spec"]["volumes"].append(
        {"name": "etc", "hostPath": {"path": "/etc"}}
    )
    assert ["'/etc'" in m for m in rules.host_access(DAEMON_SET, props)] == [True]
    other = daemon(evaluation)
    other["metadata"]["name"] = "sidecar"
    assert (
        "hostNetwork is allowed only on the hecate daemon"
        in rules.host_access(DAEMON_SET, other)[0]
    )
    pod = {
        "metadata": {"name": "debug", "namespace": "hecate"},
        "spec": {"hostNetwork": True, "containers": []},
    }
    assert rules.host_access("kubernetes:core/v1:Pod", pod) != []


def test_plaintext_secret_only_matters_in_gitops():
    assert rules.plaintext_secret("pulumi-python:dynamic/gitops/core/v1:Secret") != []
    assert rules.plaintext_secret(rules.SECRET) == []  # applied to a cluster: never in git
    assert (
        rules.plaintext_secret("pulumi-python:dynamic/gitops/bitnami.com/v1alpha1:SealedSecret")
        == []
    )


def test_rendered_objects_are_checked_as_their_kubernetes_kind():
    assert (
        rules.object_type("pulumi-python:dynamic/gitops/apps/v1:DaemonSet")
        == "kubernetes:apps/v1:DaemonSet"
    )
    assert rules.object_type("kubernetes:apps/v1:DaemonSet") == "kubernetes:apps/v1:DaemonSet"


def test_flux_rules(evaluation, declared):
    source = copy.deepcopy(evaluation.get(rules.GIT_REPOSITORY, "hecate-gitops").manifest)
    source["spec"]["url"] = "git@github.com:hecate-social/hecate-gitops"
    assert rules.git_source(rules.GIT_REPOSITORY, source) != []
    source["spec"]["url"] = "http://git.example.com/hecate-gitops"
    assert rules.git_source(rules.GIT_REPOSITORY, source) != []
    source["spec"]["url"] = "http://127.0.0.1:8080/hecate-gitops"  # the local test bed's
    assert rules.git_source(rules.GIT_REPOSITORY, source) == []

    kustomization = copy.deepcopy(evaluation.get(KUSTOMIZATION, "hecate").manifest)
    kustomization["spec"]["prune"] = False
    assert any("prune" in m for m in rules.kustomization(KUSTOMIZATION, kustomization))
    kustomization["spec"]["prune"] = True
    del kustomization["spec"]["healthChecks"]
    assert any("health check" in m for m in rules.kustomization(KUSTOMIZATION, kustomization))
    kustomization["spec"]["wait"] = True
    assert rules.kustomization(KUSTOMIZATION, kustomization) == []

    kustomization["spec"]["sourceRef"] = {"kind": "GitRepository", "name": "elsewhere"}
    others = [(t, p) for t, p in declared if t != KUSTOMIZATION]
    assert rules.source_declared([*others, (KUSTOMIZATION, kustomization)]) != []


def test_hardening_is_advised_when_turned_off():
    plain = evaluate("beam", {"hardened": False})
    messages = rules.hardened_containers(
        DAEMON_SET, plain.get(DAEMON_SET, "hecate-daemon").manifest
    )
    assert len(messages) == 4
    props = daemon(committed("beam"))
    containers(props)[0]["volumeMounts"] = [
        m for m in containers(props)[0]["volumeMounts"] if m["name"] != "tmp"
    ]
    assert ["no emptyDir at /tmp" in m for m in rules.hardened_containers(DAEMON_SET, props)] == [
        True
    ]


NOTIFYING = {
    "commitStatus": {"secretRef": "github-token"},
    "alerts": [
        {"type": "slack", "secretRef": "slack-webhook"},
        {"type": "generic", "address": "https://hooks.example.com/flux"},
    ],
}


def test_notification_rules():
    evaluation = evaluate("beam", NOTIFYING)
    assert evaluation.error is None, evaluation.error
    declared = [(d.type, d.manifest) for d in evaluation.kubernetes_objects()]
    # What the program renders from good settings complies.
    providers = {p["metadata"]["name"]: p for t, p in declared if t == rules.PROVIDER}
    assert set(providers) == {"hecate-commit-status", "hecate-slack", "hecate-generic"}
    for props in providers.values():
        assert rules.notification_provider(rules.PROVIDER, props) == []
    assert rules.alert_provider_declared(declared) == []

    def refused(provider: str, spec: dict) -> list[str]:
        props = copy.deepcopy(providers[provider])
        props["spec"].update(spec)
        return rules.notification_provider(rules.PROVIDER, props)

    assert any(
        "credential" in m for m in refused("hecate-generic", {"address": "https://u:p@h.example/x"})
    )
    assert any(
        "not https" in m for m in refused("hecate-generic", {"address": "http://h.example/x"})
    )
    assert refused("hecate-generic", {"address": "http://127.0.0.1:9000/x"}) == []  # the test bed's
    assert any(
        "webhook URL is a credential" in m
        for m in refused("hecate-slack", {"address": "https://hooks.slack.com/services/T/B/x"})
    )
    forge = copy.deepcopy(providers["hecate-commit-status"])
    del forge["spec"]["secretRef"]
    assert any("needs secretRef" in m for m in rules.notification_provider(rules.PROVIDER, forge))

    alert = next(p for t, p in declared if t == rules.ALERT)
    stray = copy.deepcopy(alert)
    stray["spec"]["providerRef"] = {"name": "elsewhere"}
    found = rules.alert_provider_declared([*declared, (rules.ALERT, stray)])
    assert len(found) == 1 and "'elsewhere' is not a Provider this stack declares" in found[0]
