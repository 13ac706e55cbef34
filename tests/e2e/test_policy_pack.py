"""The policy pack in real previews: every committed stack passes; a bent program is denied."""

from __future__ import annotations

import pytest
import yaml

from testbed.mocks import stack_names
from testbed.scratch import new_project

# Bends that config validation would never let through, made in the copied program itself.
BENDS = {
    "hecate/daemon.py": [
        ('"image": settings.image_ref,', '"image": "ghcr.io/hecate-social/hecate-daemon:latest",'),
        (
            '                "hostPath": {"path": naming.DATA_DIR, "type": "DirectoryOrCreate"},\n'
            "            },\n",
            '                "hostPath": {"path": naming.DATA_DIR, "type": "DirectoryOrCreate"},\n'
            "            },\n"
            '            {"name": "etc", "hostPath": {"path": "/etc"}},\n',
        ),
    ],
}


@pytest.mark.parametrize("stack", stack_names())
def test_every_committed_stack_passes_the_pack(stack, tmp_path):
    project = new_project(tmp_path, stack)
    result = project.pulumi("preview", "--stack", stack, "--policy-pack", "policy")
    assert "hecate@" in result.text and "(local: policy)" in result.text
    assert "[mandatory]" not in result.text and "[advisory]" not in result.text, result.text


def test_a_bent_program_is_denied(tmp_path):
    stack = stack_names()[0]
    project = new_project(tmp_path, stack)
    for file, replacements in BENDS.items():
        source = project.path / file
        text = source.read_text()
        for old, new in replacements:
            assert old in text, f"the bend no longer applies to {file}: {old!r}"
            text = text.replace(old, new, 1)
        source.write_text(text)
    result = project.pulumi("preview", "--stack", stack, "--policy-pack", "policy", check=False)
    assert result.code != 0
    assert "[mandatory]  pinned-images" in result.text and "hecate-daemon:latest" in result.text
    assert "[mandatory]  host-access" in result.text and "'/etc'" in result.text
    assert project.files() == {}


def test_a_patched_object_is_what_the_pack_checks(tmp_path):
    """A cluster-specific patch cannot slip past the pack: it is applied before anything is
    declared, so the pack sees the patched DaemonSet."""
    stack = stack_names()[0]
    project = new_project(tmp_path, stack)
    etc = {"name": "etc", "hostPath": {"path": "/etc"}}
    patch = [
        {
            "target": {"kind": "DaemonSet", "name": "hecate-daemon"},
            "jsonPatch": [{"op": "add", "path": "/spec/template/spec/volumes/-", "value": etc}],
        }
    ]
    stack_file = project.path / f"Pulumi.{stack}.yaml"
    content = yaml.safe_load(stack_file.read_text())
    content["config"]["hecate:patches"] = patch
    stack_file.write_text(yaml.safe_dump(content))
    result = project.pulumi("preview", "--stack", stack, "--policy-pack", "policy", check=False)
    assert result.code != 0
    assert "[mandatory]  host-access" in result.text and "'/etc'" in result.text, result.text
    assert project.files() == {}


def test_a_cluster_s_reports_are_checked_by_the_pack(tmp_path):
    """What a cluster reports, bent by a patch the settings' checks never see: an Alert whose
    Provider the stack does not declare (a stack policy) and a webhook in plain http."""
    stack = stack_names()[0]
    project = new_project(tmp_path, stack)
    stack_file = project.path / f"Pulumi.{stack}.yaml"
    content = yaml.safe_load(stack_file.read_text())
    content["config"]["hecate:alerts"] = [
        {"type": "slack", "secretRef": "slack-webhook"},
        {"type": "generic", "address": "https://hooks.example.com/flux"},
    ]
    content["config"]["hecate:patches"] = [
        {
            "target": {"kind": "Alert", "name": "hecate-slack"},
            "mergePatch": {"spec": {"providerRef": {"name": "elsewhere"}}},
        },
        {
            "target": {"kind": "Provider", "name": "hecate-generic"},
            "mergePatch": {"spec": {"address": "http://hooks.example.com/flux"}},
        },
    ]
    stack_file.write_text(yaml.safe_dump(content))
    result = project.pulumi("preview", "--stack", stack, "--policy-pack", "policy", check=False)
    assert result.code != 0
    assert "[mandatory]  alert-provider-declared" in result.text, result.text
    assert "'elsewhere' is not a Provider this stack declares" in result.text
    assert "[mandatory]  notification-provider" in result.text and "not https://" in result.text
    assert project.files() == {}
