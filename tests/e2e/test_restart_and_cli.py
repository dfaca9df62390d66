"""The server process and the CLI on a real SQLite file."""
import subprocess
import uuid

import requests

from conftest import BIN, FAST_HASH


def test_still_signed_in_after_restart(make_server):
    server = make_server().start()
    client = requests.Session()
    user = "rita-" + uuid.uuid4().hex[:8]
    r = client.post(server.url + "/api/register", json={"username": user, "password": "a long enough password"})
    assert r.status_code == 201, r.text
    assert client.get(server.url + "/api/me").json()["user"]["username"] == user
    server.stop()

    again = make_server()
    again.port = server.port
    again.start()
    r = client.get(again.url + "/api/me")
    assert r.status_code == 200, r.text
    assert r.json()["user"]["username"] == user


def run_cli(store, *args, stdin=None):
    return subprocess.run([BIN, *args, "--store", store], input=stdin, capture_output=True, text=True, timeout=60,
                          env={"CLOAKROOM_PASSWORD_HASH": FAST_HASH, "PATH": "/usr/bin:/bin"})


def test_cli_users_and_sessions(make_server, workdir):
    store = f"sqlite:{workdir}/cli.sqlite"
    added = run_cli(store, "users", "add", "operator", stdin="a long enough password\n")
    assert added.returncode == 0, added.stderr
    assert "created operator" in added.stdout

    dup = run_cli(store, "users", "add", "OPERATOR", stdin="a long enough password\n")
    assert dup.returncode != 0
    assert "already registered" in dup.stderr

    listed = run_cli(store, "users", "list")
    assert "operator" in listed.stdout and "active" in listed.stdout

    server = make_server(store=store).start()
    devices = []
    for _ in range(2):
        s = requests.Session()
        assert s.post(server.url + "/api/login", json={"username": "operator", "password": "a long enough password"}).status_code == 200
        devices.append(s)

    sessions = run_cli(store, "sessions", "list", "--user", "operator")
    assert sessions.returncode == 0, sessions.stderr
    assert "2 session(s)" in sessions.stdout
    handle = devices[0].get(server.url + "/api/me").json()["session"]["id"]
    assert handle in sessions.stdout

    one = run_cli(store, "sessions", "revoke", handle)
    assert one.returncode == 0, one.stderr
    assert devices[0].get(server.url + "/api/me").status_code == 401
    assert devices[1].get(server.url + "/api/me").status_code == 200

    disabled = run_cli(store, "users", "disable", "operator")
    assert "ended 1 session(s)" in disabled.stdout
    assert devices[1].get(server.url + "/api/me").status_code == 401
    r = requests.post(server.url + "/api/login", json={"username": "operator", "password": "a long enough password"})
    assert r.status_code == 403 and r.json()["error"] == "account_disabled"

    bad = run_cli("nosuch:thing", "users", "list")
    assert bad.returncode != 0
    assert "not supported" in bad.stderr


def test_bad_configuration_is_refused_clearly():
    r = subprocess.run([BIN, "serve", "--idle-timeout", "soon"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "not a duration" in r.stderr
