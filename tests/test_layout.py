"""The house: the imports go one way, and the documentation describes the tree as it is."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from testbed.mocks import ROOT


def imported(path: Path) -> set[str]:
    """Every module a file imports, absolute (relative imports resolved against its package)."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = ".".join((*base, *(node.module.split(".") if node.module else ())))
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def python_files(*where: str) -> list[Path]:
    found: list[Path] = []
    for name in where:
        target = ROOT / name
        found += [target] if target.is_file() else sorted(target.rglob("*.py"))
    return [p for p in found if ".venv" not in p.parts]


def importers(files: list[Path], prefix: str) -> list[str]:
    return [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in files
        for name in sorted(imported(p))
        if name == prefix or name.startswith(prefix + ".")
    ]


def test_the_program_imports_neither_the_local_fleet_nor_the_tests():
    files = python_files("hecate", "__main__.py", "policy")
    assert importers(files, "testbed") + importers(files, "tests") == []


def test_nothing_outside_tests_imports_tests():
    files = python_files("hecate", "testbed", "scripts", "policy", "__main__.py")
    assert importers(files, "tests") == []


def test_the_fleet_tool_and_verify_stand_on_the_project_layer_not_on_each_other():
    fleet = python_files("hecate/fleet")
    verify = [ROOT / "hecate" / "verify.py"]
    assert importers(fleet, "hecate.verify") == []
    assert importers(verify, "hecate.fleet") == []
    assert importers(fleet, "hecate.project") and importers(verify, "hecate.project")


# Packages whose modules import one way, lowest first: a module imports only those before it;
# a module beside the order (settings' digests) imports only what is named for it.
ONE_WAY = {
    "hecate/settings": (
        ("values", "parsers", "workload", "notifications", "table", "config"),
        {"digests": {"values", "parsers", "workload", "table"}},
    ),
    "hecate/adopt": (("model", "inverse", "planning", "writing", "report", "cli"), {}),
}


@pytest.mark.parametrize("package", sorted(ONE_WAY))
def test_a_package_s_imports_run_one_way(package):
    order, besides = ONE_WAY[package]
    dotted = package.replace("/", ".")
    found = []
    for path in python_files(package):
        name = path.stem
        if name == "__init__":
            continue  # the package's names, from every module
        uses = {
            module[len(dotted) + 1 :].split(".")[0]
            for module in imported(path)
            if module.startswith(dotted + ".")
        } - {name}
        allowed = besides[name] if name in besides else set(order[: order.index(name)])
        found += [f"{package}/{name}.py imports {u}" for u in sorted(uses - allowed)]
    assert found == []
    assert {p.stem for p in python_files(package)} == {"__init__", *order, *besides}


def test_no_module_imports_another_s_private_names():
    """A leading underscore is a module's own: what another module needs is made public."""
    found = []
    for path in python_files("hecate", "testbed", "tests", "policy", "scripts", "__main__.py"):
        package = path.relative_to(ROOT).with_suffix("").parts[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            module = node.module or ""
            ours = node.level > 0 or module.split(".")[0] in ("hecate", "testbed", "tests")
            private = [
                a.name for a in node.names if a.name.startswith("_") and not a.name.endswith("__")
            ]
            if ours and private:
                where = ".".join((*package, module)) if node.level else module
                found.append(f"{path.relative_to(ROOT)}: from {where} import {', '.join(private)}")
    assert found == []


def test_the_imports_are_resolved_as_python_resolves_them():
    """The checks above are only as good as this reader of imports."""
    assert "hecate.project" in imported(ROOT / "hecate" / "fleet" / "stacks.py") | imported(
        ROOT / "hecate" / "fleet" / "rollout.py"
    )
    assert "hecate.settings" in imported(ROOT / "hecate" / "project.py")


def layout_block() -> str:
    page = (ROOT / "docs" / "development.md").read_text()
    section = page[page.index("## The code's layout") :]
    return section[section.index("```") + 3 : section.index("```", section.index("```") + 3)]


@pytest.mark.parametrize("package", ["hecate", "hecate/fleet", "testbed"])
def test_the_documented_layout_names_every_module_and_only_modules_that_exist(package):
    block = layout_block()
    # The lines under the package's own heading line, at its depth of the tree drawing.
    heading = package.rsplit("/", 1)[-1] + "/"
    lines = block.splitlines()
    start = next(
        i for i, line in enumerate(lines) if re.search(rf"[─\s]{re.escape(heading)}", f" {line}")
    )
    indent = len(lines[start]) - len(lines[start].lstrip(" │├└─"))
    documented = set()
    for line in lines[start + 1 :]:
        depth = len(line) - len(line.lstrip(" │├└─"))
        if depth <= indent:
            break
        if depth == indent + 4 and (match := re.match(r"(\S+\.py)\s", line.lstrip(" │├└─"))):
            documented.add(match[1])
    actual = {p.name for p in (ROOT / package).glob("*.py") if p.name != "__init__.py"}
    assert documented == actual, (
        f"undocumented: {sorted(actual - documented)}, gone: {sorted(documented - actual)}"
    )


def test_the_readme_links_every_page_of_docs_and_every_link_resolves():
    readme = (ROOT / "README.md").read_text()
    pages = {p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md")}
    linked = set(re.findall(r"\]\((docs/[^)#]+\.md)", readme))
    assert linked == pages
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+\.md)", page.read_text()):
            assert (page.parent / target).is_file(), f"{page.name} links to {target}"
