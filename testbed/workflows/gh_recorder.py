"""A recorder that stands in for GitHub's API, the one thing the tests cannot reach: the `gh`
command the workflow harness puts on a job's PATH. It knows the calls the workflows make and
keeps what they did in one JSON file (pull requests, their comments, every call):

  gh pr create --base B --head H --title T --body S    (H must be a branch of the remote)
  gh pr comment N --body-file F [--edit-last]          (--edit-last fails with no comment yet)

Any other call fails, and is recorded as unknown so that the harness fails the run naming it
even when the workflow goes on past a failed command (`gh … || gh …`)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

STATE = "HECATE_GH_STATE"


def load(path: Path) -> dict:
    if path.exists():
        return json.loads(path.read_text())
    return {"pulls": [], "calls": [], "unknown": []}


class Refused(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise Refused(message)


def _pr_create(args: list[str], state: dict) -> str:
    parser = _Parser(prog="gh pr create", add_help=False)
    for flag in ("--base", "--head", "--title", "--body"):
        parser.add_argument(flag, required=True)
    options = parser.parse_args(args)
    heads = subprocess.run(
        ["git", "ls-remote", "--heads", "origin", options.head], capture_output=True, text=True
    )
    if not heads.stdout.strip():
        raise Refused(
            f"pull request create failed: head branch {options.head} is not on the remote"
        )
    if any(p["head"] == options.head and p["state"] == "open" for p in state["pulls"]):
        raise Refused(f"a pull request for branch {options.head!r} already exists")
    number = len(state["pulls"]) + 1
    state["pulls"].append(
        {
            "number": number,
            "base": options.base,
            "head": options.head,
            "title": options.title,
            "body": options.body,
            "state": "open",
            "comments": [],
        }
    )
    return f"https://github.com/{os.environ.get('GITHUB_REPOSITORY', '')}/pull/{number}"


def _pr_comment(args: list[str], state: dict) -> str:
    parser = _Parser(prog="gh pr comment", add_help=False)
    parser.add_argument("number", type=int)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--edit-last", action="store_true")
    options = parser.parse_args(args)
    pulls = [p for p in state["pulls"] if p["number"] == options.number]
    if not pulls:
        raise Refused(f"no pull request #{options.number}")
    body = Path(options.body_file).read_text()
    comments = pulls[0]["comments"]
    if options.edit_last:
        if not comments:
            raise Refused("no comments found for current user")
        comments[-1] = body
    else:
        comments.append(body)
    return f"#{options.number} commented"


KNOWN = {("pr", "create"): _pr_create, ("pr", "comment"): _pr_comment}


def main(argv: list[str]) -> int:
    path = Path(os.environ[STATE])
    state = load(path)
    call = {"argv": argv, "token": bool(os.environ.get("GH_TOKEN"))}
    handler = KNOWN.get((argv[0], argv[1])) if len(argv) > 1 else None
    if handler is None:
        state["unknown"].append(call)
        path.write_text(json.dumps(state, indent=2))
        print(f"gh (the tests' recorder): unknown call: gh {' '.join(argv)}", file=sys.stderr)
        return 1
    try:
        if not call["token"]:
            raise Refused("GH_TOKEN is not set")
        said = handler(argv[2:], state)
    except Refused as refusal:
        call["refused"] = str(refusal)
        state["calls"].append(call)
        path.write_text(json.dumps(state, indent=2))
        print(f"gh: {refusal}", file=sys.stderr)
        return 1
    state["calls"].append(call)
    path.write_text(json.dumps(state, indent=2))
    print(said)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
