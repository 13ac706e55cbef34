"""docs/getting-started.md, run as written on the local fleet: a fresh clone of the project, a
shell that has only what the page's "What you need" lists (Python, git, make, Go, kubectl with
an admin's contexts; and how the machine reaches pip's and Go's registries), and each step's
shell block in order, in one shell session (its working directory and exports carried from
block to block), up to the first gated rollout.

What stands in for the reader: the page's addresses (the project's and the gitops repository's)
are the fresh clone's and the test bed's git server; the YAML a step asks for is written from
the page's own blocks (the gitops source with the test bed's URL and no deploy-key secret; the
plan's soak shortened); the blocks marked "not run" are skipped, and for `flux reconcile` the
test asks Flux the same through the API. `hecate doctor` gets each controller's certificate
address (the test bed's controllers are not behind a Service). Runs before test_waves_road.py,
which puts every cluster back on the committed version. After the page, the first block of
docs/operations.md (the everyday rollout commands) runs in the same shell."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import yaml

from testbed import flux
from testbed.doc_pages import ShellBlock, shell_blocks, yaml_blocks
from testbed.paths import BIN, ROOT
from testbed.processes import GIT_IDENTITY, git, wait_for
from tests.local_fleet.waves import STACKS

PAGE = ROOT / "docs" / "getting-started.md"
OPERATIONS = ROOT / "docs" / "operations.md"  # its first block, after the page
THIS = "tests/local_fleet/test_waves_page_getting_started.py"
PROJECT_URL = "https://github.com/hecate-social/hecate-infra"
GITOPS_URL = "git@github.com:your-org/your-gitops.git"


class ShellSession:
    """One reader's shell, block after block: each block runs under `bash -e -o pipefail` in
    the directory and with the exports the previous block left (kept in `state/`)."""

    def __init__(self, workdir: Path, env: dict[str, str]):
        self.state = workdir / "state"
        self.state.mkdir()
        self.env, self.cwd = env, workdir
        self.exports = self.state / "exports"
        self.exports.write_text("")
        self.log = workdir / "session.log"

    def run(self, block: ShellBlock, text: str, timeout: float) -> str:
        script = (
            f"source {shlex.quote(str(self.exports))}\n"
            f"cd {shlex.quote(str(self.cwd))}\n"
            f"trap 'pwd > {self.state}/cwd; export -p > {self.state}/exports' EXIT\n"
            f"set -e -o pipefail\n{text}\n"
        )
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-c", script],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        said = done.stdout + done.stderr
        with self.log.open("a") as log:
            log.write(f"=== {block.where}\n{text}\n--- exit {done.returncode}\n{said}\n")
        assert done.returncode == 0, f"{block.where} failed (exit {done.returncode}):\n{said}"
        self.cwd = Path((self.state / "cwd").read_text().strip())
        return said

    def variable(self, name: str) -> str:
        """An exported variable as the session has it now."""
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-c", f'source {self.exports}; printf %s "${name}"'],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout


def reader_env(workdir: Path, admin_kubeconfig: Path) -> dict[str, str]:
    """What the page asks a machine to have, and nothing of this test run: no virtualenv, no
    engine, no backend on PATH or in the environment."""
    tools = workdir / "tools"
    tools.mkdir()
    (tools / "kubectl").symlink_to(BIN / "kubectl")  # the admin's kubectl
    system = [str(tools)]
    for program in ("python3", "git", "make", "go"):
        found = shutil.which(program, path="/usr/local/go/bin:/usr/local/bin:/usr/bin:/bin")
        assert found, f"the machine has no {program}, which the page says it needs"
        if str(Path(found).parent) not in system:
            system.append(str(Path(found).parent))
    # How this machine reaches its package registries (pip's and Go's settings, proxies, CAs) is
    # the machine's, not the project's: a reader's shell has it too.
    machine = {
        k: v
        for k, v in os.environ.items()
        if re.match(r"(PIP_|GO[A-Z]+$|(HTTPS?|NO)_PROXY$|SSL_CERT_|REQUESTS_CA_BUNDLE$)", k.upper())
    }
    return {
        **machine,
        "HOME": os.environ["HOME"],  # where ~/.cache/hecate and pip's cache are
        "PATH": os.pathsep.join(system),
        "KUBECONFIG": str(admin_kubeconfig),
        "LANG": "C.UTF-8",
        "TMPDIR": str(workdir),
        **{k: v for k, v in GIT_IDENTITY.items() if k.startswith("GIT_")},
    }


def test_a_first_real_fleet_from_the_page_alone(fleet_project, tmp_path):
    fleet = fleet_project.fleet
    # Whatever the rollout tests before left (newer versions, 0.7.2x), the page's fleet starts
    # on a version before the page's, as a first fleet would; test_waves_road.py does the same.
    report = fleet_project.json("rollout", "0.7.2", "--allow-downgrade", "--plain")
    assert report["result"] == "rolled out", report["failure"]
    # The project as a fresh clone sees it: the committed tree, nothing built.
    origin = tmp_path / "origin" / "hecate-infra"
    git("clone", "--quiet", "--no-hardlinks", str(ROOT), str(origin), cwd=tmp_path)
    session = ShellSession(tmp_path, reader_env(tmp_path, fleet.kubeconfig))
    project = tmp_path / "hecate-infra"
    blocks = shell_blocks(PAGE)
    gitops_source, stack_file, plan = (yaml.safe_load(b) for b in yaml_blocks(PAGE))
    assert all(b.run_by == THIS or b.not_run_because for b in blocks)
    pushed = ""

    for block in blocks:
        first = block.text.splitlines()[0]
        if block.run_by != THIS:
            if first.startswith("flux reconcile"):
                # What `flux reconcile kustomization flux-system --with-source` asks.
                for kind in ("gitrepository", "kustomization"):
                    flux.request(fleet, "beam-cluster", kind, "flux-system")
            continue
        text = block.text.replace(PROJECT_URL, str(origin)).replace(GITOPS_URL, fleet.git_url)
        if first.startswith("make preview"):
            # Step 3: the gitops source, the page's block with the test bed's address (and no
            # deploy key: its git server asks for none). Step 4: the stack file, as shown.
            settings = yaml.safe_load((project / "Pulumi.yaml").read_text())
            source = dict(gitops_source["hecate:gitops"]["value"])
            source.update(url=fleet.git_url, secretRef="")
            settings["config"]["hecate:gitops"]["value"] = source
            (project / "Pulumi.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
            (project / "Pulumi.beam.yaml").write_text(yaml.safe_dump(stack_file))
        if first.startswith("hecate doctor"):
            urls = " ".join(
                f"--sealing-cert-url {s}={fleet.cluster(f'{s}-cluster').sealing_cert_url}"
                for s in STACKS
            )
            text = text.replace("hecate doctor", f"hecate doctor {urls}", 1)
        if first.startswith("hecate fleet rollout"):
            # Step 10's plan as the page writes it, its soak a few seconds.
            (project / "rollout-plan.yaml").write_text(yaml.safe_dump({**plan, "soak": "5s"}))
        said = session.run(block, text, timeout=1200)

        if first.startswith("git clone https"):
            assert "usage: hecate doctor" in said and "v3." in said  # what the page shows
            assert session.variable("PULUMI_BACKEND_URL") == f"file://{project}/.pulumi-state"
        if first.startswith("make up"):
            pushed = git("rev-parse", "HEAD", cwd=project / "gitops")
            assert git("ls-remote", fleet.git_url, "main", cwd=tmp_path).startswith(pushed)
        if first.startswith("kubectl --context beam-cluster -n flux-system wait"):
            wait_for(
                "beam-cluster: the pushed commit applied",
                lambda commit=pushed: (
                    flux.get(fleet, "beam-cluster", "kustomization", "flux-system")
                    .get("status", {})
                    .get("lastAppliedRevision", "")
                    .endswith(commit)
                ),
                timeout=300,
            )
        if first.startswith("hecate fleet kubeconfig"):
            assert session.variable("KUBECONFIG") == str(project / "fleet.kubeconfig")
        if first.startswith("hecate doctor"):
            assert " NO " not in f" {said} ", said
        if first.startswith("hecate fleet rollout"):
            for stack in STACKS:
                image, pods = fleet_project.running_image(f"{stack}-cluster")
                assert image.endswith(":0.7.3") and {p.rsplit(":", 1)[-1] for p in pods} == {
                    "0.7.3"
                }, (stack, image, pods)

    # Then docs/operations.md's everyday commands, in the same shell: the same rollout again
    # (nothing to do), and a hotfix to one cluster.
    (everyday,) = [b for b in shell_blocks(OPERATIONS) if b.run_by == THIS]
    said = session.run(everyday, everyday.text, timeout=1200)
    assert "--- dev: no change" in said, said
    versions = {s: fleet_project.running_image(f"{s}-cluster")[0].rsplit(":", 1)[1] for s in STACKS}
    assert versions == {"dev": "0.7.3", "edge": "0.7.4", "beam": "0.7.3"}

    ran = {line.split()[1] for line in session.log.read_text().splitlines() if line[:4] == "=== "}
    assert ran == {b.where for b in [*blocks, everyday] if b.run_by == THIS}
