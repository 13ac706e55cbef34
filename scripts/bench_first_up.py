"""The first command on a new machine (`make bench-first-up`): `make up STACK=beam` in a fresh
clone with every cache empty (HECATE_CACHE, Go's module and build caches, pip's), timed whole
and per make step, printed as a table (or `--json`). Tens of minutes: the engine is built from
Go modules where no release can be downloaded.

    scripts/bench_first_up.py [--stack beam] [--keep DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hecate.signals import let_children_hear_sigint  # noqa: E402

# Where a step starts: make's recipe lines, and the install script's builds.
STEP = re.compile(
    r"^(python3 -m venv|bash scripts/install-pulumi|pulumi (up|stack)"
    r"|install-pulumi: .*(building|trying|ready))"
)


def main() -> int:
    let_children_hear_sigint()  # its pulumi processes as in a foreground run (hecate/signals.py)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="beam")
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temp dir)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="hecate-first-up-"))
    work.mkdir(parents=True, exist_ok=True)
    clone = work / "hecate-infra"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    cold = {
        "HECATE_CACHE": str(work / "cache" / "hecate"),
        "GOMODCACHE": str(work / "cache" / "go-mod"),
        "GOCACHE": str(work / "cache" / "go-build"),
        "PIP_CACHE_DIR": str(work / "cache" / "pip"),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "MAKE", "VIRTUAL"))}
    env.update(cold)
    log = work / "make-up.log"
    started = time.monotonic()
    marks: list[tuple[str, float]] = []
    with log.open("w") as out:
        process = subprocess.Popen(
            ["make", "up", f"STACK={args.stack}"],
            cwd=clone,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:
            out.write(line)
            if STEP.match(line):
                marks.append((line.strip()[:70], time.monotonic() - started))
            print(f"[{time.monotonic() - started:7.1f}s] {line}", end="", file=sys.stderr)
        code = process.wait()
    total = time.monotonic() - started
    if code != 0:
        print(f"bench: make up failed (exit {code}); see {log}", file=sys.stderr)
        return 1
    record = {
        "what": f"first `make up STACK={args.stack}`, every cache empty",
        "seconds": round(total, 1),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "steps": [{"from": what, "at_seconds": round(at, 1)} for what, at in marks],
    }
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        print(f"{record['what']}: {total / 60:.1f} min ({record['date']}, {record['machine']})")
        for what, at in marks:
            print(f"  {at / 60:6.1f} min  {what}")
    if not args.keep:  # Go leaves its module cache read-only: its own command removes it
        subprocess.run(["go", "clean", "-modcache"], env=env, check=False)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
