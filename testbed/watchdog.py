"""The fleet's watchdog: takes a test run's fleet down when the process that owns it dies,
however it dies (SIGKILL, an out-of-memory kill, a closed terminal, a broken pipe).

Which mechanism covers which process:
- The owner (a pytest session, a bench script) holds the write end of a pipe; this process, in a
  session of its own so that no signal to the owner's process group reaches it, holds the read
  end. The kernel closes the owner's end when the owner exits, so a read here returns EOF then,
  whatever killed it.
- It then stops every process of the fleet by the pid files in the work directory: those the
  fleet started itself (controllers, the git server) and those kwokctl started (etcd, the API
  server, controller-manager, scheduler, kwok), as `make fleet-down` does; and last, any process
  still working in the work directory or naming it on its command line (one started in the
  moment before its pid file was written).
- Not the kernel's parent-death signal: kwokctl's processes outlive kwokctl by design, and a
  `make fleet-up` fleet outlives the command that made it (that one has no watchdog).

    python -m testbed.watchdog --workdir DIR --lifeline FD
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.watchdog")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--lifeline", type=int, required=True, help="the pipe's read end")
    args = parser.parse_args(argv)
    # SIGTERM is the owner standing it down before taking the fleet down itself.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    os.chdir("/")  # never inside the work directory it is about to sweep
    while os.read(args.lifeline, 1024):
        pass  # the owner never writes: anything read is ignored; EOF is the news
    from testbed.local_fleet import Bringup  # only now: nothing to load while waiting

    print(f"watchdog: the owner of {args.workdir} is gone; taking its fleet down", flush=True)
    Bringup(args.workdir).down(owner_gone=True)
    print("watchdog: done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
