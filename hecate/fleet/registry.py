"""What an image registry holds, asked through the OCI distribution API, as `crane` and
`docker` ask it: `HEAD /v2/<name>/manifests/<tag>` (does the tag exist) and
`GET /v2/<name>/tags/list` (every tag, page by page through the `Link` header).

Anonymous, as a public image is pulled: a registry that answers 401 with a `Bearer` challenge
(ghcr.io, Docker Hub) hands out a pull token at the challenge's realm, for the challenge's
service and scope, and the request is made again with it. A registry on a loopback address is
spoken to over plain HTTP (as Docker treats `localhost`); every other one over HTTPS.
"""

from __future__ import annotations

import ipaddress
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

TIMEOUT = 15
MAX_PAGES = 100  # of tags, at the registry's page size: a runaway Link chain is cut off
MANIFESTS = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
# An image repository without a registry host is Docker Hub's.
DOCKER_HUB = "registry-1.docker.io"


class RegistryError(RuntimeError):
    """The registry could not be asked (unreachable, refused, an answer that makes no sense)."""


@dataclass(frozen=True)
class Repository:
    host: str  # with its port, if any
    name: str  # the path below the host

    @classmethod
    def of(cls, image: str) -> Repository:
        """`ghcr.io/hecate-social/hecate-daemon`, `127.0.0.1:5000/x/y`, `library/busybox`."""
        first, _, rest = image.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            return cls(first, rest)
        return cls(DOCKER_HUB, image if rest else f"library/{image}")

    @property
    def base(self) -> str:
        host = self.host.rsplit(":", 1)[0].strip("[]")
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        return f"{'http' if loopback else 'https'}://{self.host}/v2/{self.name}"

    def __str__(self) -> str:
        return f"{self.host}/{self.name}"


_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


class Registry:
    """One repository's registry, with the pull token once one was needed."""

    def __init__(self, image: str):
        self.repository = Repository.of(image)
        self._token = ""

    def _open(self, url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        for attempt in (1, 2):
            request = urllib.request.Request(url, method=method, headers={"Accept": MANIFESTS})
            if self._token:
                request.add_header("Authorization", f"Bearer {self._token}")
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                    return response.status, dict(response.headers), response.read()
            except urllib.error.HTTPError as error:
                if error.code == 401 and attempt == 1 and not self._token:
                    self._token = self._pull_token(error.headers.get("WWW-Authenticate", ""))
                    continue
                return error.code, dict(error.headers), b""
            except (urllib.error.URLError, OSError) as error:
                reason = getattr(error, "reason", error)
                raise RegistryError(
                    f"{self.repository.host} cannot be reached ({reason})"
                ) from None
        raise RegistryError(f"{self.repository.host} refused the pull token it handed out")

    def _pull_token(self, challenge: str) -> str:
        """The anonymous pull token a `Bearer realm=…,service=…,scope=…` challenge offers."""
        if not challenge.lower().startswith("bearer "):
            raise RegistryError(
                f"{self.repository.host} asks for credentials ({challenge or 'no challenge'}); "
                "only public images can be checked"
            )
        fields = dict(_CHALLENGE.findall(challenge))
        realm = fields.get("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise RegistryError(f"{self.repository.host}: a token challenge without a realm")
        scope = fields.get("scope") or f"repository:{self.repository.name}:pull"
        query = urllib.parse.urlencode({"service": fields.get("service", ""), "scope": scope})
        try:
            with urllib.request.urlopen(f"{realm}?{query}", timeout=TIMEOUT) as response:
                answer = json.loads(response.read() or b"{}")
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise RegistryError(f"{realm}: no pull token ({error})") from None
        token = answer.get("token") or answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{realm}: the answer holds no token")
        return token

    def has_tag(self, tag: str) -> bool:
        status, _, _ = self._open(f"{self.repository.base}/manifests/{tag}", "HEAD")
        if status in (200, 404):
            return status == 200
        raise RegistryError(f"{self.repository}:{tag}: the registry answered HTTP {status}")

    def tags(self) -> list[str]:
        """Every tag of the repository ([] when the registry knows no such repository)."""
        found: list[str] = []
        url = f"{self.repository.base}/tags/list"
        for _ in range(MAX_PAGES):
            status, headers, body = self._open(url)
            if status == 404:
                return found
            if status != 200:
                raise RegistryError(f"{self.repository}: listing tags, HTTP {status}")
            try:
                found += [str(t) for t in json.loads(body).get("tags") or []]
            except (ValueError, AttributeError):
                raise RegistryError(f"{self.repository}: a tag list that is not JSON") from None
            link = next((v for k, v in headers.items() if k.lower() == "link"), "")
            following = re.match(r"\s*<([^>]+)>", link)
            if not following:
                return found
            url = urllib.parse.urljoin(url, following[1])
        raise RegistryError(f"{self.repository}: more than {MAX_PAGES} pages of tags")
