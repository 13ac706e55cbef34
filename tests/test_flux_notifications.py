"""What each cluster's Flux reports: a commit status named after the cluster, and alerts that
say which cluster sent them; off unless a stack asks; no credential anywhere in a stack file."""

from __future__ import annotations

import pytest

from hecate.settings import ConfigError, forge_address, parse
from testbed.mocks import evaluate, stack_names
from tests import schemas

PROVIDER = "kubernetes:notification.toolkit.fluxcd.io/v1beta3:Provider"
ALERT = "kubernetes:notification.toolkit.fluxcd.io/v1beta3:Alert"
NOTIFICATION_KINDS = (PROVIDER, ALERT)
GITOPS = "ssh://git@github.com/hecate-social/hecate-gitops.git"
STATUS = {"commitStatus": {"secretRef": "github-token"}, "gitops": {"url": GITOPS}}


def notification_objects(evaluation) -> dict[tuple[str, str], dict]:
    assert evaluation.error is None, evaluation.error
    return {
        (r.type.rsplit(":", 1)[1], r.name): r
        for r in evaluation.resources
        if r.type in NOTIFICATION_KINDS
    }


@pytest.mark.parametrize("stack", stack_names())
def test_a_committed_stack_reports_nothing_until_it_asks(stack):
    assert notification_objects(evaluate(stack)) == {}


def test_each_cluster_s_commit_status_is_named_after_it_so_none_overwrites_another():
    statuses = {}
    for stack in ("beam", "edge"):
        evaluation = evaluate(stack, STATUS)
        found = notification_objects(evaluation)
        assert set(found) == {
            ("Provider", "hecate-commit-status"),
            ("Alert", "hecate-commit-status"),
        }
        provider = found["Provider", "hecate-commit-status"].manifest
        cluster = f"{stack}-cluster"
        assert provider["metadata"]["namespace"] == "flux-system"
        assert provider["spec"] == {
            "type": "github",
            # The forge's address of the repository Flux pulls: ssh became https, .git dropped.
            "address": "https://github.com/hecate-social/hecate-gitops",
            "secretRef": {"name": "github-token"},
            "commitStatusExpr": f"'hecate/{cluster}'",
        }
        alert = found["Alert", "hecate-commit-status"].manifest
        # Only the Kustomization: it says whether this cluster applied the commit; a
        # GitRepository's fetch under the same name would overwrite a failure with a success.
        assert alert["spec"] == {
            "providerRef": {"name": "hecate-commit-status"},
            "eventSeverity": "info",
            "eventSources": [
                {"kind": "Kustomization", "name": "hecate", "namespace": "flux-system"}
            ],
        }
        files = {r.file for r in found.values()}
        assert files == {
            f"gitops/clusters/{cluster}/hecate-commit-status-provider.yaml",
            f"gitops/clusters/{cluster}/hecate-commit-status-alert.yaml",
        }
        for declared in found.values():
            assert schemas.problems(declared.manifest) == []
        statuses[stack] = provider["spec"]["commitStatusExpr"]
    assert len(set(statuses.values())) == 2


def test_a_commit_status_takes_the_forge_type_and_address_it_is_given():
    evaluation = evaluate(
        "beam",
        {
            "commitStatus": {
                "type": "gitlab",
                "address": "https://gitlab.example.com/platform/hecate-gitops",
                "secretRef": "gitlab-token",
            }
        },
    )
    provider = notification_objects(evaluation)["Provider", "hecate-commit-status"].manifest
    assert provider["spec"]["type"] == "gitlab"
    assert provider["spec"]["address"] == "https://gitlab.example.com/platform/hecate-gitops"
    assert schemas.problems(provider) == []


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("ssh://git@github.com/org/repo.git", "https://github.com/org/repo"),
        ("ssh://git@github.com:2222/org/repo", "https://github.com/org/repo"),
        ("https://gitea.example.com:8443/org/repo.git", "https://gitea.example.com:8443/org/repo"),
        ("http://127.0.0.1:8080/org/repo.git", "http://127.0.0.1:8080/org/repo"),
    ],
)
def test_the_forge_address_follows_from_the_repository_flux_pulls(url, address):
    assert forge_address(url) == address


def test_alerts_name_their_cluster_and_go_where_each_says():
    alerts = [
        {"type": "slack", "secretRef": "slack-webhook", "channel": "hecate-ops"},
        {"type": "generic", "address": "https://hooks.example.com/flux", "severity": "info"},
        {"type": "msteams", "secretRef": "teams-webhook"},
        {"type": "generic", "secretRef": "second-webhook"},
    ]
    found = notification_objects(evaluate("edge", {"alerts": alerts}))
    names = ["hecate-slack", "hecate-generic", "hecate-msteams", "hecate-generic-2"]
    assert set(found) == {(kind, n) for n in names for kind in ("Provider", "Alert")}
    assert found["Provider", "hecate-slack"].manifest["spec"] == {
        "type": "slack",
        "channel": "hecate-ops",
        "secretRef": {"name": "slack-webhook"},
    }
    assert found["Provider", "hecate-generic"].manifest["spec"] == {
        "type": "generic",
        "address": "https://hooks.example.com/flux",
    }
    for name, severity in zip(names, ["error", "info", "error", "error"], strict=True):
        spec = found["Alert", name].manifest["spec"]
        assert spec["providerRef"] == {"name": name}
        assert spec["eventSeverity"] == severity  # failures only, unless a stack asks for all
        assert [s["kind"] for s in spec["eventSources"]] == ["Kustomization", "GitRepository"]
        assert spec["eventMetadata"] == {"cluster": "edge-cluster"}
    for declared in found.values():
        assert schemas.problems(declared.manifest) == []


def test_a_stack_s_patches_reach_its_providers():
    patch = {
        "target": {"kind": "Provider", "name": "hecate-commit-status"},
        "mergePatch": {"spec": {"timeout": "20s"}},
    }
    evaluation = evaluate("beam", {**STATUS, "patches": [patch]})
    provider = notification_objects(evaluation)["Provider", "hecate-commit-status"].manifest
    assert provider["spec"]["timeout"] == "20s"


def problems_of(values: dict) -> list[str]:
    base = {"cluster": "beam-cluster", "version": "0.7.2", "gitops": {"url": GITOPS}}
    with pytest.raises(ConfigError) as refused:
        parse({**base, **values})
    return refused.value.problems


@pytest.mark.parametrize(
    ("values", "key", "says"),
    [
        (
            {"commitStatus": {"type": "github-app", "secretRef": "t"}},
            "hecate:commitStatus.type",
            "is not one of github, gitlab",
        ),
        (
            {"commitStatus": {"secretRef": "t", "address": "https://bot:hunter2@github.com/o/r"}},
            "hecate:commitStatus.address",
            "holds a credential",
        ),
        ({"commitStatus": {"type": "github"}}, "hecate:commitStatus.secretRef", "is required"),
        (
            {"commitStatus": {"secretRef": "t", "address": "http://github.com/o/r"}},
            "hecate:commitStatus.address",
            "http:// only on a loopback host",
        ),
        (
            {"commitStatus": {"secretRef": "t", "address": "https://github.com/o"}},
            "hecate:commitStatus.address",
            "names no repository",
        ),
        (
            {"alerts": [{"type": "pagerduty", "secretRef": "p"}]},
            "hecate:alerts[0].type",
            "is not one of slack, msteams, generic",
        ),
        ({"alerts": [{"type": "generic"}]}, "hecate:alerts[0]", "has no target"),
        ({"alerts": [{"type": "slack", "channel": "ops"}]}, "hecate:alerts[0]", "has no target"),
        (
            {"alerts": [{"type": "slack", "address": "https://hooks.slack.com/services/T0/B0/x"}]},
            "hecate:alerts[0].address",
            "its webhook URL is a credential",
        ),
        (
            {"alerts": [{"type": "generic", "address": "https://u:pw@hooks.example.com/x"}]},
            "hecate:alerts[0].address",
            "holds a credential",
        ),
        (
            {"alerts": [{"type": "generic", "secretRef": "w", "channel": "x"}]},
            "hecate:alerts[0].channel",
            "for slack only",
        ),
        (
            {"alerts": [{"type": "generic", "secretRef": "w", "severity": "warn"}]},
            "hecate:alerts[0].severity",
            "is not info",
        ),
        ({"alerts": {"type": "slack"}}, "hecate:alerts", "is not a list"),
        (
            {"delivery": "direct", "commitStatus": {"secretRef": "t"}},
            "hecate:commitStatus",
            "gitops delivery only",
        ),
        (
            {"delivery": "direct", "alerts": [{"type": "slack", "secretRef": "s"}]},
            "hecate:alerts",
            "gitops delivery only",
        ),
    ],
)
def test_a_bad_notification_setting_is_refused_naming_its_key(values, key, says):
    found = problems_of(values)
    assert any(p.startswith(f"{key}: ") and says in p for p in found), found


@pytest.mark.parametrize("where", ["commitStatus", "alerts"])
def test_a_token_in_a_stack_file_is_refused_and_never_shown(where):
    token = "ghp_" + "x7" * 18
    value = {"secretRef": "t", "token": token}
    found = problems_of(
        {where: value if where == "commitStatus" else [{"type": "generic", **value}]}
    )
    key = "hecate:commitStatus.token" if where == "commitStatus" else "hecate:alerts[0].token"
    assert any(p.startswith(f"{key}: is refused") for p in found), found
    assert token not in "\n".join(found)
    # Nothing declared: the program stops before any resource.
    evaluation = evaluate(
        "beam", {where: value if where == "commitStatus" else [{"type": "generic", **value}]}
    )
    assert evaluation.error is not None and evaluation.resources == []
    assert token not in str(evaluation.error)
