"""A validating admission webhook that holds requests, for the tests that need a request to the
API server in flight at a moment of their choosing. Runs in the test's process, on 127.0.0.1,
with a throwaway certificate; `with HeldAdmission(...)` registers it and always removes it."""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from testbed import certs
from testbed.fleet import Fleet

NAME = "hecate-test-held-admission"


def _serving_certificate(directory: Path) -> tuple[Path, Path, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = certs.certificate_pem(key, days=1, ip="127.0.0.1").encode()
    (directory / "tls.crt").write_bytes(pem)
    (directory / "tls.key").write_text(certs.private_pem(key))
    return directory / "tls.crt", directory / "tls.key", pem


class HeldAdmission:
    """Holds each (non-dry-run) CREATE of `resource` in `namespace` for `hold` seconds, then
    allows it; `held` is set as soon as one is being held."""

    def __init__(
        self,
        fleet: Fleet,
        cluster: str,
        group: str,
        resource: str,
        namespace: str,
        hold: float = 20,
    ):
        self.fleet, self.cluster = fleet, cluster
        self.group, self.resource, self.namespace, self.hold = group, resource, namespace, hold
        self.held = threading.Event()

    def __enter__(self) -> HeldAdmission:
        self._dir = tempfile.TemporaryDirectory(prefix="held-admission-")
        cert, key, pem = _serving_certificate(Path(self._dir.name))
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                request = review["request"]
                if not request.get("dryRun"):
                    outer.held.set()
                    time.sleep(outer.hold)
                body = json.dumps(
                    {
                        "apiVersion": "admission.k8s.io/v1",
                        "kind": "AdmissionReview",
                        "response": {"uid": request["uid"], "allowed": True},
                    }
                ).encode()
                # The API server may be gone by now (the tests kill it): nothing to answer.
                with contextlib.suppress(OSError):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        port = self._server.server_address[1]
        webhook = {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": NAME},
            "webhooks": [
                {
                    "name": "held.hecate.invalid",
                    "clientConfig": {
                        "url": f"https://127.0.0.1:{port}/",
                        "caBundle": base64.b64encode(pem).decode(),
                    },
                    "rules": [
                        {
                            "apiGroups": [self.group],
                            "apiVersions": ["*"],
                            "operations": ["CREATE"],
                            "resources": [self.resource],
                        }
                    ],
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": self.namespace}
                    },
                    "sideEffects": "None",
                    "admissionReviewVersions": ["v1"],
                    "timeoutSeconds": 30,
                    "failurePolicy": "Ignore",
                }
            ],
        }
        self.fleet.kubectl(self.cluster, "apply", "-f", "-", input=json.dumps(webhook))
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.fleet.kubectl(
                self.cluster,
                "delete",
                "validatingwebhookconfiguration",
                NAME,
                "--ignore-not-found",
                check=False,
            )
        finally:
            self._server.shutdown()
            self._server.server_close()
            self._dir.cleanup()
