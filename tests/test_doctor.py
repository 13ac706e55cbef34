"""`hecate doctor`'s project items and its reading of a token, without a cluster (the clusters'
items are run on the local fleet: tests/local_fleet/test_waves_doctor.py)."""

from __future__ import annotations

import base64
import json
import subprocess
import time

import pytest

from hecate import doctor
from hecate.fleet.cluster_health import ClusterClient
from hecate.fleet.stacks import FleetProject
from tests.fake_api import TOKEN, fake_api_server


def project_items(root) -> dict[str, doctor.Finding]:
    project = FleetProject(root)
    targets = [project.target(s) for s in project.stacks]
    return {f.check: f for f in doctor.project_findings(project, targets)}


def gitops_url(root) -> str:
    return FleetProject(root).target("beam").settings.gitops.url


def test_a_missing_checkout_says_how_to_clone_it(committed_copy):
    found = project_items(committed_copy)["gitops checkout gitops"]
    assert not found.ok and found.detail == "not a git checkout with an `origin`"
    assert found.fix == f"git clone {gitops_url(committed_copy)} gitops"


def test_a_checkout_of_another_repository_is_named_with_both_urls(committed_copy):
    checkout = committed_copy / "gitops"
    subprocess.run(["git", "init", "-q", str(checkout)], check=True)
    other = "https://github.com/someone-else/gitops.git"
    subprocess.run(["git", "-C", str(checkout), "remote", "add", "origin", other], check=True)
    found = project_items(committed_copy)["gitops checkout gitops"]
    url = gitops_url(committed_copy)
    assert not found.ok and found.detail == f"its origin is {other}, but hecate:gitops.url is {url}"
    assert found.fix.startswith(f"git -C gitops remote set-url origin {url}")
    subprocess.run(["git", "-C", str(checkout), "remote", "set-url", "origin", url + ".git"])
    assert project_items(committed_copy)["gitops checkout gitops"].ok  # `.git` or not, the same
    scp_like = url.replace("ssh://git@github.com/", "git@github.com:") + ".git"
    subprocess.run(["git", "-C", str(checkout), "remote", "set-url", "origin", scp_like])
    assert project_items(committed_copy)["gitops checkout gitops"].ok, scp_like


def test_the_policy_pack_s_environment_is_looked_for_in_the_project(committed_copy):
    found = project_items(committed_copy)["policy pack"]
    assert not found.ok and found.fix == "make tools"


def test_the_kubernetes_provider_is_asked_for_only_where_a_stack_delivers_direct(
    committed_copy, tmp_path, monkeypatch
):
    monkeypatch.setenv("HECATE_CACHE", str(tmp_path / "cache"))
    assert "kubernetes provider" not in project_items(committed_copy)  # every stack gitops
    edge = committed_copy / "Pulumi.edge.yaml"
    edge.write_text(edge.read_text() + "  hecate:delivery: direct\n")
    found = project_items(committed_copy)["kubernetes provider"]
    assert not found.ok and found.fix == "make kubernetes-provider"
    assert found.detail.endswith("and edge delivers direct")
    (tmp_path / "cache" / "pulumi-home" / "plugins" / "resource-kubernetes-v4.25.0").mkdir(
        parents=True
    )
    found = project_items(committed_copy)["kubernetes provider"]
    assert found.ok and found.detail.startswith("resource-kubernetes-v4.25.0 in ")


def jwt(expires_in: float) -> str:
    claims = base64.urlsafe_b64encode(json.dumps({"exp": int(time.time() + expires_in)}).encode())
    return f"e30.{claims.decode().rstrip('=')}.sig"


class Token:
    def __init__(self, token: str):
        self._token = token

    def token(self) -> str:
        return self._token


@pytest.mark.parametrize(
    ("expires_in", "ok", "said"),
    [
        (-60, False, "expired at "),
        (300, False, "before the rollout plan's worst case of 960 s"),
        (86400, True, "(in 23 h)"),
        (None, True, "no expiry to check"),  # not a JWT
    ],
)
def test_a_token_is_judged_against_the_plan_s_worst_case(expires_in, ok, said):
    # Made when the test runs, not when it is collected: the suite takes most of an hour.
    token = "not-a-jwt" if expires_in is None else jwt(expires_in)
    found: list[tuple] = []
    doctor.token_check(Token(token), 960, lambda *a: found.append(a))  # type: ignore[arg-type]
    [(check, passed, detail, fix)] = found
    assert (check, passed) == ("token", ok) and said in detail, detail
    assert (fix == "") == ok


def test_a_sealing_cert_url_must_name_its_stack_and_an_http_url(committed_copy, capsys):
    code = doctor.main(["--root", str(committed_copy), "--sealing-cert-url", "beam"])
    assert code == 2
    assert "--sealing-cert-url 'beam': not STACK=URL (an http(s) URL)" in capsys.readouterr().err


CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


# What the doctor asks of an API server without a typed method: its version, discovery, and
# the service proxy to the sealed-secrets controller; anything else is a 404.
ANSWERS = {
    "/version": {"major": "1", "minor": "29+", "gitVersion": "v1.29.4"},
    "/apis/bitnami.com/v1alpha1": {"resources": [{"name": "sealedsecrets"}]},
    doctor.SEALED_SECRETS_CERT: CERTIFICATE,
}


@pytest.fixture
def api(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    with fake_api_server(ANSWERS, kubeconfig, "edge-cluster") as seen:
        yield ClusterClient("edge-cluster", str(kubeconfig)).api_client(), seen


def test_the_api_server_is_asked_with_the_context_s_credentials(api):
    api, seen = api
    assert doctor.server_version(api) == ("v1.29.4", (1, 29))  # below 1.30: named as such
    assert doctor.served(api, "bitnami.com/v1alpha1") == {"sealedsecrets"}
    assert doctor.served(api, "kustomize.toolkit.fluxcd.io/v1") == set()  # 404: not served
    assert doctor.sealing_cert(api, None).startswith("-----BEGIN CERTIFICATE-----")
    assert seen and all(auth == f"Bearer {TOKEN}" for _, _, auth, _ in seen)
    with pytest.raises(doctor.HttpError, match="HTTP 404"):
        doctor.api_get(api, "/apis/nothing/v1/things")


def test_the_notification_kinds_are_asked_for_only_where_a_stack_renders_them():
    from hecate.fleet.stacks import StackTarget
    from hecate.settings import parse

    base = {
        "cluster": "beam-cluster",
        "version": "0.7.2",
        "gitops": {"url": "https://github.com/hecate-social/hecate-gitops"},
    }
    quiet = StackTarget("beam", parse(base))
    reporting = StackTarget("beam", parse({**base, "commitStatus": {"secretRef": "t"}}))
    alerting = StackTarget("beam", parse({**base, "alerts": [{"type": "slack", "secretRef": "s"}]}))
    notification = {r for gv, r, _ in doctor.kinds_rendered(reporting) if gv.startswith("notif")}
    assert notification == {"providers", "alerts"}
    assert doctor.kinds_rendered(alerting) == doctor.kinds_rendered(reporting)
    assert doctor.kinds_rendered(quiet) == doctor.KINDS
