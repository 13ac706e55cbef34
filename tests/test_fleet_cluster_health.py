"""The rollout gate, decided from one reading of a cluster (the fleet tests read real ones)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hecate.fleet.cluster_health import (
    ClusterClient,
    ClusterHealth,
    DaemonStatus,
    FluxStatus,
    SealedStatus,
    left_out_because,
    revision_commit,
    tolerates,
)
from hecate.fleet.gates import (
    FAILED,
    PASSED,
    TROUBLE,
    UNKNOWN,
    WAITING,
    SoakReading,
    gate,
    max_unavailable,
    soak_reading,
)
from tests.fake_api import TOKEN, fake_api_server

IMAGE = "ghcr.io/hecate-social/hecate-daemon:0.7.3"
PUSHED, LATER, OLDER = "a" * 40, "b" * 40, "c" * 40
FLUX = FluxStatus("True", "ReconciliationSucceeded", "Applied", PUSHED, PUSHED, True)
DAEMON = DaemonStatus(3, 3, 3, 0, True, IMAGE, (IMAGE,))
HEALTHY = ClusterHealth("beam-cluster", "", FLUX, DAEMON, None)


def reached(applied: str) -> bool:
    """PUSHED and LATER (a descendant) include the pushed commit; OLDER does not."""
    return applied in (PUSHED, LATER)


def check(health: ClusterHealth, limit=1, sealed=False):
    return gate(health, reached, IMAGE, limit, sealed)


def test_a_healthy_cluster_at_the_pushed_commit_or_after_it_passes():
    assert check(HEALTHY).state == PASSED
    later = replace(HEALTHY, flux=replace(FLUX, applied=LATER, attempted=LATER))
    assert check(later).state == PASSED


@pytest.mark.parametrize(
    ("health", "step", "words"),
    [
        (ClusterHealth("beam-cluster", "unreachable (HTTP 503)"), "cluster", "unreachable"),
        (replace(HEALTHY, flux=None), "flux", "no Kustomization"),
        (replace(HEALTHY, flux=replace(FLUX, applied=OLDER)), "flux", "applied cccccccccccc"),
        (replace(HEALTHY, flux=replace(FLUX, ready="Unknown", reason="Progressing")), "flux", ""),
        (replace(HEALTHY, flux=replace(FLUX, current=False)), "flux", ""),
        (replace(HEALTHY, daemon=None), "daemon", "no DaemonSet"),
        (
            replace(HEALTHY, daemon=replace(DAEMON, updated=2, ready=2, unavailable=1)),
            "daemon",
            "2/3 updated",
        ),
        (
            replace(HEALTHY, daemon=replace(DAEMON, template_image="x:0.7.2")),
            "daemon",
            "runs x:0.7.2, not",
        ),
        (replace(HEALTHY, daemon=replace(DAEMON, current=False)), "daemon", ""),
    ],
)
def test_anything_not_there_yet_waits_and_says_which_check(health, step, words):
    result = check(health)
    assert (result.state, result.step) == (WAITING, step)
    assert words in result.detail


def test_flux_failing_the_pushed_commit_fails_the_gate_but_an_older_failure_waits():
    failing = replace(
        FLUX, ready="False", reason="HealthCheckFailed", message="timeout", applied=OLDER
    )
    result = check(replace(HEALTHY, flux=failing))
    assert (result.state, result.detail) == (
        FAILED,
        "Kustomization hecate HealthCheckFailed: timeout",
    )
    older = replace(failing, attempted=OLDER)
    assert check(replace(HEALTHY, flux=older)).state == WAITING


def test_unavailable_pods_over_max_unavailable_never_pass():
    over = replace(HEALTHY, daemon=replace(DAEMON, unavailable=2))
    assert check(over, limit=1).state == WAITING
    assert check(over, limit="50%").state == PASSED  # 50% of 3, rounded up, is 2


def test_the_sealed_secret_must_be_synced_where_the_stack_seals_values():
    assert check(HEALTHY, sealed=True).detail == "no SealedSecret hecate-secrets yet"
    unsynced = replace(HEALTHY, sealed=SealedStatus(False, "no key could decrypt secret"))
    assert check(unsynced, sealed=True).state == WAITING
    synced = replace(HEALTHY, sealed=SealedStatus(True, ""))
    assert check(synced, sealed=True).state == PASSED


@pytest.mark.parametrize(
    ("setting", "desired", "pods"),
    [(1, 3, 1), (2, 3, 2), ("25%", 3, 1), ("50%", 3, 2), ("10%", 100, 10)],
)
def test_max_unavailable_in_pods_as_the_daemonset_controller_counts(setting, desired, pods):
    assert max_unavailable(setting, desired) == pods


def test_flux_revisions_name_their_commit():
    assert revision_commit(f"main@sha1:{PUSHED}") == PUSHED
    assert revision_commit(PUSHED) == PUSHED
    assert revision_commit("") == ""


def test_a_cluster_with_no_such_context_reads_as_unreachable_not_fine(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\ncurrent-context: ''\n"
    )
    health = ClusterClient("nowhere-cluster", str(kubeconfig)).read()
    assert not health.reachable
    assert "nowhere-cluster" in health.error
    assert check(health).state == WAITING


def test_without_flux_in_the_loop_the_cluster_objects_alone_decide():
    """`direct` delivery: no Kustomization to wait for."""
    direct = replace(HEALTHY, flux=None)
    assert gate(direct, None, IMAGE, 1, False).state == PASSED
    rolling = replace(direct, daemon=replace(DAEMON, updated=1, ready=1, unavailable=1))
    assert gate(rolling, None, IMAGE, 1, False).state == WAITING


# --- The template, not only the image -----------------------------------------------------------

CHECKSUM = "f" * 64


def test_a_template_whose_checksum_is_not_the_rendered_one_waits():
    applied = replace(HEALTHY, daemon=replace(DAEMON, template_checksum=CHECKSUM))
    assert gate(applied, reached, IMAGE, 1, False, CHECKSUM).state == PASSED
    old = replace(HEALTHY, daemon=replace(DAEMON, template_checksum="e" * 64))
    result = gate(old, reached, IMAGE, 1, False, CHECKSUM)
    assert (result.state, result.step) == (WAITING, "daemon")
    assert "checksum/config is eeeeeeeeeeee, not the rendered ffffffffffff" in result.detail
    # A tree rendered before the checksum existed: the image alone, as before.
    assert gate(old, reached, IMAGE, 1, False, None).state == PASSED


def test_pods_on_an_older_template_wait_even_when_the_counts_look_done():
    stale = replace(
        HEALTHY,
        daemon=replace(DAEMON, revision="5d9c7", stale=("hecate-daemon-x2 on node-1",)),
    )
    result = check(stale)
    assert (result.state, result.step) == (WAITING, "daemon")
    assert result.detail == (
        "3/3 updated, 3 ready, 0 unavailable (max 1); "
        "1 pod(s) on an older template than revision 5d9c7: hecate-daemon-x2 on node-1"
    )
    unseen = check(replace(HEALTHY, daemon=replace(DAEMON, current=False)))
    assert unseen.detail.endswith("the DaemonSet controller has not taken in the new template yet")


def test_nodes_without_a_daemon_pod_are_named_plainly_in_the_gate():
    health = replace(
        HEALTHY,
        daemon=replace(
            DAEMON, nodes=4, left_out=("gpu-0 (taint nvidia.com/gpu:NoSchedule not tolerated)",)
        ),
    )
    result = check(health)
    assert result.state == PASSED
    assert result.detail.endswith(
        "; on 3 of 4 nodes, not on gpu-0 (taint nvidia.com/gpu:NoSchedule not tolerated)"
    )


GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


@pytest.mark.parametrize(
    ("toleration", "matches"),
    [
        ({"key": "nvidia.com/gpu", "operator": "Exists"}, True),
        ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}, True),
        ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}, False),
        ({"operator": "Exists"}, True),
        ({"key": "nvidia.com/gpu", "value": "present"}, True),
        ({"key": "nvidia.com/gpu", "operator": "Equal", "value": "absent"}, False),
        ({"key": "other", "operator": "Exists"}, False),
    ],
)
def test_tolerations_match_taints_as_the_scheduler_decides(toleration, matches):
    assert tolerates(toleration, GPU_TAINT) is matches


def test_why_a_node_has_no_daemon_pod():
    gpu = {"metadata": {"name": "gpu-0", "labels": {}}, "spec": {"taints": [GPU_TAINT]}}
    plain_node = {"metadata": {"name": "n-1", "labels": {"pool": "cpu"}}, "spec": {}}
    bare = {"spec": {}}
    assert left_out_because(bare, gpu) == "taint nvidia.com/gpu=present:NoSchedule not tolerated"
    tolerant = {"spec": {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}]}}
    assert left_out_because(tolerant, gpu) == "no daemon pod yet"
    selective = {"spec": {"nodeSelector": {"pool": "gpu"}}}
    assert left_out_because(selective, plain_node) == "not selected: nodeSelector wants pool=gpu"
    # What the DaemonSet controller tolerates by itself never keeps a daemon off a node.
    cordoned = {
        "metadata": {"name": "n-2"},
        "spec": {"taints": [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]},
    }
    assert left_out_because(bare, cordoned) == "no daemon pod yet"
    # A PreferNoSchedule taint never keeps one off either.
    soft = {
        "metadata": {"name": "n-3"},
        "spec": {"taints": [{**GPU_TAINT, "effect": "PreferNoSchedule"}]},
    }
    assert left_out_because(bare, soft) == "no daemon pod yet"


def _pod(
    node: str, phase: str = "Pending", waiting: dict | None = None, restarts: int = 0, **extra
):
    status: dict = {"phase": phase, **extra}
    if waiting is not None:
        status["containerStatuses"] = [
            {"name": "daemon", "restartCount": restarts, "state": {"waiting": waiting}}
        ]
    return {"spec": {"nodeName": node}, "status": status}


def test_pod_troubles_name_the_kubelets_and_the_schedulers_reasons_with_their_nodes():
    pull = {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "x:0.0.404"'}
    crash = {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}
    unscheduled = {
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient cpu.",
            }
        ]
    }
    pods = [
        _pod("node-1", waiting=pull),
        _pod("node-0", waiting=pull),
        _pod("node-2", "Running", waiting=crash, restarts=5),
        _pod("", **unscheduled),
        _pod("node-3", waiting={"reason": "ContainerCreating"}),  # on its way: no trouble
    ]
    from hecate.fleet.cluster_health import pod_troubles

    assert pod_troubles(pods) == (
        "CrashLoopBackOff (restarts 5) on node-2: back-off 5m0s restarting failed container",
        'ImagePullBackOff on node-0, node-1: Back-off pulling image "x:0.0.404"',
        "Pending (Unschedulable) on no node: 0/3 nodes are available: 3 Insufficient cpu.",
    )


def test_a_failing_readiness_probe_is_named_pod_by_pod_with_the_kubelets_words():
    from hecate.fleet.cluster_health import pod_troubles

    def running(name: str, node: str, ready: str) -> dict:
        pod = _pod(node, "Running", conditions=[{"type": "Ready", "status": ready}])
        return {**pod, "metadata": {"name": name}}

    failed = "Readiness probe failed: curl: (22) The requested URL returned error: 503"
    pods = [
        running("hecate-daemon-b", "node-1", "False"),
        running("hecate-daemon-a", "node-0", "False"),
        # Ready again since its last failed probe: no longer a cause.
        running("hecate-daemon-c", "node-2", "True"),
    ]
    events = {f"hecate-daemon-{x}": failed for x in "abc"}
    assert pod_troubles(pods, events) == (
        f"Unhealthy on hecate-daemon-a (node-0), hecate-daemon-b (node-1): {failed}",
    )
    assert pod_troubles(pods) == ()


def test_a_failed_health_check_and_a_waiting_gate_name_the_pods_and_the_source():
    troubled = replace(DAEMON, ready=2, troubles=("ErrImagePull on node-0: not found",))
    failing = replace(
        FLUX,
        ready="False",
        reason="HealthCheckFailed",
        message="timeout waiting for: [DaemonSet/hecate/hecate-daemon status: 'InProgress']",
    )
    result = check(replace(HEALTHY, flux=failing, daemon=troubled))
    assert result.state == FAILED
    assert result.detail == (
        "Kustomization hecate HealthCheckFailed: timeout waiting for: "
        "[DaemonSet/hecate/hecate-daemon status: 'InProgress']; pods: ErrImagePull on node-0: "
        "not found"
    )
    waiting = check(replace(HEALTHY, daemon=troubled))
    assert waiting.state == WAITING and waiting.detail.endswith(
        "; pods: ErrImagePull on node-0: not found"
    )
    fetch = "GitRepository hecate-gitops Ready False GitOperationFailed: connection refused"
    behind = replace(FLUX, applied=OLDER, source=fetch)
    assert check(replace(HEALTHY, flux=behind)).detail.endswith(f"; {fetch}")


def test_the_bootstrap_sync_failing_on_the_pushed_commit_fails_the_gate():
    broken = "Kustomization flux-system BuildFailed: kustomize build failed: accumulating resources"
    failing = replace(FLUX, bootstrap_failure=broken, bootstrap_attempted=PUSHED)
    assert (
        check(replace(HEALTHY, flux=failing)).state,
        check(replace(HEALTHY, flux=failing)).detail,
    ) == (
        FAILED,
        broken,
    )
    # A failure on an older commit is not this rollout's: the gate goes by hecate's sync.
    older = replace(FLUX, bootstrap_failure=broken, bootstrap_attempted=OLDER)
    assert check(replace(HEALTHY, flux=older)).state == PASSED


def test_the_gate_waits_for_the_bootstrap_sync_and_a_source_that_cannot_fetch():
    # flux-system has not applied clusters/<cluster>/ at the pushed commit yet.
    behind = replace(FLUX, bootstrap_applied=OLDER)
    assert check(replace(HEALTHY, flux=behind)).state == WAITING
    assert (
        "Kustomization flux-system applied cccccccccccc"
        in check(replace(HEALTHY, flux=behind)).detail
    )
    # A revision of another repository (a bootstrap synced from elsewhere) says nothing.
    elsewhere = replace(FLUX, bootstrap_applied="d" * 40)
    result = gate(
        replace(HEALTHY, flux=elsewhere),
        lambda applied: None if applied == "d" * 40 else reached(applied),
        IMAGE,
        1,
        False,
    )
    assert result.state == PASSED
    # Applied, but its source now failing: not done (the next commit could not arrive).
    refused = "GitRepository hecate-gitops Ready False GitOperationFailed: connection refused"
    waiting = check(replace(HEALTHY, flux=replace(FLUX, source=refused)))
    assert (waiting.state, waiting.detail) == (WAITING, refused)


# --- during a soak: trouble at once, Unknown only past the plan's grace -------------------------

HEARTBEAT = replace(
    FLUX, ready="Unknown", reason="Progressing", message="Reconciliation in progress"
)


@pytest.mark.parametrize(
    "health",
    [
        replace(HEALTHY, flux=HEARTBEAT),  # Flux's own periodic reconcile of the same revision
        replace(HEALTHY, flux=replace(FLUX, current=False)),  # a spec not observed yet
        replace(  # the GitRepository between two fetches
            HEALTHY,
            flux=replace(
                FLUX,
                source="GitRepository hecate-gitops Ready Unknown Progressing: building artifact",
                source_settling=True,
            ),
        ),
        ClusterHealth("beam-cluster", "unreachable (timed out)"),
    ],
)
def test_a_routine_reconcile_or_a_silent_api_server_is_unknown_not_trouble(health):
    assert soak_reading(health, check).state == UNKNOWN


@pytest.mark.parametrize(
    ("health", "words"),
    [
        (
            replace(HEALTHY, flux=replace(FLUX, ready="False", reason="HealthCheckFailed")),
            "HealthCheckFailed",
        ),
        (replace(HEALTHY, flux=replace(FLUX, applied=OLDER)), "applied cccccccccccc"),
        (replace(HEALTHY, daemon=replace(DAEMON, ready=2, unavailable=1)), "2 ready"),
        (replace(HEALTHY, daemon=replace(DAEMON, template_image="x:0.7.2")), "runs x:0.7.2"),
        (replace(HEALTHY, daemon=replace(DAEMON, stale=("p on node-1",))), "older template"),
        # Unknown Flux does not hide pods that left Ready, nor a revision that is not ours.
        (
            replace(HEALTHY, flux=HEARTBEAT, daemon=replace(DAEMON, ready=1, unavailable=2)),
            "Ready Unknown",
        ),
        (replace(HEALTHY, flux=replace(HEARTBEAT, applied=OLDER)), "applied cccccccccccc"),
        (
            replace(
                HEALTHY,
                flux=replace(
                    FLUX, source="GitRepository hecate-gitops Ready False GitOperationFailed: auth"
                ),
            ),
            "GitOperationFailed",
        ),
    ],
)
def test_anything_else_that_is_not_the_gate_holding_is_trouble(health, words):
    reading = soak_reading(health, check)
    assert reading.state == TROUBLE
    assert words in reading.detail, reading.detail


def test_a_holding_gate_is_a_holding_soak():
    assert soak_reading(HEALTHY, check) == SoakReading(PASSED, check(HEALTHY).detail)


class RecordedPatches:
    """A ClusterClient's requests, recording each merge patch it sends."""

    def __init__(self):
        self.asked: list[tuple[str, str, dict]] = []

    def __call__(self, method, path, query=None, body=None, content_type="application/json"):
        assert (method, content_type) == ("PATCH", "application/merge-patch+json")
        *_, namespaces, namespace, plural, name = path.split("/")
        assert (namespaces, namespace) == ("namespaces", "flux-system"), path
        self.asked.append((plural, name, body))
        return {}


@pytest.mark.parametrize(
    ("syncs", "asked"),
    [
        # After a push: the fetch alone; the new artifact starts each sync by itself, and a sync
        # asked as well would first run again on the commit before (a health check's timeout
        # lost when that commit fails, as in a rollback).
        (False, {("gitrepositories", "flux-system"), ("gitrepositories", "hecate-gitops")}),
        # Nothing pushed: the syncs apply the same commit again.
        (
            True,
            {
                ("gitrepositories", "flux-system"),
                ("gitrepositories", "hecate-gitops"),
                ("kustomizations", "flux-system"),
                ("kustomizations", "hecate"),
            },
        ),
    ],
)
def test_a_reconcile_request_asks_the_sources_and_only_without_a_push_the_syncs(
    monkeypatch, syncs, asked
):
    client = ClusterClient("beam-cluster")
    patches = RecordedPatches()
    monkeypatch.setattr(client, "call", patches)
    token = client.request_reconcile(syncs=syncs)
    assert {(plural, name) for plural, name, _ in patches.asked} == asked
    assert len(patches.asked) == len(asked)
    annotation = {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}}
    assert all(body == annotation for _, _, body in patches.asked)


# A cluster as its API server serves it: the daemon on two of three nodes, one pod made from the
# older template, an Unhealthy event; Flux's syncs and the SealedSecret not there (404).
NS = "/apis/apps/v1/namespaces/hecate"
SELECTED = "labelSelector=app%3Dhecate-daemon"
UNHEALTHY = "fieldSelector=involvedObject.kind%3DPod%2Creason%3DUnhealthy"
REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


def _served_pod(name: str, node: str, revision: str) -> dict:
    return {
        "metadata": {"name": name, "labels": {"controller-revision-hash": revision}},
        "spec": {"nodeName": node, "containers": [{"name": "daemon", "image": IMAGE}]},
        "status": {"phase": "Running"},
    }


SERVED = {
    f"{NS}/daemonsets/hecate-daemon": {
        "metadata": {"name": "hecate-daemon", "uid": "ds-1", "generation": 4},
        "spec": {"template": {"metadata": {}, "spec": {"containers": [{"image": IMAGE}]}}},
        "status": {
            "desiredNumberScheduled": 3,
            "updatedNumberScheduled": 1,
            "numberReady": 2,
            "observedGeneration": 4,
        },
    },
    f"{NS}/controllerrevisions?{SELECTED}": {
        "items": [
            {"metadata": {"labels": {"controller-revision-hash": h}, "ownerReferences": [o]}}
            | {"revision": n}
            for h, n, o in (("old", 1, {"uid": "ds-1"}), ("new", 2, {"uid": "ds-1"}))
        ]
    },
    f"/api/v1/namespaces/hecate/pods?{SELECTED}": {
        "items": [
            _served_pod("hecate-daemon-a", "node-0", "new"),
            _served_pod("hecate-daemon-b", "node-1", "old"),
        ]
    },
    REVIEWS: {"status": {"allowed": True}},
    "/api/v1/nodes": {"items": [{"metadata": {"name": f"node-{n}"}, "spec": {}} for n in range(3)]},
    f"/api/v1/namespaces/hecate/events?{UNHEALTHY}": {
        "items": [
            {
                "involvedObject": {"name": "hecate-daemon-b"},
                "lastTimestamp": stamp,
                "message": f"Readiness probe failed: {said}",
            }
            for stamp, said in (
                ("2026-12-07T10:00:05Z", "newer"),
                ("2026-12-07T10:00:01Z", "older"),
            )
        ]
    },
}


def test_a_reading_is_the_objects_as_the_api_server_serves_them(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    with fake_api_server(SERVED, kubeconfig, "beam-cluster") as seen:
        client = ClusterClient("beam-cluster", str(kubeconfig))
        health = client.read()
        allowed = client.may("get", "apps", "daemonsets", "hecate", "")
    assert health.reachable and health.flux is None and health.sealed is None
    daemon = health.daemon
    assert daemon is not None
    assert (daemon.desired, daemon.updated, daemon.ready, daemon.current) == (3, 1, 2, True)
    assert (daemon.template_image, daemon.images, daemon.revision) == (IMAGE, (IMAGE,), "new")
    assert daemon.stale == ("hecate-daemon-b on node-1",)  # made from the older revision
    assert daemon.left_out and daemon.left_out[0].startswith("node-2 (")
    assert any("Readiness probe failed: newer" in t for t in daemon.troubles), daemon.troubles
    assert allowed
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth, _ in seen)
    [(path, review)] = [(path, body) for method, path, _, body in seen if method == "POST"]
    assert path == REVIEWS
    assert review["spec"]["resourceAttributes"] == {
        "verb": "get",
        "group": "apps",
        "resource": "daemonsets",
        "namespace": "hecate",
    }


def test_a_review_the_api_server_does_not_answer_is_an_error_never_a_yes(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    with fake_api_server({}, kubeconfig, "beam-cluster"):
        client = ClusterClient("beam-cluster", str(kubeconfig))
        with pytest.raises(Exception, match="404"):
            client.may("get", "apps", "daemonsets", "hecate", "")
        assert client.get(("bitnami.com", "v1alpha1", "sealedsecrets"), "hecate", "x") is None


def test_an_api_server_that_does_not_answer_is_an_unreachable_reading(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    with fake_api_server({}, kubeconfig, "beam-cluster"):
        pass  # stopped: its port no longer answers
    health = ClusterClient("beam-cluster", str(kubeconfig)).read()
    assert not health.reachable and health.error.startswith("unreachable ("), health.error
