"""Fixtures that run the real `cloakroom` binary on a free loopback port."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
import requests

BIN = os.environ.get("CLOAKROOM_BIN", os.path.join(os.path.dirname(__file__), "..", "..", ".build", "debug", "cloakroom"))
# A cheap scrypt cost keeps the tests fast; the default (ln=15,r=8,p=3) is tested in Swift.
FAST_HASH = "ln=12,r=8,p=1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `cloakroom serve` process; can be stopped and started again on the same store."""

    def __init__(self, store, extra=()):
        self.store = store
        self.extra = list(extra)
        self.port = free_port()
        self.proc = None
        self.log = tempfile.NamedTemporaryFile(prefix="cloakroom-e2e-", suffix=".log", delete=False)
        # The signing keys live beside the test's data, never in the working directory; the same
        # file across restarts, like a real deployment.
        self.keys = os.path.join(tempfile.mkdtemp(prefix="cloakroom-e2e-keys-"), "keys.json")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        env = dict(os.environ, CLOAKROOM_PASSWORD_HASH=FAST_HASH)
        self.proc = subprocess.Popen(
            [BIN, "serve", "--port", str(self.port), "--store", self.store,
             *([] if "--keys" in self.extra else ["--keys", self.keys]), *self.extra],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early; log in {self.log.name}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not become healthy")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def workdir():
    path = tempfile.mkdtemp(prefix="cloakroom-e2e-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def server(workdir):
    s = Server(f"sqlite:{workdir}/cloakroom.sqlite").start()
    yield s
    s.stop()


@pytest.fixture
def make_server(workdir):
    servers = []

    def make(*extra, store=None):
        s = Server(store or f"sqlite:{workdir}/cloakroom.sqlite", extra)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()
