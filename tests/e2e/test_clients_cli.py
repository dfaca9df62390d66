"""`cloakroom clients` (issue 14): OAuth clients registered on a real SQLite file, the secret shown
once and kept only as its SHA-256, bad registrations refused with the reason."""
import hashlib
import base64
import json
import sqlite3
import subprocess

from conftest import BIN


def clients(store, *args):
    return subprocess.run([BIN, "clients", *args, "--store", store], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})


def sha256_hex(text):
    return hashlib.sha256(text.encode()).hexdigest()


def test_clients_add_list_show_rotate_remove(workdir):
    path = f"{workdir}/clients.sqlite"
    store = f"sqlite:{path}"
    added = clients(store, "add", "Orders app", "--redirect", "https://orders.example/cb", "--redirect",
                    "http://127.0.0.1/cb", "--scope", "openid profile orders:read", "--json")
    assert added.returncode == 0, added.stderr
    app = json.loads(added.stdout)
    secret = app["client_secret"]
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32 and not app["public"]
    assert app["redirect_uris"] == ["https://orders.example/cb", "http://127.0.0.1/cb"]
    assert app["scope"] == "openid orders:read profile"

    spa = json.loads(clients(store, "add", "SPA", "--public", "--redirect", "https://spa.example/", "--id", "spa-1",
                             "--json").stdout)
    assert spa["client_id"] == "spa-1" and spa["public"] and "client_secret" not in spa

    # Kept as its SHA-256 only: the file never holds the secret.
    with sqlite3.connect(path) as db:
        documents = [row[0] for row in db.execute("SELECT document FROM oauth_clients")]
    assert len(documents) == 2 and not any(secret in d for d in documents)
    assert any(sha256_hex(secret) in d for d in documents)

    listing = clients(store, "list").stdout
    assert app["client_id"] in listing and "Orders app" in listing and "confidential" in listing and "spa-1" in listing
    shown = json.loads(clients(store, "show", app["client_id"], "--json").stdout)
    assert "client_secret" not in shown and shown["client_name"] == "Orders app"

    rotated = clients(store, "rotate-secret", app["client_id"], "--json")
    assert rotated.returncode == 0, rotated.stderr
    new_secret = json.loads(rotated.stdout)["client_secret"]
    assert new_secret != secret
    with sqlite3.connect(path) as db:
        document = json.loads(db.execute("SELECT document FROM oauth_clients WHERE id = ?", (app["client_id"],)).fetchone()[0])
    assert document["secretHash"] == sha256_hex(new_secret) and document["secretRotatedAt"]

    public_rotate = clients(store, "rotate-secret", "spa-1")
    assert public_rotate.returncode == 1 and "public client" in public_rotate.stderr

    assert clients(store, "remove", "spa-1").returncode == 0
    assert "spa-1" not in clients(store, "list").stdout
    gone = clients(store, "show", "spa-1")
    assert gone.returncode == 1 and gone.stderr.startswith("error: ") and "no client spa-1" in gone.stderr


def test_clients_bad_registrations_say_why(workdir):
    store = f"sqlite:{workdir}/bad.sqlite"
    for args, reason in [
        (["x", "--redirect", "http://orders.example/cb"], "http is allowed only on loopback"),
        (["x", "--redirect", "https://orders.example/cb#frag"], "no fragment"),
        (["x", "--redirect", "https://*.example/cb"], "wildcards"),
        (["x"], "at least one redirect URI"),
        (["x", "--redirect", "https://a.example/cb", "--scope", "openid  profile"], "--scope"),
        (["x", "--redirect", "https://a.example/cb", "--id", "a b"], "client ID"),
    ]:
        result = clients(store, "add", *args)
        assert result.returncode == 64 and reason in result.stderr, (args, result.returncode, result.stderr)
    assert clients(store, "add", "x", "--redirect", "https://a.example/cb", "--id", "taken").returncode == 0
    again = clients(store, "add", "y", "--redirect", "https://b.example/cb", "--id", "taken")
    assert again.returncode == 1 and "exists already" in again.stderr, again.stderr
    assert clients(store, "list").stdout.count("taken") == 1
