"""The rollout's pre-flight (hecate/fleet/preflight.py): each cluster answering, the gate's
rights asked of the API server, and no token that expires before the plan's worst case, each
refused naming the stack, the cluster and what is missing. The same refusals on real clusters:
tests/local_fleet/test_waves_outages.py."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field

import pytest

from hecate.fleet.plan import parse_plan
from hecate.fleet.preflight import (
    GATE_NEEDS,
    PreflightError,
    check_access,
    check_tokens,
    token_expiry,
)

CLUSTERS = {"dev": "dev-cluster", "beam": "beam-cluster"}


def jwt(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


@dataclass
class FakeClient:
    context: str
    denied: set[tuple[str, str]] = field(default_factory=set)  # (verb, resource)
    down: bool = False
    bearer: str = ""
    asked: list[tuple] = field(default_factory=list)

    def may(self, verb, group, resource, namespace, name) -> bool:
        if self.down:
            raise ConnectionError("Connection refused")
        self.asked.append((verb, group, resource, namespace, name))
        return (verb, resource) not in self.denied

    def token(self) -> str:
        return self.bearer


def test_every_need_of_the_gate_is_asked_and_each_denied_one_named():
    clients = {
        "dev": FakeClient("dev-cluster"),
        "beam": FakeClient(
            "beam-cluster", denied={("get", "daemonsets"), ("patch", "kustomizations")}
        ),
    }
    with pytest.raises(PreflightError) as refused:
        check_access(clients, CLUSTERS)
    assert clients["dev"].asked == list(GATE_NEEDS)
    assert refused.value.problems == [
        "stack beam (beam-cluster): the identity of context 'beam-cluster' may not patch "
        "kustomizations/hecate in flux-system (the gate needs it: `hecate fleet "
        "kubeconfig` issues the fleet identity that may)",
        "stack beam (beam-cluster): the identity of context 'beam-cluster' may not get "
        "daemonsets/hecate-daemon in hecate (the gate needs it: `hecate fleet "
        "kubeconfig` issues the fleet identity that may)",
    ]


def test_a_cluster_that_does_not_answer_is_named_and_the_others_are_still_asked():
    clients = {"dev": FakeClient("dev-cluster", down=True), "beam": FakeClient("beam-cluster")}
    with pytest.raises(PreflightError) as refused:
        check_access(clients, CLUSTERS)
    assert refused.value.problems == [
        "stack dev (dev-cluster): the cluster cannot be reached (Connection refused)"
    ]
    assert clients["beam"].asked == list(GATE_NEEDS)


def test_all_granted_passes():
    check_access({s: FakeClient(c) for s, c in CLUSTERS.items()}, CLUSTERS)


def test_a_token_s_expiry_is_read_from_its_claims_and_anything_else_is_no_expiry():
    assert token_expiry(jwt({"exp": 2000000000})).timestamp() == 2000000000
    for token in ("", "not-a-jwt", jwt({"sub": "x"}), "a.!!!.b", jwt({"exp": "soon"})):
        assert token_expiry(token) is None, token


def test_a_token_that_expires_before_the_plan_s_worst_case_is_refused():
    plan = parse_plan(
        {
            "timeouts": {"gate": "5m"},
            "waves": [
                {"name": "dev", "stacks": ["dev"], "soak": "1m"},
                {"name": "beam", "stacks": ["beam"]},
            ],
        },
        ["dev", "beam"],
    )
    # Each wave's gate and soak, and one rollback's gate.
    assert plan.worst_case_seconds == (300 + 60) + (300 + 0) + 300
    soon, later = jwt({"exp": int(time.time()) + 600}), jwt({"exp": int(time.time()) + 7200})
    clients = {
        "dev": FakeClient("dev-cluster", bearer=later),
        "beam": FakeClient("beam-cluster", bearer=soon),
    }
    with pytest.raises(PreflightError) as refused:
        check_tokens(clients, CLUSTERS, plan.worst_case_seconds)
    [problem] = refused.value.problems
    assert problem.startswith(
        "stack beam (beam-cluster): the token of context 'beam-cluster' expires at "
    )
    assert "before the plan's worst case of 960 s" in problem
    assert "fleet kubeconfig --duration" in problem
    # A client certificate (no token), or a token that lasts: nothing to say.
    check_tokens({"dev": FakeClient("dev-cluster")}, CLUSTERS, 960)
    check_tokens({"dev": FakeClient("dev-cluster", bearer=later)}, CLUSTERS, 960)


def test_the_token_is_the_one_the_kubeconfig_gives_the_context_s_user(tmp_path):
    from hecate.fleet.cluster_health import ClusterClient

    token = jwt({"exp": 2000000000})
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": token}}, {"name": "v", "user": {}}],
                "contexts": [
                    {"name": "dev-cluster", "context": {"cluster": "c", "user": "u"}},
                    {"name": "certs", "context": {"cluster": "c", "user": "v"}},
                ],
            }
        )
    )
    assert ClusterClient("dev-cluster", str(kubeconfig)).token() == token
    assert ClusterClient("certs", str(kubeconfig)).token() == ""
