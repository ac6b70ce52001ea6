"""A real OpenID Connect provider for the tests: oidc-provider (npm) run by node with provider/server.js.

It is installed from provider/package-lock.json with `npm ci` the first time it is needed. Without
node or npm the single sign-on tests skip, unless FIRELINE_REQUIRE_SERVICES=1 says the run must have
them (CI's PostgreSQL pass); then they fail.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest

PROVIDER_DIR = Path(__file__).resolve().parent / "provider"
INSTALLED = PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json"
REQUIRE_SERVICES = os.environ.get("FIRELINE_REQUIRE_SERVICES") == "1"
CLIENT_ID = "fireline"
CLIENT_SECRET = "test-client-secret-not-used-anywhere-else"

USERS = {
    "ada": {"email": "ada@example.com", "given_name": "Ada", "family_name": "Lovelace", "groups": ["ic", "legal"]},
    "grace": {"email": "grace@example.com", "given_name": "Grace", "family_name": "Hopper", "groups": ["everyone"]},
    "root": {"email": "root@example.com", "given_name": "Root", "family_name": "Admin", "groups": ["ic"]},
}


def _missing(reason: str):
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (FIRELINE_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def ensure_installed() -> str:
    """The node binary, with oidc-provider installed at its locked version; a skip (or failure) otherwise."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        _missing("node and npm are needed to run the test OpenID provider (oidc-provider); install Node.js 20+")
    if not INSTALLED.exists():
        result = subprocess.run(  # noqa: S603 - fixed arguments
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=PROVIDER_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0 or not INSTALLED.exists():
            _missing(f"`npm ci` in {PROVIDER_DIR} failed: {result.stderr.strip()[-500:]}")
    return node


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Provider:
    issuer: str
    users_file: Path
    process: subprocess.Popen
    users: dict = field(default_factory=dict)

    def set_groups(self, login: str, groups: list[str]) -> None:
        """Change a person's groups at the provider; it reads the file again at the next sign-in."""
        self.users[login]["groups"] = groups
        self.users_file.write_text(json.dumps(self.users))

    def reset(self) -> None:
        self.users = json.loads(json.dumps(USERS))
        self.users_file.write_text(json.dumps(self.users))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_provider(*, tmp_dir: Path, redirect_uris: list[str], post_logout_redirect_uris: list[str]) -> Provider:
    node = ensure_installed()
    port = free_port()
    users = json.loads(json.dumps(USERS))
    users_file = tmp_dir / "oidc-users.json"
    users_file.write_text(json.dumps(users))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PORT": str(port),
        "CLIENT_ID": CLIENT_ID,
        "CLIENT_SECRET": CLIENT_SECRET,
        "REDIRECT_URIS": " ".join(redirect_uris),
        "POST_LOGOUT_REDIRECT_URIS": " ".join(post_logout_redirect_uris),
        "USERS_FILE": str(users_file),
        "NODE_ENV": "test",
    }
    log = (tmp_dir / "oidc-provider.log").open("w")
    process = subprocess.Popen(  # noqa: S603 - fixed arguments
        [node, "server.js"], cwd=PROVIDER_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    issuer = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1).status_code == 200:
                return Provider(issuer=issuer, users_file=users_file, process=process, users=users)
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    output = (tmp_dir / "oidc-provider.log").read_text()[-1000:]
    pytest.fail(f"the test OpenID provider did not start: {output}")


def sign_in_at_provider(authorize_url: str, *, login: str, http: httpx.Client | None = None) -> dict:
    """Go through the provider's own login page as a browser would; the query it sends back to Fireline."""
    http = http or httpx.Client(timeout=10)
    url = authorize_url
    for _ in range(10):
        response = http.get(url)
        if response.status_code == 200 and 'name="login"' in response.text:
            action = re.search(r'<form[^>]*action="([^"]+)"', response.text).group(1)
            response = http.post(urljoin(url, action), data={"prompt": "login", "login": login, "password": "x"})
        if response.status_code not in (302, 303):
            raise AssertionError(f"the provider answered {response.status_code}: {response.text[:500]}")
        url = urljoin(url, response.headers["location"])
        if "/oidc/callback/" in url:
            return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
    raise AssertionError("the provider never sent the browser back to Fireline")
