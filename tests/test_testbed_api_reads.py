"""testbed/api_reads.py: `kubectl get -o json` read in the test process, against a fake API
server on loopback (the real clusters' reads are what every fleet test's waits go through)."""

from __future__ import annotations

import pytest

from testbed import api_reads
from testbed.processes import FleetError
from tests.fake_api import TOKEN, fake_api_server

POD = {"metadata": {"name": "hecate-daemon-x", "namespace": "hecate"}, "spec": {}}
MANAGED = [{"manager": "kube-controller-manager", "operation": "Update"}]
PODS = {
    "apiVersion": "v1",
    "kind": "PodList",
    "metadata": {"resourceVersion": "42"},
    "items": [{**POD, "metadata": {**POD["metadata"], "managedFields": MANAGED}}],
}
LABEL = "app=hecate-daemon"
SELECTED = "/api/v1/namespaces/hecate/pods?labelSelector=app%3Dhecate-daemon"
DAEMONSET = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "hecate-daemon"}}
SERVED_DAEMONSET = {**DAEMONSET, "metadata": {"name": "hecate-daemon", "managedFields": MANAGED}}
SYNC = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization"}
NODES = {"apiVersion": "v1", "kind": "NodeList", "items": [{"metadata": {"name": "n1"}}]}


def test_a_list_is_a_list_whose_items_name_their_kind_as_kubectl_prints_it(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    with fake_api_server({SELECTED: PODS}, kubeconfig, "dev") as seen:
        listed = api_reads.read(kubeconfig, "dev", ("-n", "hecate", "pods", "-l", LABEL))
    assert listed == {
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {"resourceVersion": ""},
        "items": [{"apiVersion": "v1", "kind": "Pod", **POD}],  # no managedFields, as kubectl
    }
    assert [(method, path, auth) for method, path, auth, _ in seen] == [
        ("GET", SELECTED, f"Bearer {TOKEN}")
    ]


FLUX_SYNCS = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations"


@pytest.mark.parametrize(
    ("args", "path", "answer"),
    [
        (
            ("-n", "hecate", "daemonset", "hecate-daemon"),
            "/apis/apps/v1/namespaces/hecate/daemonsets/hecate-daemon",
            SERVED_DAEMONSET,
        ),
        (("-n", "flux-system", "kustomization", "hecate"), f"{FLUX_SYNCS}/hecate", SYNC),
        (("--namespace", "flux-system", "ks", "hecate"), f"{FLUX_SYNCS}/hecate", SYNC),
        (("nodes",), "/api/v1/nodes", NODES),
        (("namespace", "hecate"), "/api/v1/namespaces/hecate", {"kind": "Namespace"}),
        (("configmap", "c"), "/api/v1/namespaces/default/configmaps/c", {"kind": "ConfigMap"}),
    ],
)
def test_each_kind_is_read_at_its_path_named_objects_as_served(tmp_path, args, path, answer):
    kubeconfig = tmp_path / "kubeconfig"
    with fake_api_server({path: answer}, kubeconfig, "edge") as seen:
        read = api_reads.read(kubeconfig, "edge", args)
    assert [p for _, p, _, _ in seen] == [path]
    if "items" in answer:
        assert [item["kind"] for item in read["items"]] == ["Node"]
    elif answer is SERVED_DAEMONSET:
        assert read == DAEMONSET  # as kubectl shows it: no managedFields
    else:
        assert read == answer


def test_an_answer_other_than_2xx_is_a_fleet_error_naming_the_read_and_the_status(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    with (
        fake_api_server({}, kubeconfig, "beam"),
        pytest.raises(FleetError, match="get -n hecate daemonset gone on beam: HTTP 404"),
    ):
        api_reads.read(kubeconfig, "beam", ("-n", "hecate", "daemonset", "gone"))


def test_an_api_server_not_listening_is_a_fleet_error_not_a_hang(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    with fake_api_server({}, kubeconfig, "beam"):
        pass  # stopped: its port refuses connections now
    with pytest.raises(FleetError, match="get nodes on beam"):
        api_reads.read(kubeconfig, "beam", ("nodes",))


@pytest.mark.parametrize(
    "args",
    [
        ("-n", "flux-system", "alerts"),  # a kind not in the table
        ("pods", "-A"),  # a flag it does not read
        ("-n", "hecate", "pods", "p", "-l", "a=b"),  # kubectl refuses this: let it say so
        ("daemonset", "a", "b"),
        (),
    ],
)
def test_what_it_does_not_know_is_left_to_kubectl(tmp_path, args):
    assert api_reads.read(tmp_path / "never-read", "dev", args) is None
