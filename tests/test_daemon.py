"""hecate-config and hecate-daemon: the guide's manifests, field for field."""

from __future__ import annotations

from tests import guide
from tests.harness import committed, evaluate, stack_config, unsealed

DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


def test_beam_declares_every_field_the_guide_writes():
    written = guide.manifests()
    beam = committed("beam")
    for file, type_, name in [
        ("infrastructure/hecate/daemonset.yaml", DAEMON_SET, "hecate-daemon"),
        ("infrastructure/hecate/configmap.yaml", CONFIG_MAP, "hecate-config"),
        ("infrastructure/hecate/namespace.yaml", "kubernetes:core/v1:Namespace", "hecate"),
    ]:
        declared = beam.get(type_, name).manifest
        assert guide.missing_or_different(written[file], declared) == [], file
    # The "Deployment Model" excerpt too: the host network and the socket directory.
    assert (
        guide.missing_or_different(guide.excerpt(), beam.get(DAEMON_SET, "hecate-daemon").manifest)
        == []
    )


def test_daemon_set_keeps_the_guides_selector_and_adds_recommended_labels(evaluation):
    daemon = evaluation.get(DAEMON_SET, "hecate-daemon").manifest
    assert daemon["spec"]["selector"] == {"matchLabels": {"app": "hecate-daemon"}}
    version = stack_config(evaluation.stack)["hecate:version"]
    for labels in (daemon["metadata"]["labels"], daemon["spec"]["template"]["metadata"]["labels"]):
        assert labels["app.kubernetes.io/name"] == "hecate-daemon"
        assert labels["app.kubernetes.io/version"] == str(version)
        assert labels["app.kubernetes.io/part-of"] == "hecate"
        assert labels["app.kubernetes.io/managed-by"] == "pulumi"
    assert daemon["spec"]["template"]["metadata"]["labels"]["app"] == "hecate-daemon"


def test_version_label_only_where_the_version_lives(evaluation):
    """A rollout must change the DaemonSet and nothing else."""
    for declared in evaluation.kubernetes_objects():
        labels = declared.manifest["metadata"].get("labels", {})
        assert ("app.kubernetes.io/version" in labels) == (declared.type == DAEMON_SET), (
            declared.name
        )


def test_version_is_the_rollout_lever():
    before, after = committed("edge"), evaluate("edge", {"version": "0.7.3"})
    changed = {
        d.name
        for d in after.kubernetes_objects()
        if d.manifest != before.get(d.type, d.name).manifest
    }
    assert changed == {"hecate-daemon"}
    container = after.get(DAEMON_SET, "hecate-daemon").manifest["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["image"] == "ghcr.io/hecate-social/hecate-daemon:0.7.3"


def test_edge_differs_from_beam_only_where_its_config_says_so():
    beam, edge = unsealed("beam"), unsealed("edge")
    edge_config = stack_config("edge")
    # What each edge setting is allowed to change; anything else differing is a leak.
    explained = {
        ".metadata.labels.app.kubernetes.io/instance",
        ".spec.template.metadata.labels.app.kubernetes.io/instance",
        ".spec.template.spec.containers[0].image",
        ".spec.path",
    }
    if edge_config.get("hecate:logLevel") != "info":
        explained.add(".data.HECATE_LOG_LEVEL")
    explained |= {
        f".spec.template.spec.containers[0].resources.{section}.{kind}"
        for section in ("requests", "limits")
        for kind in ("cpu", "memory")
    }
    for declared in beam.kubernetes_objects():
        other = edge.get(declared.type, declared.name).manifest
        unexplained = guide.differing_paths(declared.manifest, other) - explained
        assert unexplained == set(), f"{declared.name}: {sorted(unexplained)}"
    config_map = edge.get(CONFIG_MAP, "hecate-config").manifest
    assert config_map["data"]["HECATE_LOG_LEVEL"] == edge_config["hecate:logLevel"]
    resources = edge.get(DAEMON_SET, "hecate-daemon").manifest["spec"]["template"]["spec"][
        "containers"
    ][0]["resources"]
    assert resources == edge_config["hecate:resources"]


def test_settings_reach_the_daemon():
    custom = evaluate(
        "beam",
        {
            "image": "registry.example.com:5000/hecate/daemon",
            "ollamaHost": "https://ollama.lab:11434",
            "logLevel": "debug",
            "maxUnavailable": "20%",
        },
    )
    spec = custom.get(DAEMON_SET, "hecate-daemon").manifest["spec"]
    assert (
        spec["template"]["spec"]["containers"][0]["image"]
        == "registry.example.com:5000/hecate/daemon:0.7.2"
    )
    assert spec["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "20%"},
    }
    assert custom.get(CONFIG_MAP, "hecate-config").manifest["data"] == {
        "OLLAMA_HOST": "https://ollama.lab:11434",
        "HECATE_LOG_LEVEL": "debug",
    }


def test_hardened_by_default_and_guide_exact_without():
    container_of = lambda e: e.get(DAEMON_SET, "hecate-daemon").manifest["spec"]["template"]["spec"]
    hardened = container_of(committed("beam"))
    assert hardened["containers"][0]["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert {"name": "tmp", "emptyDir": {}} in hardened["volumes"]
    assert {"name": "tmp", "mountPath": "/tmp"} in hardened["containers"][0]["volumeMounts"]

    plain = evaluate("beam", {"hardened": False})
    spec = container_of(plain)
    assert "securityContext" not in spec["containers"][0]
    assert [v["name"] for v in spec["volumes"]] == ["socket-dir", "data-dir"]
    written = guide.manifests()["infrastructure/hecate/daemonset.yaml"]
    assert (
        guide.missing_or_different(written, plain.get(DAEMON_SET, "hecate-daemon").manifest) == []
    )
