"""hecate-config and hecate-daemon: the guide's manifests, field for field."""

from __future__ import annotations

import pytest

from hecate import naming
from testbed import certs
from testbed.mocks import SEALING, committed, evaluate, stack_config, unsealed
from tests import guide, schemas

DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
PROBE_PATH = ".spec.template.spec.containers[daemon].readinessProbe"


def container(evaluation) -> dict:
    return evaluation.get(DAEMON_SET, "hecate-daemon").manifest["spec"]["template"]["spec"][
        "containers"
    ][0]


def test_beam_declares_every_field_the_guide_writes():
    written = guide.manifests()
    beam = committed("beam")
    for file, type_, name in [
        ("infrastructure/hecate/daemonset.yaml", DAEMON_SET, "hecate-daemon"),
        ("infrastructure/hecate/configmap.yaml", CONFIG_MAP, "hecate-config"),
        ("infrastructure/hecate/namespace.yaml", "kubernetes:core/v1:Namespace", "hecate"),
    ]:
        declared = beam.get(type_, name).manifest
        departures = guide.missing_or_different(written[file], declared)
        # One departure, on purpose: Ready is the guide's health check, not the socket's file.
        assert [p.split(":")[0] for p in departures] == (
            [f"{PROBE_PATH}.exec.command"] if file.endswith("daemonset.yaml") else []
        ), file
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
        # hecate-config differs, and so does the checksum that rolls the pods when it does.
        explained |= {
            ".data.HECATE_LOG_LEVEL",
            f".spec.template.metadata.annotations.{naming.CONFIG_CHECKSUM}",
        }
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

    plain = evaluate("beam", {"hardened": False, "readinessProbe": {"check": "socket"}})
    spec = container_of(plain)
    assert "securityContext" not in spec["containers"][0]
    assert [v["name"] for v in spec["volumes"]] == ["socket-dir", "data-dir"]
    written = guide.manifests()["infrastructure/hecate/daemonset.yaml"]
    assert (
        guide.missing_or_different(written, plain.get(DAEMON_SET, "hecate-daemon").manifest) == []
    )


def test_ready_is_the_guides_health_check_against_the_socket():
    probe = container(committed("beam"))["readinessProbe"]
    guide_check = naming.health_check_command("beam-cluster").split(" -- ")[1].split()
    command = probe["exec"]["command"]
    # The guide's command (curl, its socket, its URL), failing on an error status and timing out.
    assert command[0] == guide_check[0] and command[-3:] == guide_check[-3:]
    assert "--fail" in command and command[command.index("--max-time") + 1] == "3"
    assert {k: v for k, v in probe.items() if k != "exec"} == {
        "initialDelaySeconds": 5,
        "periodSeconds": 10,
        "timeoutSeconds": 3,
        "failureThreshold": 3,
    }
    # Liveness stays on the socket: a slow answer makes a pod unready, never restarts it.
    assert container(committed("beam"))["livenessProbe"]["exec"]["command"][0] == "test"


def test_the_probes_thresholds_are_settings_and_curl_gives_up_with_the_kubelet():
    tuned = {"periodSeconds": 20, "timeoutSeconds": 8, "failureThreshold": 2}
    probe = container(evaluate("beam", {"readinessProbe": tuned}))["readinessProbe"]
    assert {k: probe[k] for k in tuned} == tuned and probe["initialDelaySeconds"] == 5
    command = probe["exec"]["command"]
    assert command[command.index("--max-time") + 1] == "8"
    socket = container(evaluate("beam", {"readinessProbe": {"check": "socket"}}))
    assert socket["readinessProbe"]["exec"]["command"] == ["test", "-S", naming.SOCKET]


# --- A change of what the daemon reads at start rolls its pods --------------------------------

CHECKSUM_PATH = f".spec.template.metadata.annotations.{naming.CONFIG_CHECKSUM}"
SEALED = {"OPENAI_API_KEY": "Ag" + "B" * 500}


def checksum(evaluation) -> str:
    template = evaluation.get(DAEMON_SET, "hecate-daemon").manifest["spec"]["template"]
    return template["metadata"]["annotations"][naming.CONFIG_CHECKSUM]


def changed_paths(before, after) -> dict[str, set[str]]:
    """Object name → the paths that differ between two evaluations of a stack."""
    changed = {}
    for declared in after.kubernetes_objects():
        paths = guide.differing_paths(
            before.get(declared.type, declared.name).manifest, declared.manifest
        )
        if paths:
            changed[declared.name] = paths
    return changed


def test_the_pod_template_carries_a_checksum_of_what_the_daemon_reads(evaluation):
    value = checksum(evaluation)
    assert len(value) == 64 and int(value, 16) >= 0
    # The only annotation on the template: the guide's pods have none.
    template = evaluation.get(DAEMON_SET, "hecate-daemon").manifest["spec"]["template"]
    assert template["metadata"]["annotations"] == {naming.CONFIG_CHECKSUM: value}


@pytest.mark.parametrize(
    "overrides, config_change",
    [
        ({"logLevel": "error"}, ".data.HECATE_LOG_LEVEL"),
        ({"ollamaHost": "http://127.0.0.1:11435"}, ".data.OLLAMA_HOST"),
        ({"env": {"HECATE_FEATURE": "on"}}, ".data.HECATE_FEATURE"),
    ],
)
def test_each_setting_the_daemon_reads_rolls_the_pods_and_nothing_else(overrides, config_change):
    before, after = unsealed("beam"), evaluate("beam", overrides, remove=SEALING)
    assert changed_paths(before, after) == {
        "hecate-config": {config_change},
        "hecate-daemon": {CHECKSUM_PATH},
    }


def test_a_sealed_value_rolls_the_pods_and_an_unchanged_one_does_not():
    sealed = evaluate("beam", {"sealedSecrets": SEALED}, remove=["apiKeys"])
    again = evaluate("beam", {"sealedSecrets": SEALED}, remove=["apiKeys"])
    assert checksum(sealed) == checksum(again)
    assert changed_paths(sealed, again) == {}
    rotated = evaluate(
        "beam", {"sealedSecrets": {"OPENAI_API_KEY": "Ag" + "D" * 500}}, remove=["apiKeys"]
    )
    assert changed_paths(sealed, rotated) == {
        "hecate-secrets": {".spec.encryptedData.OPENAI_API_KEY"},
        "hecate-daemon": {CHECKSUM_PATH},
    }
    # Without a sealed value the pods read no secret: another checksum again.
    assert checksum(unsealed("beam")) not in (checksum(sealed), checksum(rotated))


def test_a_program_sealed_key_rolls_the_pods_when_it_is_sealed_anew():
    cert = certs.controller()[0]
    first = evaluate(
        "beam", {"apiKeys": {"OPENAI_API_KEY": "sk-one"}, "sealingCert": cert}, secrets=["apiKeys"]
    )
    assert first.error is None, first.error
    ciphertext = first.get(
        "kubernetes:bitnami.com/v1alpha1:SealedSecret", "hecate-secrets"
    ).manifest
    sealed = ciphertext["spec"]["encryptedData"]["OPENAI_API_KEY"]
    expected = evaluate("beam", {"sealedSecrets": {"OPENAI_API_KEY": sealed}}, remove=["apiKeys"])
    # The checksum is of the sealed value: the same ciphertext, however it was made, gives the same.
    assert checksum(first) == checksum(expected)


def test_changing_nothing_or_what_the_daemon_does_not_read_keeps_the_checksum(stack):
    # (Less the sealing settings: under mocks, a program-sealed key is sealed anew each run.)
    assert checksum(evaluate(stack, remove=SEALING)) == checksum(unsealed(stack))
    for overrides in (
        {"version": "0.7.9"},
        {"maxUnavailable": 2},
        {"tolerations": [{"operator": "Exists"}]},
    ):
        assert checksum(evaluate(stack, overrides, remove=SEALING)) == checksum(unsealed(stack))


# --- Where the daemon runs ---------------------------------------------------------------------


def test_scheduling_settings_land_where_kubernetes_reads_them():
    custom = evaluate(
        "beam",
        {
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                {
                    "key": "dedicated",
                    "value": "ollama",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
            ],
            "nodeSelector": {"hecate.social/ollama": "true", "kubernetes.io/os": "linux"},
            "priorityClassName": "system-node-critical",
            "imagePullSecrets": ["ghcr-pull", "mirror-pull"],
            "env": {"HECATE_MODEL": "llama3", "HTTPS_PROXY": "http://proxy:3128"},
        },
    )
    assert custom.error is None, custom.error
    pod = custom.get(DAEMON_SET, "hecate-daemon").manifest["spec"]["template"]["spec"]
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {
            "key": "dedicated",
            "operator": "Equal",
            "value": "ollama",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
    ]
    assert pod["nodeSelector"] == {"hecate.social/ollama": "true", "kubernetes.io/os": "linux"}
    assert pod["priorityClassName"] == "system-node-critical"
    assert pod["imagePullSecrets"] == [{"name": "ghcr-pull"}, {"name": "mirror-pull"}]
    assert custom.get(CONFIG_MAP, "hecate-config").manifest["data"] == {
        "OLLAMA_HOST": "http://localhost:11434",
        "HECATE_LOG_LEVEL": "info",
        "HECATE_MODEL": "llama3",
        "HTTPS_PROXY": "http://proxy:3128",
    }
    for declared in custom.kubernetes_objects():
        assert schemas.problems(declared.manifest) == [], declared.name


def test_no_scheduling_setting_no_field(evaluation):
    """The guide's pod has none of them: an unset setting adds nothing."""
    pod = evaluation.get(DAEMON_SET, "hecate-daemon").manifest["spec"]["template"]["spec"]
    assert not {"tolerations", "nodeSelector", "priorityClassName", "imagePullSecrets"} & set(pod)
