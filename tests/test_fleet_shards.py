"""`fleet preview --shard I/N`: every stack in exactly one shard, the same on every run, and
the shards' reports merged into the report an unsharded preview writes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hecate.fleet import cli, shards
from hecate.fleet.report import PreviewReport
from hecate.fleet.shards import Shard, ShardError
from hecate.fleet.stacks import ChangeSummary

NAMES = st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True), unique=True, max_size=60)


@given(NAMES, st.integers(1, 12))
def test_every_stack_is_in_exactly_one_shard(stacks, count):
    held = [Shard(i, count).of(stacks) for i in range(1, count + 1)]
    assert sorted(s for shard in held for s in shard) == sorted(stacks)
    # Stable: a stack's shard is its own, whatever other stacks there are.
    for index, shard in enumerate(held, 1):
        for stack in shard:
            assert Shard(index, count).of([stack]) == [stack]


def test_the_shards_of_a_hundred_stacks_are_about_even():
    stacks = [f"fleet-{n}" for n in range(100)]
    sizes = [len(Shard(i, 4).of(stacks)) for i in range(1, 5)]
    assert sum(sizes) == 100 and max(sizes) - min(sizes) <= 15, sizes


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "1", "a/b", "1/3 ", "１/3", "-1/3"])
def test_a_bad_shard_is_refused_naming_the_flag(text):
    with pytest.raises(ShardError, match=rf"--shard: {text!r} is not a shard; write I/N"):
        Shard.parse(text)


def test_the_matrix_has_a_shard_per_so_many_stacks():
    assert shards.matrix(["a"] * 3, 10) == ["1/1"]
    assert shards.matrix(["a"] * 30, 10) == ["1/3", "2/3", "3/3"]
    assert shards.matrix([], 10) == ["1/1"]


def summaries(stacks: list[str]) -> list[ChangeSummary]:
    return [
        ChangeSummary(s, n % 5 != 4, {"update": 1} if n % 3 == 0 else {}, f"preview of {s}\n")
        for n, s in enumerate(stacks)
    ]


def test_the_merged_report_is_the_unsharded_one(tmp_path):
    stacks = [f"fleet-{n:02}" for n in range(30)]
    everything = summaries(stacks)
    files = []
    for index in range(1, 4):
        mine = Shard(index, 3).of(stacks)
        file = tmp_path / f"shard-{index}.json"
        file.write_text(shards.dump([s for s in everything if s.stack in mine]))
        files.append(file)
    merged = shards.merged(list(reversed(files)), stacks)
    assert merged == everything
    for expect in (False, True):
        report, whole = PreviewReport(merged, expect), PreviewReport(everything, expect)
        assert report.markdown() == whole.markdown()


def test_a_missing_or_doubled_stack_is_refused(tmp_path):
    stacks = ["a", "b", "c"]
    one, two = tmp_path / "1.json", tmp_path / "2.json"
    one.write_text(shards.dump(summaries(["a", "b"])))
    two.write_text(shards.dump(summaries(["b", "x"])))
    with pytest.raises(ShardError) as refused:
        shards.merged([one, two], stacks)
    message = str(refused.value)
    assert "b: in more than one report" in message
    assert "c: in no report (did its shard run?)" in message
    assert "x: not a stack of this project" in message


def test_the_command_line_merges_shards_and_refuses_bad_ones(committed_copy, tmp_path, capsys):
    stacks = sorted(p.name.split(".")[1] for p in committed_copy.glob("Pulumi.*.yaml"))
    file = tmp_path / "all.json"
    file.write_text(shards.dump(summaries(stacks)))
    report = tmp_path / "report.md"
    merge = ["--root", str(committed_copy), "merge-previews", str(file), "--report", str(report)]
    assert cli.main(merge) == 0
    assert cli.main([*merge, "--expect-no-changes"]) == 1  # the first stack's made-up change
    assert report.read_text() == (
        PreviewReport(summaries(stacks)).markdown()
        + PreviewReport(summaries(stacks), True).markdown()
    )
    capsys.readouterr()
    file.write_text(shards.dump(summaries(stacks[:-1])))
    assert cli.main(["--root", str(committed_copy), "merge-previews", str(file)]) == 2
    assert f"{stacks[-1]}: in no report" in capsys.readouterr().err
    assert cli.main(["--root", str(committed_copy), "shards", "--per-shard", "2"]) == 0
    assert json.loads(capsys.readouterr().out) == ["1/2", "2/2"]
