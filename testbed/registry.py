"""An OCI registry on loopback for the tests: go-containerregistry's `registry` (in memory),
started by the Launcher under a work directory and stopped by its pid; tags pushed with
`crane`, as a daemon release's CI pushes them."""

from __future__ import annotations

import io
import subprocess
import tarfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .paths import BIN
from .processes import Launcher, free_port, wait_for


@contextmanager
def local_registry(workdir: Path) -> Iterator[str]:
    """`127.0.0.1:<port>`, a registry that answers there until the block ends."""
    launcher = Launcher(workdir)
    for directory in (launcher.pids, launcher.logs):
        directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    launcher.spawn("registry", [str(BIN / "registry"), "--port", str(port)], {}, workdir)
    try:
        host = f"127.0.0.1:{port}"
        wait_for(
            "the registry",
            lambda: urllib.request.urlopen(f"http://{host}/v2/", timeout=2).status == 200,
            timeout=30,
            every=0.2,
            launcher=launcher,
        )
        yield host
    finally:
        launcher.stop()


def push_tag(image: str, tag: str) -> None:
    """An image (one empty layer) pushed to `image:tag`, as `crane append` makes one."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w"):
        pass
    done = subprocess.run(
        [str(BIN / "crane"), "append", "--new_layer", "/dev/stdin", "--new_tag", f"{image}:{tag}"],
        input=layer.getvalue(),
        capture_output=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"crane append {image}:{tag}: {done.stderr.decode().strip()}")
