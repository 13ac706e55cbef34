"""The policy pack in real previews: every committed stack passes; a bent program is denied."""

from __future__ import annotations

import pytest

from tests.e2e.engine import Project, copy_project, engine_env
from tests.e2e.test_engine import engine_installed  # noqa: F401 (the session check)
from tests.harness import stack_names

# Bends that config validation would never let through, made in the copied program itself.
BENDS = {
    "hecate/daemon.py": [
        ('"image": settings.image_ref,', '"image": "ghcr.io/hecate-social/hecate-daemon:latest",'),
        ('            {"name": "data-dir", "hostPath": {"path": naming.DATA_DIR, "type": "DirectoryOrCreate"}},\n',
         '            {"name": "data-dir", "hostPath": {"path": naming.DATA_DIR, "type": "DirectoryOrCreate"}},\n'
         '            {"name": "etc", "hostPath": {"path": "/etc"}},\n'),
    ],
}


def project_for(stack: str, tmp_path) -> Project:
    copy_project(tmp_path / "project", stacks=[stack])
    project = Project(tmp_path / "project", engine_env(tmp_path / "state"))
    project.pulumi("stack", "init", stack)
    return project


@pytest.mark.parametrize("stack", stack_names())
def test_every_committed_stack_passes_the_pack(stack, tmp_path):
    project = project_for(stack, tmp_path)
    result = project.pulumi("preview", "--stack", stack, "--policy-pack", "policy")
    assert "hecate@" in result.text and "(local: policy)" in result.text
    assert "[mandatory]" not in result.text and "[advisory]" not in result.text, result.text


def test_a_bent_program_is_denied(tmp_path):
    stack = stack_names()[0]
    project = project_for(stack, tmp_path)
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
