"""Command-line tools beside the Pulumi program: `python -m hecate verify --stack beam`,
`python -m hecate fleet status|preview|rollout`."""

import sys

from . import verify
from .fleet import cli as fleet

COMMANDS = {"verify": verify.main, "fleet": fleet.main}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: python -m hecate {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
