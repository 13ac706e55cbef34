"""Declared once, for real: Pulumi.yaml's config block and the settings reference table are what
`make generate` renders from hecate/settings/table.py (hecate/reference.py)."""

from __future__ import annotations

import shutil

import pytest
import yaml

from hecate import reference
from hecate.settings import SETTINGS
from testbed.mocks import ROOT


def test_the_committed_copies_are_what_make_generate_writes():
    assert reference.stale(ROOT) == [], "run `make generate` and commit what it writes"


@pytest.fixture
def copy(tmp_path):
    for path in (reference.PROJECT_FILE, reference.SETTINGS_PAGE):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, tmp_path / path)
    return tmp_path


def test_a_hand_edit_is_found_named_and_written_back(copy, capsys):
    page = copy / reference.SETTINGS_PAGE
    page.write_text(page.read_text().replace("| `hecate:logLevel` |", "| `hecate:loglevel` |"))
    project = copy / reference.PROJECT_FILE
    project.write_text(project.read_text().replace("default: info", "default: debug"))
    assert reference.main(["--check", "--root", str(copy)]) == 1
    err = capsys.readouterr().err
    assert "generate: Pulumi.yaml is out of date: run `make generate`" in err
    assert "generate: docs/settings.md is out of date" in err
    assert reference.main(["--root", str(copy)]) == 0
    assert reference.stale(copy) == []
    assert (copy / reference.SETTINGS_PAGE).read_text() == (
        ROOT / reference.SETTINGS_PAGE
    ).read_text()


def test_the_project_value_is_kept_and_everything_else_comes_from_the_table(copy):
    project = copy / reference.PROJECT_FILE
    text = project.read_text().replace(
        "ssh://git@github.com/hecate-social/hecate-gitops", "https://git.example/team/gitops"
    )
    project.write_text(text)
    written = yaml.safe_load(reference.project_file(text))
    assert written["config"]["hecate:gitops"]["value"]["url"] == "https://git.example/team/gitops"
    assert written["name"] == "hecate" and written["runtime"]["name"] == "python"
    ours = {spec.name: spec for _, spec in SETTINGS if spec.namespace == "hecate"}
    assert list(written["config"]) == list(ours)
    for name, spec in ours.items():
        entry = written["config"][name]
        assert entry["description"] == spec.description, name
        assert ("default" in entry or "value" in entry) is not spec.required, name


def test_a_page_without_its_markers_is_refused_not_rewritten(copy, capsys):
    page = copy / reference.SETTINGS_PAGE
    page.write_text(page.read_text().replace(reference.TABLE_END, ""))
    before = page.read_text()
    assert reference.main(["--root", str(copy)]) == 2
    assert "the markers" in capsys.readouterr().err
    assert page.read_text() == before
