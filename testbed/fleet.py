"""A fleet that is up (testbed/local_fleet.py brings one up and down): its clusters and ports
as `fleet.json` records them, and what the tests do with it: read a cluster (`get`, in process
for the kinds they poll), run kubectl, clone the gitops repository, and break things on purpose
(the git server, a control-plane process, a sealed-secrets controller) and start them again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from hecate.fleet.cluster_health import observed
from testbed import api_reads
from testbed.components import REPOSITORY
from testbed.paths import BIN
from testbed.processes import GIT_IDENTITY, FleetError, Launcher, git, signal_session, wait_for


@dataclass(frozen=True)
class Cluster:
    name: str
    api_port: int
    kubeconfig: str  # the cluster's own kubeconfig (kwokctl's), admin credentials
    storage_port: int  # source-controller's artifacts
    sealing_port: int  # the sealed-secrets controller's HTTP API (its certificate)
    ports: dict[str, int]  # every other port the controllers beside it listen on

    @property
    def sealing_cert_url(self) -> str:
        return f"http://127.0.0.1:{self.sealing_port}/v1/cert.pem"


def gitops_repository(workdir: Path) -> Path:
    """The bare gitops repository the fleet's git server serves."""
    return workdir / "git" / "repos" / REPOSITORY


@dataclass(frozen=True)
class Fleet:
    workdir: Path
    git_port: int
    nodes: int
    clusters: tuple[Cluster, ...]

    @property
    def git_url(self) -> str:
        return f"http://127.0.0.1:{self.git_port}/{REPOSITORY}"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    def cluster(self, name: str) -> Cluster:
        for cluster in self.clusters:
            if cluster.name == name:
                return cluster
        raise KeyError(f"no cluster {name} in the fleet ({', '.join(self.names)})")

    @property
    def names(self) -> list[str]:
        return [cluster.name for cluster in self.clusters]

    def clone_gitops(self, destination: Path, depth: int | None = None) -> Path:
        """A clone of the fleet's gitops repository at `destination`, as a person makes one
        (or, with `depth`, as CI's actions/checkout does: `--depth 1` by default there)."""
        env = {**os.environ, **GIT_IDENTITY}
        shallow = ("--depth", str(depth)) if depth else ()
        git(
            "clone", "--quiet", *shallow, self.git_url, str(destination),
            cwd=destination.parent, env=env,
        )  # fmt: skip
        return destination

    def holds(self, revision: str, commit: str) -> bool:
        """Whether what a Flux object reconciled (`main@sha1:<sha>`) holds `commit`: it is that
        commit or a later one of the gitops repository's history (another cluster's push may
        have come after it)."""
        sha = revision.rpartition(":")[2]
        if not sha or not commit:
            return False
        if sha == commit:
            return True
        done = subprocess.run(
            ["git", "merge-base", "--is-ancestor", commit, sha],
            cwd=gitops_repository(self.workdir),
            capture_output=True,
            timeout=60,
        )
        return done.returncode == 0

    def env(self) -> dict[str, str]:
        """The environment of a command run against the fleet."""
        return {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "KUBECONFIG": str(self.kubeconfig),
            "HECATE_GITOPS_URL": self.git_url,
        }

    def kubectl(self, cluster: str, *args: str, check: bool = True, input: str | None = None):
        done = subprocess.run(
            [str(BIN / "kubectl"), "--context", cluster, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            input=input,
            timeout=120,
        )
        if check and done.returncode != 0:
            raise FleetError(f"kubectl --context {cluster} {' '.join(args)}: {done.stderr.strip()}")
        return done

    def get(self, cluster: str, *args: str) -> dict:
        """`kubectl get ... -o json`, parsed (read in this process for the kinds the tests poll:
        testbed/api_reads.py)."""
        read = api_reads.read(self.kubeconfig, cluster, args)
        if read is not None:
            return read
        return json.loads(self.kubectl(cluster, "get", *args, "-o", "json").stdout)

    # Failures on purpose, for the tests: the git server and a cluster's control plane.
    def stop_git_server(self) -> None:
        launcher = Launcher(self.workdir)
        launcher.stop([launcher.pids / "git-server.pid"])

    def start_git_server(self) -> None:
        Launcher(self.workdir).git_server(self.git_port)

    def kill_api_server(self, name: str) -> None:
        """SIGKILL the cluster's kube-apiserver, as a crash would: requests in flight break."""
        self.kill_control_plane(name, "kube-apiserver")

    def kill_control_plane(self, name: str, component: str) -> None:
        """SIGKILL one of the cluster's control-plane processes (e.g. kube-controller-manager:
        then no controller acts on what the API server accepts)."""
        launcher = Launcher(self.workdir)
        pid_file = self.workdir / "kwok" / "clusters" / name / "pids" / f"{component}.pid"
        pid = int(pid_file.read_text().split()[0])
        if launcher.ours(pid):
            signal_session(pid, signal.SIGKILL)
        # Gone for good, not a zombie: kwokctl would take a zombie for a running process.
        wait_for(f"{name}: {component} gone", lambda: not Path(f"/proc/{pid}").exists(), timeout=30)

    def stop_sealed_secrets(self, name: str) -> None:
        """Stop the cluster's sealed-secrets controller (by the pid the harness started)."""
        launcher = Launcher(self.workdir)
        launcher.stop([launcher.pids / f"{name}-sealed-secrets-controller.pid"])

    def start_sealed_secrets(self, name: str) -> None:
        """Start it again, as it was, and wait for its certificate."""
        cluster = self.cluster(name)
        home = self.workdir / "clusters" / name
        spawn_sealed_secrets(
            Launcher(self.workdir),
            name,
            home,
            cluster.api_port,
            cluster.sealing_port,
            cluster.ports,
        )
        wait_for(
            f"{name}: the sealed-secrets controller's certificate",
            lambda: urllib.request.urlopen(cluster.sealing_cert_url, timeout=2).status == 200,
            timeout=60,
        )

    def start_control_plane(self, name: str) -> None:
        """Start what is not running of the cluster's control plane, and wait for its nodes."""
        Launcher(self.workdir).run(
            f"{name}-kwokctl",
            [str(BIN / "kwokctl"), "start", "cluster", "--name", name, "--wait", "120s"],
        )
        wait_for(f"{name}: {self.nodes} nodes Ready", lambda: nodes_ready(self, name), 120)

    @classmethod
    def load(cls, workdir: Path) -> Fleet:
        state = workdir / "fleet.json"
        if not state.is_file():
            raise FleetError(f"no fleet in {workdir}: run `make fleet-up` first")
        raw = json.loads(state.read_text())
        return cls(
            workdir=workdir,
            git_port=raw["git_port"],
            nodes=raw["nodes"],
            clusters=tuple(Cluster(**c) for c in raw["clusters"]),
        )


def nodes_ready(fleet: Fleet, name: str) -> bool:
    items = fleet.get(name, "nodes")["items"]
    ready = [
        n
        for n in items
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in n["status"].get("conditions", [])
        )
    ]
    return len(ready) == fleet.nodes


def ready(obj: dict) -> bool:
    """A Flux object's Ready condition is True for its current generation."""
    status = obj.get("status", {})
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", [])
    ) and observed(obj)


def spawn_sealed_secrets(
    launcher: Launcher, name: str, home: Path, api_port: int, sealing_port: int, ports: dict
) -> None:
    """The cluster's sealed-secrets controller, with the service account files `home/run`
    holds bind-mounted over /run in a mount namespace of its own."""
    target = os.path.realpath("/var/run")
    isolate = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        isolate = ["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"]
    launcher.spawn(
        f"{name}-sealed-secrets-controller",
        [
            *isolate,
            "sh",
            "-c",
            'mount --bind "$0" "$1" && shift && exec "$@"',
            str(home / "run"),
            target,
            str(BIN / "sealed-secrets-controller"),
            f"--listen-addr=127.0.0.1:{sealing_port}",
            f"--listen-metrics-addr=127.0.0.1:{ports['sealing-metrics']}",
        ],
        env=launcher.base_env(
            KUBERNETES_SERVICE_HOST="127.0.0.1", KUBERNETES_SERVICE_PORT=str(api_port)
        ),
        cwd=home / "sealed-secrets-controller",
    )


def fetch_cert(fleet, cluster: str) -> str:
    """The controller's certificate, fetched with kubeseal as a person would."""
    return subprocess.run(
        [str(BIN / "kubeseal"), "--fetch-cert", "--cert", fleet.cluster(cluster).sealing_cert_url],
        capture_output=True,
        text=True,
        check=True,
        env=fleet.env(),
    ).stdout
