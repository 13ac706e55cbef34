"""The commands the docs show, read as a shell would read them and checked against the tools as
they are: each `hecate …` parses with the command's own argument parser, each `make` target
exists, each `hecate:` setting `pulumi config set` names is in the settings table. And every
shell block says how it is tested: run by a named test (docs/getting-started.md's, on the local
fleet, by tests/local_fleet/test_waves_page_getting_started.py), or not run, with the reason."""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from hecate.__main__ import COMMANDS
from hecate.settings import SETTINGS
from testbed.doc_pages import PAGES, shell_blocks
from testbed.mocks import ROOT

# Every `hecate` command's own parser, from the table `hecate` dispatches with.
PARSERS = {name: importlib.import_module(module).parser for name, module in COMMANDS.items()}
SEPARATORS = {"&&", "||", ";", "|"}
SETTING_NAMES = {spec.name for _, spec in SETTINGS}


def blocks(page: Path) -> Iterator[tuple[int, str]]:
    """Each shell block of the page: its first line's number, its text."""
    for block in shell_blocks(page):
        yield block.line, block.text


def commands(block: str) -> Iterator[list[str]]:
    """The block's commands as words: continuations joined, prompts and comments dropped,
    split at `&&`, `||`, `;` and `|`; command substitutions read as commands of their own."""
    text = re.sub(r"\\\n\s*", " ", block)
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("$ "):
            line = line[2:]
        elif not line or line.startswith("#") or line[0] in "{}<>→.│├└":
            continue  # output shown after a command, or a comment
        for inner in re.findall(r"\$\(([^)]*)\)", line):
            yield from commands(inner)
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.commenters = "#"
        lexer.whitespace_split = True
        try:
            words = list(lexer)
        except ValueError:
            continue  # not a shell line (a YAML key, prose)
        current: list[str] = []
        for word in [*words, ";"]:
            if word in SEPARATORS:
                if current:
                    yield current
                current = []
            else:
                current.append(word)


def program(words: list[str]) -> list[str]:
    """The words from the program on: environment assignments before it dropped, `python -m
    hecate` and `.venv/bin/hecate` read as `hecate`, a synopsis's brackets taken off."""
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        words = words[1:]
    if words[:3] in (["python", "-m", "hecate"], [".venv/bin/python", "-m", "hecate"]):
        words = ["hecate", *words[3:]]
    if words and words[0].endswith("/hecate"):
        words = ["hecate", *words[1:]]
    # A synopsis (`status [--json] [--no-clusters]`): every option it shows, as if given.
    return [w.lstrip("[").rstrip("]") if w.startswith("[") or w.endswith("]") else w for w in words]


def make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z0-9_.-]+):(?!=)", makefile, re.MULTILINE))


def documented() -> Iterator[tuple[str, list[str]]]:
    for page in PAGES:
        for start, block in blocks(page):
            for words in commands(block):
                yield f"{page.relative_to(ROOT)}:{start}", program(words)


def problem(words: list[str], targets: set[str]) -> str | None:
    """What is wrong with a documented command, or None."""
    if words[:1] == ["hecate"]:
        if len(words) < 2 or words[1] not in PARSERS:
            return f"`hecate {' '.join(words[1:2])}`: no such command ({', '.join(PARSERS)})"
        if any("<" in w or "…" in w or "..." in w for w in words):
            return None  # a template (`<stack>`, `…`): the command is known, its values are not
        said = io.StringIO()
        with contextlib.redirect_stderr(said), contextlib.redirect_stdout(io.StringIO()):
            try:
                PARSERS[words[1]]().parse_args(words[2:])
            except SystemExit as done:
                if done.code:
                    return said.getvalue().strip().splitlines()[-1]
        return None
    if words[:1] == ["make"]:
        wanted = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        unknown = [w for w in wanted if w not in targets]
        return f"make: no target {', '.join(unknown)}" if unknown else None
    if words[:3] == ["pulumi", "config", "set"]:
        keys = [re.sub(r"\..*", "", w) for w in words[3:] if re.match(r"(hecate|kubernetes):", w)]
        unknown = [k for k in keys if k not in SETTING_NAMES]
        return f"no setting {', '.join(unknown)} (docs/settings.md)" if unknown else None
    return None


def test_the_docs_show_commands_at_all():
    """The reader below finds what it checks: a change to how blocks are read cannot silently
    leave every command out."""
    seen = [words[:2] for _, words in documented()]
    assert ["hecate", "fleet"] in seen and ["hecate", "doctor"] in seen
    assert ["make", "up"] in [w[:2] for w in seen] or any(w[:1] == ["make"] for w in seen)
    assert ["pulumi", "config"] in seen


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_in_the_docs_is_one_the_tools_accept(page):
    targets = make_targets()
    found = []
    for start, block in blocks(page):
        for words in commands(block):
            words = program(words)
            if (said := problem(words, targets)) is not None:
                found.append(f"{page.relative_to(ROOT)}:{start}: `{' '.join(words)}`: {said}")
    assert found == []


@pytest.mark.parametrize(
    ("words", "said"),
    [
        (["hecate", "fleet", "rollout", "--approve"], "expected one argument"),
        (["hecate", "fleet", "rolout"], "invalid choice: 'rolout'"),
        (["hecate", "docter"], "no such command"),
        (["make", "deploy"], "make: no target deploy"),
        (["pulumi", "config", "set", "hecate:logLvl", "debug"], "no setting hecate:logLvl"),
    ],
)
def test_a_command_the_tools_do_not_accept_is_named(words, said):
    assert said in (problem(words, make_targets()) or "")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shell_block_says_how_it_is_tested(page):
    """`run by <test>`: the test exists and reads this page; `not run: <why>`: a reason, not a
    word. A block with neither is a command nobody checks runs."""
    found = []
    for block in shell_blocks(page):
        if (test := block.run_by) is not None:
            if not (ROOT / test).is_file():
                found.append(f"{block.where}: run by {test}, which does not exist")
            elif str(page.relative_to(ROOT)) not in (ROOT / test).read_text():
                found.append(f"{block.where}: {test} never names {page.relative_to(ROOT)}")
        elif (why := block.not_run_because) is not None:
            if len(why.split()) < 4:
                found.append(f"{block.where}: not run, for no stated reason ({why!r})")
        else:
            found.append(
                f"{block.where}: no `<!-- docs-test: run by <test> -->` or "
                "`<!-- docs-test: not run: <why> -->` above the block"
            )
    assert found == []


def test_the_getting_started_page_is_run_whole():
    """Its first real fleet is the one page run end to end: every shell block but the ones a
    test bed cannot run (GitHub, a flux CLI, a controller behind a Service)."""
    blocks = shell_blocks(ROOT / "docs" / "getting-started.md")
    run = [b for b in blocks if b.run_by]
    assert len(run) >= 8 and {b.run_by for b in run} == {
        "tests/local_fleet/test_waves_page_getting_started.py"
    }
    assert all(b.run_by or b.not_run_because for b in blocks)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_page_that_shows_pulumi_says_first_how_a_shell_gets_it(page):
    """Without `eval "$(make -s env)"` a fresh shell has no `pulumi`, or one that asks to log in
    to Pulumi Cloud: the first block that runs it comes after the page says so."""
    text = page.read_text()
    for block in shell_blocks(page):
        lines = block.text.splitlines()
        first = next(
            (i for i, line in enumerate(lines) if any(w[:1] == ["pulumi"] for w in commands(line))),
            None,
        )
        if first is not None:
            before = "\n".join(text.splitlines()[: block.line - 1] + lines[:first])
            assert 'eval "$(make -s env)"' in before, f"{block.where}: `pulumi` before the setup"
            return
