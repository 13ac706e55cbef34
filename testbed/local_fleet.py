"""The local fleet: real clusters on this machine, for the tests and for people to try things on.

Each cluster is a kwokctl cluster of real binaries (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, and kwok's controller for fake nodes that take pods), with Flux's
source-controller and kustomize-controller and the sealed-secrets controller running beside it,
set up the way `flux bootstrap` leaves a cluster: a `flux-system` GitRepository and Kustomization
syncing `./clusters/<cluster>` from one git server that all clusters share.

Everything listens on 127.0.0.1 and lives under one work directory:

    home/          HOME of every process started here
    kwok/          KWOK_WORKDIR (each cluster's pki, kubeconfig, logs and pid files)
    git/repos/     the bare repositories the git server serves (hecate-gitops)
    clusters/<c>/  cluster <c>'s kwokctl.yaml, and what the controllers beside it keep (Flux's
                   artifacts, tokens, their TMPDIR)
    logs/          one log per process started here
    pids/          one pid file per process started here
    kubeconfig     one context per cluster, named after it
    fleet.json     the fleet's ports and paths, for the tests and `fleet down`
    env            `export` lines: KUBECONFIG, HECATE_GITOPS_URL

Every process started here is stopped by its recorded process id, and only if its working
directory is still inside the work directory (a recycled pid is left alone).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path

import yaml

from testbed.components import (
    BRANCH,
    CLUSTERS,
    KWOKCTL_PORTS,
    REPOSITORY,
    SEALED_SECRETS_ACCOUNT,
    SEALED_SECRETS_NAMESPACE,
    flux_bootstrap,
    kwokctl_config,
    missing_components,
)
from testbed.faults import UNREADY_SUFFIX
from testbed.fleet import (
    Cluster,
    Fleet,
    gitops_repository,
    nodes_ready,
    ready,
    spawn_sealed_secrets,
)
from testbed.paths import BIN, ROOT, TESTBED
from testbed.processes import (
    GIT_IDENTITY,
    FleetError,
    Launcher,
    alive,
    free_port,
    free_ports,
    git,
    signal_session,
    wait_for,
)

# The ports of the controllers beside a cluster (its storage and sealing ports aside).
CONTROLLER_PORTS = (
    "source-metrics",
    "source-health",
    "kustomize-metrics",
    "kustomize-health",
    "notification-events",
    "notification-receiver",
    "notification-metrics",
    "notification-health",
    "sealing-metrics",
)
OWNER_FILE = "owner.json"  # who owns the fleet: a process (tied) or nobody (`make fleet-up`)
WATCHDOG_PID = "watchdog.pid"  # beside pids/, not in it: stopping the fleet never stops it
# A port picked at random is free when picked, not held: another process may take it before the
# component binds it (seen once in CI: a sealed-secrets controller's). Then the fleet comes up
# again, once, on new ports.
PORT_TAKEN = "address already in use"


class Bringup:
    """Brings a fleet up in a work directory; `down` takes it down from the files alone.

    `tied` (the default: tests and benches): the fleet goes down with the process that brought
    it up, however that dies, through a watchdog (testbed/watchdog.py). Untied
    (`make fleet-up`): it stays up until `make fleet-down`.
    """

    def __init__(
        self,
        workdir: Path,
        names: Iterable[str] = CLUSTERS,
        nodes: int = 3,
        progress: Callable[[str], None] = lambda _: None,
        tied: bool = True,
    ):
        self.workdir = workdir.resolve()
        self.names = list(names)
        self.nodes = nodes
        self.say = progress
        self.tied = tied
        self.launcher = Launcher(self.workdir)
        self._lifeline: int | None = None  # the pipe's write end, held while the fleet is up

    def up(self) -> Fleet:
        missing = missing_components()
        if missing:
            raise FleetError(f"missing {', '.join(missing)}: run `scripts/install-testbed`")
        if (self.workdir / "fleet.json").exists() or (self.workdir / OWNER_FILE).exists():
            gone = self.abandoned()
            if not gone:
                raise FleetError(
                    f"a fleet is already up in {self.workdir}: `make fleet-down` first"
                )
            self.say(f"the fleet in {self.workdir} {gone}: stopping it first")
            self.down()
        attempt = 1
        while True:
            for sub in ("home", "kwok", "git/repos", "clusters", "logs", "pids"):
                (self.workdir / sub).mkdir(parents=True, exist_ok=True)
            try:
                self._own()
                return self._up()
            except BaseException as error:
                self.down()
                taken = self._port_taken() if isinstance(error, FleetError) else ""
                if attempt > 1 or not taken:
                    raise
                # The logs of the attempt stay, beside the next one's.
                (self.workdir / "logs").rename(self.workdir / f"logs-attempt-{attempt}")
                self.say(f"{taken}: starting the fleet again, on new ports")
                attempt += 1

    def _port_taken(self) -> str:
        """A component of the fleet that could not bind its port (another process took it
        between free_ports picking it and the component binding it): its log's line, or ""."""
        for log in sorted((self.workdir / "logs").glob("*.log")):
            with contextlib.suppress(OSError):
                for line in log.read_text(errors="replace").splitlines():
                    if PORT_TAKEN in line:
                        return f"{log.stem}: {line.strip()[:200]}"
        return ""

    def _own(self) -> None:
        """Record the owner and, for a tied fleet, start its watchdog, before any process."""
        owner = {"pid": os.getpid() if self.tied else None}
        (self.workdir / OWNER_FILE).write_text(json.dumps(owner))
        if not self.tied:
            return
        read, self._lifeline = os.pipe()  # neither end is inherited by anything else
        root = ROOT
        with open(self.workdir / "logs" / "watchdog.log", "ab") as log:
            watchdog = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "testbed.watchdog",
                    "--workdir",
                    str(self.workdir),
                    "--lifeline",
                    str(read),
                ],
                env={**self.launcher.base_env(PYTHONPATH=str(root))},
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(read,),
                start_new_session=True,
            )
        os.close(read)
        (self.workdir / WATCHDOG_PID).write_text(f"{watchdog.pid}\n")

    def abandoned(self) -> str:
        """Why the fleet in the work directory is to be stopped rather than refused as up:
        its owner died, or some of its processes did; "" for a fleet that is whole, or none."""
        if not any((self.workdir / f).exists() for f in ("fleet.json", OWNER_FILE)):
            return ""
        try:
            owner = json.loads((self.workdir / OWNER_FILE).read_text()).get("pid")
        except (OSError, ValueError):
            owner = None
        if owner is not None and not alive(owner):
            return f"was left by pid {owner}, which is gone"
        recorded = self.launcher.recorded()
        dead = [f.stem for f, pid in recorded.items() if not self.launcher.ours(pid)]
        if dead or not recorded:
            return f"is half gone ({len(dead) or 'all'} of its processes not running)"
        return ""

    def _up(self) -> Fleet:
        started = time.monotonic()
        git_port = self._git_server()
        url = f"http://127.0.0.1:{git_port}/{REPOSITORY}"
        self._seed_repository(url)
        clusters = []
        for name in self.names:
            self.say(f"{name}: control plane and {self.nodes} fake nodes")
            clusters.append(self._cluster(name, url))
        fleet = Fleet(self.workdir, git_port, self.nodes, tuple(clusters))
        self._kubeconfig(fleet)
        (self.workdir / "fleet.json").write_text(
            json.dumps(
                {
                    "git_port": git_port,
                    "nodes": self.nodes,
                    "clusters": [asdict(c) for c in clusters],
                },
                indent=2,
            )
        )
        for cluster in clusters:
            self._await_ready(fleet, cluster)
        (self.workdir / "env").write_text(
            "# The local fleet (`make fleet-up`): source this file.\n"
            f"export KUBECONFIG={fleet.kubeconfig}\n"
            f"export HECATE_GITOPS_URL={fleet.git_url}\n"
        )
        self.say(f"fleet ready in {time.monotonic() - started:.0f}s: {', '.join(self.names)}")
        return fleet

    def _git_server(self) -> int:
        repo = gitops_repository(self.workdir)
        git("init", "--quiet", "--bare", "--initial-branch", BRANCH, str(repo), cwd=self.workdir)
        git("config", "http.receivepack", "true", cwd=repo)
        port = free_port()
        self.launcher.git_server(port)
        return port

    def _seed_repository(self, url: str) -> None:
        """The first commit: each cluster's flux-system directory, as flux bootstrap leaves it."""
        seed = self.workdir / "git" / "seed"
        env = {**os.environ, **GIT_IDENTITY}
        git("init", "--quiet", "--initial-branch", BRANCH, str(seed), cwd=self.workdir, env=env)
        for name in self.names:
            directory = seed / "clusters" / name / "flux-system"
            directory.mkdir(parents=True)
            for file, text in flux_bootstrap(name, url).items():
                (directory / file).write_text(text)
        git("add", "--all", cwd=seed, env=env)
        git(
            "commit",
            "--quiet",
            "-m",
            "flux bootstrap: flux-system of each cluster",
            cwd=seed,
            env=env,
        )
        git("push", "--quiet", url, f"HEAD:{BRANCH}", cwd=seed, env=env)
        shutil.rmtree(seed)

    def _cluster(self, name: str, url: str) -> Cluster:
        launcher = self.launcher
        home = self.workdir / "clusters" / name
        home.mkdir(parents=True, exist_ok=True)
        # Every port this cluster's processes listen on, distinct and picked at once.
        names = (*KWOKCTL_PORTS, *CONTROLLER_PORTS, "storage", "sealing")
        picked = dict(zip(names, free_ports(len(names)), strict=True))
        config = home / "kwokctl.yaml"
        config.write_text(kwokctl_config(UNREADY_SUFFIX, {k: picked[k] for k in KWOKCTL_PORTS}))
        launcher.run(
            f"{name}-kwokctl",
            [
                str(BIN / "kwokctl"),
                "--config",
                str(config),
                "create",
                "cluster",
                "--name",
                name,
                "--wait",
                "120s",
            ],
        )
        kubeconfig = self.workdir / "kwok" / "clusters" / name / "kubeconfig.yaml"
        server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        api_port = int(server.rsplit(":", 1)[1])
        launcher.run(
            f"{name}-kwokctl",
            [str(BIN / "kwokctl"), "scale", "node", "--name", name, "--replicas", str(self.nodes)],
        )

        def kubectl(*args: str, input: str | None = None) -> str:
            argv = [str(BIN / "kubectl"), "--kubeconfig", str(kubeconfig), *args]
            return launcher.run(f"{name}-kubectl", argv, timeout=120, input=input)

        # Every CRD the controllers watch, server-side: they are too big for the annotation
        # that a client-side apply keeps.
        kubectl("apply", "--server-side", "-f", str(TESTBED / "crds"))
        kubectl("wait", "--for", "condition=Established", "--timeout", "60s", "crd", "--all")
        kubectl("create", "namespace", "flux-system")

        ports = {key: picked[key] for key in CONTROLLER_PORTS}
        # Where the other controllers send their events (as flux install points them at the
        # notification-controller's service): its Alerts forward them to Providers.
        events = f"--events-addr=http://127.0.0.1:{ports['notification-events']}/"
        storage_port, sealing_port = picked["storage"], picked["sealing"]
        (home / "artifacts").mkdir(parents=True, exist_ok=True)
        # Each cluster's controllers get a temporary directory of their own, as each pod has:
        # kustomize-controller removes every kustomization-* directory in its TMPDIR when it
        # starts, so on a shared /tmp a controller starting (another cluster's, another fleet's)
        # pulled a running one's build from under it ("evalsymlink failure", BuildFailed).
        (home / "controller-tmp").mkdir(exist_ok=True)
        flux_env = launcher.base_env(
            KUBECONFIG=str(kubeconfig),
            RUNTIME_NAMESPACE="flux-system",
            TMPDIR=str(home / "controller-tmp"),
        )
        launcher.spawn(
            f"{name}-source-controller",
            [
                str(BIN / "source-controller"),
                "--enable-leader-election=false",
                f"--storage-path={home / 'artifacts'}",
                f"--storage-addr=127.0.0.1:{storage_port}",
                f"--storage-adv-addr=127.0.0.1:{storage_port}",
                f"--metrics-addr=127.0.0.1:{ports['source-metrics']}",
                f"--health-addr=127.0.0.1:{ports['source-health']}",
                events,
                "--log-encoding=console",
            ],
            env=flux_env,
            cwd=home / "source-controller",
        )
        launcher.spawn(
            f"{name}-kustomize-controller",
            [
                str(BIN / "kustomize-controller"),
                "--enable-leader-election=false",
                f"--metrics-addr=127.0.0.1:{ports['kustomize-metrics']}",
                f"--health-addr=127.0.0.1:{ports['kustomize-health']}",
                events,
                "--log-encoding=console",
            ],
            env=flux_env,
            cwd=home / "kustomize-controller",
        )
        launcher.spawn(
            f"{name}-notification-controller",
            [
                str(BIN / "notification-controller"),
                "--enable-leader-election=false",
                f"--events-addr=127.0.0.1:{ports['notification-events']}",
                f"--receiverAddr=127.0.0.1:{ports['notification-receiver']}",
                f"--metrics-addr=127.0.0.1:{ports['notification-metrics']}",
                f"--health-addr=127.0.0.1:{ports['notification-health']}",
                # Flux's 5m drops a repeated event; a test's next rollout must be heard.
                "--rate-limit-interval=1s",
                "--log-encoding=console",
            ],
            env=flux_env,
            cwd=home / "notification-controller",
        )
        self._sealed_secrets(name, kubeconfig, api_port, sealing_port, ports, home, kubectl)
        kubectl("apply", "-f", "-", input=flux_bootstrap(name, url)["gotk-sync.yaml"])
        return Cluster(name, api_port, str(kubeconfig), storage_port, sealing_port, ports)

    def _sealed_secrets(self, name, kubeconfig, api_port, sealing_port, ports, home, kubectl):
        """The controller reads only in-cluster configuration: give it a service account's
        token, the cluster's CA and its namespace where a pod would find them, in a mount
        namespace of its own (a bind mount over /run, which /var/run points to)."""
        ns = SEALED_SECRETS_NAMESPACE
        kubectl("create", "serviceaccount", SEALED_SECRETS_ACCOUNT, "-n", ns)
        # Test bed only: the controller's own namespace and every secret it seals into.
        kubectl(
            "create",
            "clusterrolebinding",
            SEALED_SECRETS_ACCOUNT,
            "--clusterrole=cluster-admin",
            f"--serviceaccount={ns}:{SEALED_SECRETS_ACCOUNT}",
        )
        token = kubectl("create", "token", SEALED_SECRETS_ACCOUNT, "-n", ns, "--duration=48h")
        run = home / "run"
        account = run / "secrets" / "kubernetes.io" / "serviceaccount"
        account.mkdir(parents=True, exist_ok=True)
        (account / "token").write_text(token.strip())
        (account / "namespace").write_text(ns)
        ca = yaml.safe_load(Path(kubeconfig).read_text())["clusters"][0]["cluster"]
        if "certificate-authority" in ca:
            shutil.copy(ca["certificate-authority"], account / "ca.crt")
        else:
            (account / "ca.crt").write_bytes(base64.b64decode(ca["certificate-authority-data"]))
        spawn_sealed_secrets(self.launcher, name, home, api_port, sealing_port, ports)

    def _kubeconfig(self, fleet: Fleet) -> None:
        """One kubeconfig, one context per cluster named after it."""
        merged: dict = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [],
            "users": [],
            "contexts": [],
            "current-context": fleet.clusters[0].name,
            "preferences": {},
        }
        for cluster in fleet.clusters:
            own = yaml.safe_load(Path(cluster.kubeconfig).read_text())
            merged["clusters"].append(
                {"name": cluster.name, "cluster": own["clusters"][0]["cluster"]}
            )
            merged["users"].append({"name": cluster.name, "user": own["users"][0]["user"]})
            merged["contexts"].append(
                {"name": cluster.name, "context": {"cluster": cluster.name, "user": cluster.name}}
            )
        fleet.kubeconfig.write_text(yaml.safe_dump(merged, sort_keys=False))

    def _await_ready(self, fleet: Fleet, cluster: Cluster) -> None:
        name, launcher = cluster.name, self.launcher
        wait_for(
            f"{name}: {fleet.nodes} nodes Ready",
            lambda: nodes_ready(fleet, name),
            timeout=120,
            launcher=launcher,
        )
        wait_for(
            f"{name}: the sealed-secrets controller's certificate",
            lambda: urllib.request.urlopen(cluster.sealing_cert_url, timeout=2).status == 200,
            timeout=120,
            launcher=launcher,
        )
        wait_for(
            f"{name}: Kustomization flux-system Ready",
            lambda: ready(fleet.get(name, "-n", "flux-system", "kustomization", "flux-system")),
            timeout=180,
            launcher=launcher,
        )

    def down(self, owner_gone: bool = False) -> list[int]:
        """Stop every cluster and process of the fleet. Returns the pids that had to be killed.
        (`owner_gone`: the watchdog, taking down the fleet of an owner that died.)"""
        if not owner_gone:
            self._stand_down_watchdog()
        for name in self._kwok_clusters():
            # Whatever it leaves running is stopped by pid below.
            with contextlib.suppress(FleetError, subprocess.TimeoutExpired, OSError):
                self.launcher.run(
                    f"{name}-kwokctl",
                    [str(BIN / "kwokctl"), "delete", "cluster", "--name", name],
                    timeout=120,
                )
        killed = self.launcher.stop()
        # Last, whatever no pid file names (started the moment before its file was written).
        strays = self.launcher.strays()
        for pid in strays:
            signal_session(pid, signal.SIGKILL)
        for sub in ("fleet.json", "env", "kubeconfig", OWNER_FILE, WATCHDOG_PID):
            (self.workdir / sub).unlink(missing_ok=True)
        # What the next fleet-up in this directory must not find: the repository, the clusters'
        # stores. The logs stay, for a look at what happened.
        for sub in ("git", "clusters", "kwok", "home", "pids"):
            shutil.rmtree(self.workdir / sub, ignore_errors=True)
        return killed + strays

    def _stand_down_watchdog(self) -> None:
        """The owner takes its fleet down itself: its watchdog is told to go first."""
        if self._lifeline is not None:
            os.close(self._lifeline)
            self._lifeline = None
        try:
            pid = int((self.workdir / WATCHDOG_PID).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        if pid != os.getpid() and alive(pid):
            signal_session(pid, signal.SIGTERM)
            wait_for("the fleet's watchdog to stand down", lambda: not alive(pid), timeout=10)

    def _kwok_clusters(self) -> list[str]:
        clusters = self.workdir / "kwok" / "clusters"
        return sorted(p.name for p in clusters.iterdir()) if clusters.is_dir() else []
