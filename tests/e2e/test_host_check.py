"""DNS rebinding: a request naming a host this server does not answer for gets 421, before any
route; loopback names and the configured names pass (issue 10, finding 11)."""
import subprocess

import requests

from conftest import BIN


def get(server, path, host):
    return requests.get(server.url + path, headers={"Host": host}, timeout=5)


def test_foreign_host_gets_421_json_and_known_hosts_pass(make_server):
    server = make_server("--allowed-host", "auth.example.com").start()
    for foreign in ("attacker.example", f"attacker.example:{server.port}", "127.0.0.1.nip.io", "auth.example.com.evil"):
        r = get(server, "/api/me", foreign)
        assert r.status_code == 421, (foreign, r.status_code)
        assert r.json()["error"] == "misdirected_request"
        assert "attacker" in r.json()["message"] or "evil" in r.json()["message"] or "nip.io" in r.json()["message"]
    # A rebinding page cannot reach a page or a state-changing route either.
    r = requests.post(server.url + "/api/login", json={"username": "a", "password": "b"},
                      headers={"Host": "attacker.example", "Origin": "http://attacker.example"}, timeout=5)
    assert r.status_code == 421
    page = requests.get(server.url + "/login", headers={"Host": "attacker.example", "Accept": "text/html"}, timeout=5)
    assert page.status_code == 421 and "text/html" in page.headers["Content-Type"]
    for known in (f"127.0.0.1:{server.port}", f"localhost:{server.port}", "LOCALHOST", "[::1]:8080", "auth.example.com", "Auth.Example.Com:443"):
        r = get(server, "/api/me", known)
        assert r.status_code == 401, (known, r.status_code, r.text)
    assert get(server, "/healthz", "127.0.0.1").status_code == 200
    # A load balancer's health check names the node by its address: /healthz answers any host.
    assert get(server, "/healthz", "10.1.2.3:8080").status_code == 200


def test_listening_everywhere_needs_the_public_names():
    r = subprocess.run([BIN, "serve", "--store", "memory", "--host", "0.0.0.0", "--secure"], capture_output=True, text=True, timeout=30,
                       env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 64, r.stderr
    assert "--issuer" in r.stderr and "421" in r.stderr
