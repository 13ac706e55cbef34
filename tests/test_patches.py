"""hecate:patches: the guide's cluster-specific patches, applied before anything is declared."""

from __future__ import annotations

import pytest

from hecate import naming
from testbed.mocks import SEALING, evaluate
from tests import schemas

DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
KUSTOMIZATION = "kubernetes:kustomize.toolkit.fluxcd.io/v1:Kustomization"
DAEMON = {"kind": "DaemonSet", "name": "hecate-daemon"}
HOST_ALIAS = {"ip": "10.0.0.7", "hostnames": ["ollama.lab"]}


def pod_spec(evaluation) -> dict:
    return evaluation.get(DAEMON_SET, "hecate-daemon").manifest["spec"]["template"]["spec"]


def checksum(evaluation) -> str:
    template = evaluation.get(DAEMON_SET, "hecate-daemon").manifest["spec"]["template"]
    return template["metadata"]["annotations"][naming.CONFIG_CHECKSUM]


def test_a_json_patch_lands_in_the_rendered_object_and_validates():
    patched = evaluate(
        "beam",
        {
            "patches": [
                {
                    "target": DAEMON,
                    "jsonPatch": [
                        {
                            "op": "add",
                            "path": "/spec/template/spec/hostAliases",
                            "value": [HOST_ALIAS],
                        },
                        {
                            "op": "replace",
                            "path": "/spec/template/spec/containers/0/imagePullPolicy",
                            "value": "IfNotPresent",
                        },
                    ],
                }
            ]
        },
    )
    assert patched.error is None, patched.error
    spec = pod_spec(patched)
    assert spec["hostAliases"] == [HOST_ALIAS]
    assert spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    # What is rendered is the patched object: the file's inputs are exactly it.
    rendered = patched.rendered_files()["gitops/infrastructure/hecate/beam-cluster/daemonset.yaml"]
    assert rendered.manifest["spec"]["template"]["spec"]["hostAliases"] == [HOST_ALIAS]
    for declared in patched.kubernetes_objects():
        assert schemas.problems(declared.manifest) == [], declared.name


def test_a_merge_patch_of_the_config_map_rolls_the_pods():
    plain = evaluate("beam", remove=SEALING)
    patched = evaluate(
        "beam",
        {
            "patches": [
                {
                    "target": {"kind": "ConfigMap", "name": "hecate-config"},
                    "mergePatch": {"data": {"HECATE_LOG_LEVEL": "error", "EXTRA": "1"}},
                }
            ]
        },
        remove=SEALING,
    )
    assert patched.get(CONFIG_MAP, "hecate-config").manifest["data"] == {
        "OLLAMA_HOST": "http://localhost:11434",
        "HECATE_LOG_LEVEL": "error",
        "EXTRA": "1",
    }
    # The checksum is of the patched ConfigMap: what the pods will really read.
    assert checksum(patched) != checksum(plain)
    assert checksum(patched) == checksum(
        evaluate("beam", {"logLevel": "error", "env": {"EXTRA": "1"}}, remove=SEALING)
    )


def test_a_merge_patch_removes_with_null_and_patches_the_flux_sync():
    patched = evaluate(
        "beam",
        {
            "patches": [
                {
                    "target": {"kind": "Kustomization", "name": "hecate"},
                    "mergePatch": {"spec": {"interval": "10m", "healthChecks": None}},
                },
            ]
        },
    )
    spec = patched.get(KUSTOMIZATION, "hecate").manifest["spec"]
    assert spec["interval"] == "10m" and "healthChecks" not in spec
    assert spec["path"] == "./infrastructure/hecate/beam-cluster"


# Each row: the patches, the patch index the message names, and what it must say.
BAD_PATCHES = [
    (
        [{"target": {"kind": "Deployment", "name": "hecate-daemon"}, "mergePatch": {}}],
        0,
        "which this stack does not render",
    ),
    (
        [{"target": {"kind": "DaemonSet", "name": "hecate"}, "mergePatch": {}}],
        0,
        "DaemonSet/hecate, which this stack does not render",
    ),
    (
        [
            {
                "target": DAEMON,
                "jsonPatch": [{"op": "remove", "path": "/spec/template/spec/tolerations"}],
            }
        ],
        0,
        "does not apply to DaemonSet/hecate-daemon",
    ),
    (
        [
            {
                "target": DAEMON,
                "jsonPatch": [
                    {"op": "test", "path": "/spec/updateStrategy/type", "value": "OnDelete"}
                ],
            }
        ],
        0,
        "does not apply",
    ),
    (
        [{"target": DAEMON, "mergePatch": {"metadata": {"name": "other"}}}],
        0,
        "changes metadata.name of DaemonSet/hecate-daemon",
    ),
    (
        [{"target": DAEMON, "mergePatch": {"metadata": {"namespace": "kube-system"}}}],
        0,
        "changes metadata.namespace",
    ),
    (
        [
            {
                "target": DAEMON,
                "jsonPatch": [{"op": "replace", "path": "/kind", "value": "Deployment"}],
            }
        ],
        0,
        "changes kind",
    ),
    (
        [{"target": DAEMON, "mergePatch": {"spec": {"selector": {"matchLabels": {"app": "x"}}}}}],
        0,
        "changes spec.selector",
    ),
    (
        [
            {
                "target": DAEMON,
                "mergePatch": {
                    "spec": {
                        "template": {"metadata": {"annotations": {naming.CONFIG_CHECKSUM: "0"}}}
                    }
                },
            }
        ],
        0,
        f"changes spec.template.metadata.annotations.{naming.CONFIG_CHECKSUM}",
    ),
    (
        [
            {
                "target": {"kind": "Namespace", "name": "hecate"},
                "mergePatch": {"metadata": {"name": "hecate2"}},
            }
        ],
        0,
        "changes metadata.name of Namespace/hecate",
    ),
    (
        [{"target": {"kind": "SealedSecret", "name": "hecate-secrets"}, "mergePatch": {}}],
        0,
        "secrets never enter a patch",
    ),
    ([{"target": DAEMON}], 0, "needs exactly one of jsonPatch (RFC 6902) or mergePatch (RFC 7386)"),
    ([{"target": DAEMON, "jsonPatch": [], "mergePatch": {}}], 0, "needs exactly one of"),
    (
        [{"target": DAEMON, "jsonPatch": [{"op": "upsert", "path": "/x"}]}],
        0,
        "is not an RFC 6902 JSON Patch",
    ),
    (
        [{"target": DAEMON, "jsonPatch": [{"op": "add", "path": "spec", "value": 1}]}],
        0,
        "is not a valid JSON Patch",
    ),
    ([{"target": DAEMON, "mergePatch": [1]}], 0, "is not an object (an RFC 7386 merge patch)"),
    ([{"target": "DaemonSet/hecate-daemon", "mergePatch": {}}], 0, "is not an object {kind, name}"),
    ([{"target": DAEMON, "mergePatch": {}, "strategic": {}}], 0, "is not a known field"),
    # The second patch is the bad one: the index says which.
    (
        [
            {"target": DAEMON, "mergePatch": {}},
            {"target": {"kind": "Secret", "name": "hecate-secrets"}, "mergePatch": {}},
        ],
        1,
        "Secret/hecate-secrets, which this stack does not render",
    ),
]


@pytest.mark.parametrize(
    "patches, index, message", BAD_PATCHES, ids=[row[2][:40] for row in BAD_PATCHES]
)
def test_a_bad_patch_is_a_configuration_error_naming_it(patches, index, message):
    evaluation = evaluate("beam", {"patches": patches})
    text = str(evaluation.error)
    assert f"hecate:patches[{index}]" in text and message in text, text
    assert "Traceback" not in text
    assert evaluation.resources == [], "a resource was declared despite a bad patch"


UNAPPLICABLE = [
    {"target": DAEMON, "jsonPatch": [{"op": "remove", "path": "/nope"}]},
    {"target": {"kind": "Namespace", "name": "hecate"}, "mergePatch": {"kind": "Other"}},
]


def test_every_bad_patch_is_reported_at_once_and_with_the_other_problems():
    applied = evaluate("beam", {"patches": UNAPPLICABLE})
    assert "hecate:patches[0]: does not apply" in str(applied.error)
    assert "hecate:patches[1]: changes kind of Namespace/hecate" in str(applied.error)
    assert applied.resources == []
    # A patch's shape is checked with the other settings; applying needs settings that parse.
    shapes = evaluate("beam", {"logLevel": "loud", "patches": [{"target": DAEMON}]})
    assert "hecate:logLevel: 'loud'" in str(shapes.error)
    assert "hecate:patches[0]: needs exactly one of" in str(shapes.error)


def test_the_flux_objects_are_no_target_in_direct_delivery():
    evaluation = evaluate(
        "beam",
        {
            "delivery": "direct",
            "patches": [
                {"target": {"kind": "GitRepository", "name": "hecate-gitops"}, "mergePatch": {}}
            ],
        },
    )
    assert (
        "hecate:patches[0]: targets GitRepository/hecate-gitops, which this stack does not render"
        in str(evaluation.error)
    )


def test_patches_may_not_be_a_pulumi_secret():
    evaluation = evaluate(
        "beam",
        {
            "patches": [
                {
                    "target": {"kind": "ConfigMap", "name": "hecate-config"},
                    "mergePatch": {"data": {"TOKEN": "t0ps3cret"}},
                }
            ]
        },
        secrets=["patches"],
    )
    text = str(evaluation.error)
    assert "hecate:patches: is a Pulumi secret, but the program renders it in clear" in text
    assert "t0ps3cret" not in text and evaluation.resources == []
