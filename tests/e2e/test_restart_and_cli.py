"""The server process and the CLI on a real SQLite file."""
import base64
import json
import os
import stat
import subprocess
import uuid

import pytest
import requests

from conftest import BIN, FAST_HASH, Server


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


def test_cli_sessions_revoke_user_ends_tokens_too(make_server, workdir):
    store = f"sqlite:{workdir}/cli-tokens.sqlite"
    password = "a long enough password"
    assert run_cli(store, "users", "add", "tokenuser", stdin=password + "\n").returncode == 0
    assert run_cli(store, "users", "add", "bystander", stdin=password + "\n").returncode == 0
    server = make_server(store=store).start()

    def sign_in(name):
        r = requests.post(server.url + "/api/token", json={"username": name, "password": password})
        assert r.status_code == 200, r.text
        return r.json()

    phone, laptop, other = sign_in("tokenuser"), sign_in("tokenuser"), sign_in("bystander")
    browser = requests.Session()
    assert browser.post(server.url + "/api/login", json={"username": "tokenuser", "password": password}).status_code == 200
    for grant in (phone, laptop, other):
        me = requests.get(server.url + "/api/me", headers={"Authorization": "Bearer " + grant["access_token"]})
        assert me.status_code == 200, me.text

    revoked = run_cli(store, "sessions", "revoke", "--user", "tokenuser")
    assert revoked.returncode == 0, revoked.stderr
    assert "ended 1 session(s) and 2 refresh token(s) of tokenuser" in revoked.stdout

    assert browser.get(server.url + "/api/me").status_code == 401
    for grant in (phone, laptop):
        me = requests.get(server.url + "/api/me", headers={"Authorization": "Bearer " + grant["access_token"]})
        assert me.status_code == 401 and me.json()["reason"] == "revoked", me.text
        r = requests.post(server.url + "/api/token", data={"grant_type": "refresh_token", "refresh_token": grant["refresh_token"]})
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    # Another user's tokens are untouched; the revoked user can sign in again.
    me = requests.get(server.url + "/api/me", headers={"Authorization": "Bearer " + other["access_token"]})
    assert me.status_code == 200, me.text
    r = requests.post(server.url + "/api/token", data={"grant_type": "refresh_token", "refresh_token": other["refresh_token"]})
    assert r.status_code == 200, r.text
    again = sign_in("tokenuser")
    me = requests.get(server.url + "/api/me", headers={"Authorization": "Bearer " + again["access_token"]})
    assert me.status_code == 200, me.text


def serve_refused(args, env=None, cwd=None):
    """`serve` with a bad value: refused at start as a usage error (64), naming the value."""
    full_env = {"PATH": "/usr/bin:/bin", **(env or {})}
    return subprocess.run([BIN, "serve", "--store", "memory", *args], capture_output=True, text=True, timeout=30, env=full_env, cwd=cwd)


BAD_CONFIGURATIONS = [
    # A touch interval must be at most half the idle timeout (last-seen moves the idle deadline).
    (["--idle-timeout", "4s", "--touch-interval", "10s"], {}, "touch interval 10s must be at most half the idle timeout 4s"),
    (["--idle-timeout", "30m", "--touch-interval", "1h"], {}, "touch interval 1h must be at most half the idle timeout 30m"),
    (["--idle-timeout", "30m", "--touch-interval", "16m"], {}, "touch interval 16m must be at most half the idle timeout 30m"),
    ([], {"CLOAKROOM_IDLE_TIMEOUT": "30m", "CLOAKROOM_TOUCH_INTERVAL": "20m"}, "touch interval 20m must be at most half"),
    (["--touch-interval", "20m"], {}, "half the idle timeout 30m (the default)"),
    # Idle longer than the lifetime it lives inside.
    (["--refresh-token-idle", "60d", "--refresh-token-lifetime", "30d"], {},
     "refresh token idle lifetime 60d is longer than the refresh token lifetime 30d"),
    (["--refresh-token-idle", "60d"], {}, "refresh token lifetime 30d (the default)"),
    (["--absolute-lifetime", "1m", "--idle-timeout", "30m"], {}, "idle timeout 30m is longer than the absolute lifetime 1m"),
    (["--idle-timeout", "24h"], {}, "absolute lifetime 12h (the default)"),
    (["--absolute-lifetime", "1m", "--touch-interval", "60s"], {}, "idle timeout 1m (the default, capped at the absolute lifetime)"),
    # Booleans: only the documented words, in any case; never "anything else means off".
    ([], {"CLOAKROOM_REGISTRATION": "shut"}, "CLOAKROOM_REGISTRATION=shut is not open or closed"),
    ([], {"CLOAKROOM_REGISTRATION": "yes"}, "CLOAKROOM_REGISTRATION=yes is not open or closed"),
    ([], {"CLOAKROOM_SECURE": "maybe"}, "CLOAKROOM_SECURE=maybe is not a boolean"),
    ([], {"CLOAKROOM_SECURE": ""}, "CLOAKROOM_SECURE= is not a boolean"),
    ([], {"CLOAKROOM_BROWSER_SESSION_COOKIE": "maybe"}, "CLOAKROOM_BROWSER_SESSION_COOKIE=maybe is not a boolean"),
    # Origins as browsers serialize them: scheme://host[:port], nothing more.
    (["--allowed-origin", "not a url"], {}, "allowed origin not a url is not an origin"),
    (["--absolute-lifetime", "9223372036854775807s"], {}, "absolute lifetime 9223372036854775807s is not a duration"),
    (["--password-hash", "ln=15,r=8,p=3,ln=1"], {}, "names each of ln, r and p once"),
    (["--password-hash", "ln=15,r=8,p=3,x=1"], {}, "names each of ln, r and p once"),
    (["--refresh-token-lifetime", "999999999999d", "--refresh-token-idle", "999999999999d"], {}, "at most 36500d"),
    ([], {"CLOAKROOM_ALLOWED_ORIGINS": "https://ok.example.com,junk"}, "allowed origin junk is not an origin"),
    (["--allowed-origin", "https://app.example.com/"], {}, "drop the trailing /"),
    (["--allowed-origin", "https://app.example.com/app"], {}, "no path"),
    (["--allowed-origin", "ftp://app.example.com"], {}, "http:// or https://"),
    (["--allowed-origin", "https://app.example.com:443"], {}, "default port"),
    (["--allowed-origin", "https://app.example.com:99999"], {}, "port must be a number"),
    (["--allowed-origin", "https://user@app.example.com"], {}, "user name"),
    # The issuer: an absolute http(s) URL without query or fragment (RFC 8414).
    (["--issuer", "notaurl"], {}, "issuer notaurl is not usable"),
    ([], {"CLOAKROOM_ISSUER": "auth.example.com"}, "issuer auth.example.com is not usable"),
    (["--issuer", "https://auth.example.com/?tenant=1"], {}, "no query"),
    (["--issuer", "https://auth.example.com/#x"], {}, "fragment"),
    (["--issuer", "ftp://auth.example.com"], {}, "http or https"),
    (["--token-algorithm", "RS1"], {}, "token algorithm RS1"),
]


@pytest.mark.parametrize("args,env,message", BAD_CONFIGURATIONS, ids=[m for _, _, m in BAD_CONFIGURATIONS])
def test_bad_configuration_is_a_usage_error_naming_the_value(args, env, message, tmp_path):
    r = serve_refused(args, env, cwd=tmp_path)
    assert r.returncode == 64, (r.returncode, r.stderr)
    assert message in r.stderr, r.stderr
    assert "Usage: cloakroom serve" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == [], "nothing is created before the configuration is checked"


def test_documented_configuration_words_are_accepted_in_any_case(workdir, monkeypatch):
    store = f"sqlite:{workdir}/words.sqlite"
    password = "a long enough password"
    assert run_cli(store, "users", "add", "worduser", stdin=password + "\n").returncode == 0
    monkeypatch.setenv("CLOAKROOM_REGISTRATION", "CLOSED")
    monkeypatch.setenv("CLOAKROOM_SECURE", "On")
    monkeypatch.setenv("CLOAKROOM_BROWSER_SESSION_COOKIE", "YES")
    monkeypatch.setenv("CLOAKROOM_ALLOWED_ORIGINS", "https://App.example.com, http://[::1]:3000,")
    monkeypatch.setenv("CLOAKROOM_ISSUER", "https://auth.example.com/tenant")
    server = Server(store).start()
    try:
        r = requests.post(server.url + "/api/register", json={"username": "newcomer", "password": password})
        assert r.status_code == 403 and r.json()["error"] == "registration_closed", r.text
        r = requests.post(server.url + "/api/login", json={"username": "worduser", "password": password},
                          headers={"Origin": "https://app.example.com"})
        assert r.status_code == 200, r.text
        # The session cookie among the response's Set-Cookie headers (a sign-in also sets the
        # known-device cookie).
        cookie = next(c for c in r.raw.headers.getlist("Set-Cookie") if c.startswith("__Host-cloakroom="))
        device = next(c for c in r.raw.headers.getlist("Set-Cookie") if c.startswith("__Host-cloakroom-device="))
        assert "Secure" in device and "HttpOnly" in device, device
        assert cookie.startswith("__Host-cloakroom=") and "Secure" in cookie and "Max-Age" not in cookie, cookie
        r = requests.post(server.url + "/api/login", json={"username": "worduser", "password": password},
                          headers={"Origin": "https://evil.example.com"})
        assert r.status_code == 403, r.text
        r = requests.post(server.url + "/api/token", json={"username": "worduser", "password": password},
                          headers={"Origin": "http://[::1]:3000"})
        assert r.status_code == 200, r.text
        payload = r.json()["access_token"].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert claims["iss"] == "https://auth.example.com/tenant"
    finally:
        server.stop()


def test_defaults_give_way_to_a_short_timeout(make_server):
    # No touch interval given: the default (60s) is capped at half a 5s idle timeout; no idle
    # timeout given: the default (30m) is capped at a 10m absolute lifetime.
    make_server("--idle-timeout", "5s").start().stop()
    make_server("--absolute-lifetime", "10m", "--refresh-token-lifetime", "7d").start().stop()


def assert_runtime_failure(r, message):
    """A command that could not do its work: one `error: …` line, exit status 1, no usage."""
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert r.stderr.startswith("error: ") and message in r.stderr, r.stderr
    assert "Usage:" not in r.stderr and "--help" not in r.stderr, r.stderr


def test_cli_runtime_failures_are_errors_not_usage(workdir):
    store = f"sqlite:{workdir}/runtime.sqlite"
    assert run_cli(store, "users", "add", "alice", stdin="a long enough password\n").returncode == 0
    assert_runtime_failure(run_cli(store, "users", "add", "alice", stdin="a long enough password\n"), "already registered")
    assert_runtime_failure(run_cli(store, "users", "disable", "nobodyx"), "no account named nobodyx")
    assert_runtime_failure(run_cli(store, "users", "delete", "nobodyx"), "no account named nobodyx")
    assert_runtime_failure(run_cli(store, "sessions", "list", "--user", "nobodyx"), "no account named nobodyx")
    assert_runtime_failure(run_cli(store, "sessions", "revoke", "no-such-session"), "no live session with ID no-such-session")
    assert_runtime_failure(run_cli(store, "users", "add", "bob", stdin=""), "no password")
    assert_runtime_failure(run_cli(f"sqlite:{workdir}/no/such/folder/x.sqlite", "users", "list"), "cannot open SQLite database")

    # Usage errors stay usage errors: 64 with the usage.
    for r in (run_cli(store, "sessions", "revoke"), run_cli("nosuch:thing", "users", "list"), run_cli(store, "users", "frobnicate")):
        assert r.returncode == 64 and "Usage:" in r.stderr, (r.returncode, r.stderr)


def test_serve_key_file_errors_are_runtime_failures(workdir):
    keys = os.path.join(workdir, "keys.json")
    with open(keys, "w") as f:
        f.write("not a key file")
    os.chmod(keys, 0o600)
    env = {"PATH": "/usr/bin:/bin", "CLOAKROOM_KEY_SECRET": base64.b64encode(b"k" * 32).decode()}
    r = subprocess.run([BIN, "serve", "--store", "memory", "--keys", keys], capture_output=True, text=True, timeout=30, env=env)
    assert_runtime_failure(r, "key file " + keys)


@pytest.mark.parametrize("args,message", [
    (["stores", "--count", "0"], "--count 0 must be at least 1"),
    (["stores", "--count=-5"], "--count -5 must be at least 1"),
    (["stores", "--file-count", "0"], "--file-count 0 must be at least 1"),
    (["stores", "--concurrency", "0"], "--concurrency 0 must be from 1"),
    (["stores", "--stores", ""], "names no store"),
    (["stores", "--stores", "memory,nosuch"], "unknown store nosuch"),
    (["stores", "--stores", "redis"], "needs --redis"),
    (["tokens", "--algorithms", ""], "names no algorithm"),
    (["tokens", "--seconds", "0"], "--seconds must be in"),
])
def test_bench_refuses_nonsensical_options(args, message):
    r = subprocess.run([BIN, "bench", *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == 64, (r.returncode, r.stdout, r.stderr)
    assert message in r.stderr, r.stderr
    assert "inf" not in r.stdout and "nan" not in r.stdout


def test_server_creates_its_files_owner_only(workdir):
    old = os.umask(0o022)
    try:
        server = Server(f"sqlite:{workdir}/private.sqlite").start()
        try:
            for name in ("private.sqlite", "private.sqlite-wal", "private.sqlite-shm"):
                mode = stat.S_IMODE(os.stat(os.path.join(workdir, name)).st_mode)
                assert mode == 0o600, (name, oct(mode))
        finally:
            server.stop()
        folder = os.path.join(workdir, "files", "store")
        server = Server(f"file:{folder}").start()
        server.stop()
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    finally:
        os.umask(old)

    # A database the operator made keeps its mode, with a warning when everyone may read it.
    shared = os.path.join(workdir, "shared.sqlite")
    open(shared, "w").close()
    os.chmod(shared, 0o644)
    r = run_cli(f"sqlite:{shared}", "users", "list")
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(shared).st_mode) == 0o644
    assert "readable by every user" in r.stderr


def test_redis_that_refuses_the_url_stops_the_start(tmp_path):
    """A Redis asking for a password the URL lacks (or a wrong one) stops `serve` with exit 1 and
    a message naming the cause; the password never appears in it."""
    import shutil
    import socket
    import time
    redis = shutil.which("redis-server")
    assert redis, "redis-server is installed by scripts/test"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--requirepass", "right-secret", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        for url, cause in ((f"redis://127.0.0.1:{port}/0", "requires authentication"),
                           (f"redis://:wrong-secret@127.0.0.1:{port}/0", "authentication failed"),
                           (f"redis://:right-secret@127.0.0.1:{port}/99", "SELECT failed")):
            r = subprocess.run([BIN, "serve", "--port", "0", "--store", url, "--accounts", "memory",
                                "--keys", str(tmp_path / "keys.json")],
                               capture_output=True, text=True, timeout=30, cwd=tmp_path)
            assert r.returncode == 1, (url, r.returncode, r.stderr)
            assert cause in r.stderr, r.stderr
            assert "wrong-secret" not in r.stderr and "right-secret" not in r.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_cli_set_password_resets_a_locked_out_user(make_server, workdir):
    store = f"sqlite:{workdir}/reset.sqlite"
    old, new = "an old long password", "a brand new long password"
    assert run_cli(store, "users", "add", "forgetful", stdin=old + "\n").returncode == 0
    server = make_server(store=store).start()
    browser = requests.Session()
    assert browser.post(server.url + "/api/login", json={"username": "forgetful", "password": old}).status_code == 200
    token = requests.post(server.url + "/api/token", json={"username": "forgetful", "password": old}).json()["access_token"]
    statuses = [requests.post(server.url + "/api/login", json={"username": "forgetful", "password": "not it at all"}).status_code
                for _ in range(12)]
    assert 429 in statuses, statuses

    reset = run_cli(store, "users", "set-password", "forgetful", stdin=new + "\n")
    assert reset.returncode == 0, reset.stderr
    assert "ended 1 session(s)" in reset.stdout

    assert browser.get(server.url + "/api/me").status_code == 401, "the old session ended"
    me = requests.get(server.url + "/api/me", headers={"Authorization": "Bearer " + token})
    assert me.status_code == 401 and me.json()["reason"] == "revoked", "the old token was revoked"
    assert requests.post(server.url + "/api/login", json={"username": "forgetful", "password": old}).status_code == 401
    assert requests.post(server.url + "/api/login", json={"username": "forgetful", "password": new}).status_code == 200, \
        "the lockout was cleared"

    weak = run_cli(store, "users", "set-password", "forgetful", stdin="short\n")
    assert weak.returncode == 1 and "at least 12 characters" in weak.stderr, weak.stderr
    unknown = run_cli(store, "users", "set-password", "nobody-here", stdin=new + "\n")
    assert unknown.returncode == 1, unknown.stderr


def test_trusted_proxy_forwarded_address(make_server):
    """Behind a trusted proxy the client's address comes from X-Forwarded-For; from anyone else
    the header is ignored."""
    password = "a long enough password"

    def address_seen(server, user):
        client = requests.Session()
        r = client.post(server.url + "/api/register", json={"username": user, "password": password},
                        headers={"X-Forwarded-For": "1.1.1.1, 203.0.113.9"})
        assert r.status_code == 201, r.text
        return r.json()["session"]["ipAddress"]

    direct = make_server().start()
    assert address_seen(direct, "direct-" + uuid.uuid4().hex[:6]) == "127.0.0.1", "an untrusted peer cannot set its address"
    direct.stop()
    proxied = make_server("--trusted-proxy", "127.0.0.0/8").start()
    assert address_seen(proxied, "proxied-" + uuid.uuid4().hex[:6]) == "203.0.113.9"
    proxied.stop()
    bad = subprocess.run([BIN, "serve", "--trusted-proxy", "10.0.0.0/33"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 64 and "not an IP address or CIDR block" in bad.stderr, bad.stderr


@pytest.mark.parametrize("args", [["--help"], ["help"], ["-h"], ["serve", "--help"], ["users", "--help"],
                                  ["help", "users"], ["keys", "rotate", "--help"], ["token", "verify", "--help"],
                                  ["bench", "stores", "--help"]])
def test_help_prints_help_and_exits_0(args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, (args, r.returncode, r.stderr)
    assert r.stdout.startswith("OVERVIEW:") or "USAGE:" in r.stdout, r.stdout[:200]
    assert "CommandError" not in r.stdout + r.stderr


def test_an_account_store_that_cannot_open_is_an_error_not_a_crash(tmp_path):
    r = subprocess.run([BIN, "serve", "--port", "0", "--store", f"sqlite:{tmp_path}/s.sqlite",
                        "--accounts", "sqlite:/nonexistent/dir/a.sqlite", "--keys", str(tmp_path / "keys.json")],
                       capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "/nonexistent/dir/a.sqlite" in r.stderr
    assert "Fatal error" not in r.stderr and "Assertion failed" not in r.stderr


def test_a_password_that_is_not_utf8_is_refused(workdir):
    r = subprocess.run([BIN, "users", "add", "bytes", "--store", f"sqlite:{workdir}/utf8.sqlite"],
                       input=b"\xff\xfe\xfd a long enough password\n", capture_output=True, timeout=60,
                       env={"CLOAKROOM_PASSWORD_HASH": FAST_HASH, "PATH": "/usr/bin:/bin"})
    assert r.returncode == 1, r.stderr
    assert b"not valid UTF-8" in r.stderr


def test_cli_sessions_revoke_all_ends_everyone(make_server, workdir):
    """`sessions revoke --all` (ASVS 7.4.5): every cookie session and every token of every user ends."""
    store = f"sqlite:{workdir}/cli-all.sqlite"
    password = "a long enough password"
    for name in ("ann", "bob"):
        assert run_cli(store, "users", "add", name, stdin=password + "\n").returncode == 0
    server = make_server(store=store).start()
    browsers, grants = [], []
    for name in ("ann", "bob"):
        browser = requests.Session()
        assert browser.post(server.url + "/api/login", json={"username": name, "password": password}).status_code == 200
        browsers.append(browser)
        r = requests.post(server.url + "/api/token", json={"username": name, "password": password})
        assert r.status_code == 200, r.text
        grants.append(r.json())
    anonymous = requests.Session()
    assert anonymous.put(server.url + "/api/session/data/theme", json="dark").status_code in (200, 201, 204)

    assert run_cli(store, "sessions", "revoke").returncode == 64
    assert run_cli(store, "sessions", "revoke", "--all", "--user", "ann").returncode == 64
    revoked = run_cli(store, "sessions", "revoke", "--all")
    assert revoked.returncode == 0, revoked.stderr
    assert "ended 3 session(s) and 2 refresh token(s) of every user" in revoked.stdout

    for browser in browsers:
        assert browser.get(server.url + "/api/me").status_code == 401
    for grant in grants:
        me = requests.get(server.url + "/api/me", headers={"Authorization": "Bearer " + grant["access_token"]})
        assert me.status_code == 401 and me.json()["reason"] == "revoked", me.text
    listed = run_cli(store, "sessions", "list")
    assert "0 session(s)" in listed.stdout
    # Everyone can sign in again.
    assert requests.Session().post(server.url + "/api/login", json={"username": "ann", "password": password}).status_code == 200
