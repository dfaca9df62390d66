"""`cloakroom keys` and `cloakroom token` on a temporary key file, with tokens minted by PyJWT."""
import base64
import http.server
import json
import os
import re
import socket
import stat
import subprocess
import threading
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, HMACAlgorithm, OKPAlgorithm, RSAAlgorithm

from conftest import BIN

ISS = "https://auth.cloakroom.test"
AUD = "https://api.cloakroom.test"


def new_secret():
    return base64.b64encode(os.urandom(32)).decode()


class KeyFile:
    """A key file and its secret (CLOAKROOM_KEY_SECRET) in a temporary folder."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.path = os.path.join(workdir, "keys.json")
        self.secret = new_secret()
        self.outputs = []  # every stdout and stderr, to check no private key ever appears

    def run(self, *args, stdin=None, secret=None, keys=True):
        env = {"PATH": "/usr/bin:/bin", "CLOAKROOM_KEY_SECRET": secret or self.secret}
        # `cloakroom keys SUB --keys PATH ARGS…`, so that ARGS may hold `-- KID` (a kid can begin with -).
        argv = [BIN, *args[:2], "--keys", self.path, *args[2:]] if keys else [BIN, *args]
        r = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60, env=env, cwd=self.workdir)
        self.outputs += [r.stdout, r.stderr]
        return r

    def keys(self, *args, **kw):
        return self.run("keys", *args, **kw)

    def token(self, *args, **kw):
        return self.run("token", *args, keys=False, **kw)

    def jwks(self):
        r = self.keys("jwks")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def write(self, name, content):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))
        return path


@pytest.fixture
def keyfile(workdir):
    return KeyFile(workdir)


def private_jwk(alg, kid):
    """A fresh private key for `alg`: (PyJWT signing key, private JWK dict)."""
    if alg == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
        jwk = OKPAlgorithm.to_jwk(key, as_dict=True)
    elif alg in ("ES256", "ES384"):
        key = ec.generate_private_key(ec.SECP256R1() if alg == "ES256" else ec.SECP384R1())
        jwk = ECAlgorithm.to_jwk(key, as_dict=True)
    elif alg in ("RS256", "PS256"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
    else:
        key = os.urandom({"HS256": 32, "HS384": 48, "HS512": 64}[alg])
        jwk = HMACAlgorithm.to_jwk(key, as_dict=True)
    jwk.update(kid=kid, alg=alg)
    return key, jwk


def claims(**changes):
    now = int(time.time())
    c = {"iss": ISS, "sub": "user-1", "aud": AUD, "iat": now, "exp": now + 300, "jti": "j-" + os.urandom(6).hex(),
         "client_id": "e2e", "scope": "read", "epoch": 0}
    c.update(changes)
    return {k: v for k, v in c.items() if v is not None}


def mint(key, alg, kid, typ="at+jwt", **changes):
    headers = {"kid": kid}
    if typ:
        headers["typ"] = typ
    return jwt.encode(claims(**changes), key, algorithm=alg, headers=headers)


def kid_from(output, verb):
    m = re.search(rf"^{verb} (\S+) \(", output, re.M)
    assert m, output
    return m.group(1)


def no_secret_in(keyfile, *secrets):
    for text in keyfile.outputs:
        for s in secrets:
            assert s not in text


# --- keys -------------------------------------------------------------------------------------

def test_keys_generate_list_rotate_retire_remove_jwks(keyfile):
    missing = keyfile.keys("list")
    assert missing.returncode == 1
    assert "no key file" in missing.stderr

    gen = keyfile.keys("generate", "--algorithm", "ES256")
    assert gen.returncode == 0, gen.stderr
    first = kid_from(gen.stdout, "generated")
    assert "(ES256): active" in gen.stdout
    assert stat.S_IMODE(os.stat(keyfile.path).st_mode) == 0o600
    with open(keyfile.path) as f:
        assert "PRIVATE" not in f.read()

    listed = keyfile.keys("list")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith(first))
    assert "ES256" in row and "active" in row
    assert "1 key(s), 1 active" in listed.stdout

    # A rotation publishes the new key now; it signs only from its activation time (6 minutes
    # by default), when the old key retires.
    rot = keyfile.keys("rotate")
    assert rot.returncode == 0, rot.stderr
    second = re.search(r"rotated: (\S+) \(ES256\) is next: published in the JWKS now, signs new tokens from \S+ \(in 6m\)", rot.stdout).group(1)
    assert second != first
    assert re.search(rf"^{first} \(ES256\) signs until \d{{4}}-\d\d-\d\dT\S+, then retires: verifiable until \d{{4}}-", rot.stdout, re.M), rot.stdout
    assert rot.stderr == ""

    listed = keyfile.keys("list").stdout
    assert re.search(rf"^{first}\s+ES256\s+active until \S+, then retired \(verifiable until \S+\)", listed, re.M), listed
    assert re.search(rf"^{second}\s+ES256\s+next \(activates at \d{{4}}-\S+\)\s+\S+\s+yes$", listed, re.M), listed
    assert f"2 key(s), 1 active, next {second} activates at " in listed

    # Both verify during the overlap, so both are published; PyJWT accepts every key.
    jwks = keyfile.jwks()
    assert {k["kid"] for k in jwks["keys"]} == {first, second}
    for k in jwks["keys"]:
        assert not set(k) & {"d", "p", "q", "dp", "dq", "qi", "k"}
        assert jwt.PyJWK(k).algorithm_name == "ES256"

    # Retiring the next key cancels the switch: the active key signs on.
    ret = keyfile.keys("retire", "--", second)
    assert ret.returncode == 0, ret.stderr
    assert ret.stderr == ""
    assert re.search(rf"^{first}\s+ES256\s+active ", keyfile.keys("list").stdout, re.M)

    # --now: the new key signs at once, with a warning about caching verifiers; the old key
    # retires. Retiring the active key then leaves no signing key: said on stderr.
    now = keyfile.keys("rotate", "--now")
    assert now.returncode == 0, now.stderr
    second = re.search(r"rotated: (\S+) \(ES256\) is active, signs new tokens from now on", now.stdout).group(1)
    assert re.search(rf"^retired {first} \(ES256\): retired \(verifiable until \d{{4}}-", now.stdout, re.M), now.stdout
    assert "may refuse its tokens for up to 5 minutes" in now.stderr and "keys remove" in now.stderr
    ret = keyfile.keys("retire", "--", second)
    assert ret.returncode == 0, ret.stderr
    assert "no active key" in ret.stderr
    assert "0 active" in keyfile.keys("list").stdout

    # With no key signing, a new key activates at once.
    gen = keyfile.keys("generate", "--algorithm", "EdDSA")
    third = kid_from(gen.stdout, "generated")
    assert "(EdDSA): active" in gen.stdout
    assert jwt.PyJWK([k for k in keyfile.jwks()["keys"] if k["kid"] == third][0]).algorithm_name == "EdDSA"

    # HMAC keys are never published.
    hs = keyfile.keys("generate", "--algorithm", "HS256", "--activate-in", "90s")
    hs_kid = kid_from(hs.stdout, "generated")
    assert "(HS256): next" in hs.stdout and "(in 1m30s)" in hs.stdout
    assert "may refuse the first tokens" not in hs.stderr, "a symmetric key is not in the JWKS"
    r = keyfile.keys("jwks")
    assert hs_kid not in r.stdout and "never published" in r.stderr
    assert re.search(rf"^{hs_kid}\s+HS256\s+next \(activates at \S+\)\s+\S+\s+no$", keyfile.keys("list").stdout, re.M)

    removed = keyfile.keys("remove", "--", first)
    assert removed.returncode == 0 and "refused from now on" in removed.stdout
    assert first not in keyfile.keys("list").stdout
    assert keyfile.keys("retire", "no-such-kid").returncode == 1

    # Usage errors are 64; a wrong secret is refused without touching the file.
    assert keyfile.keys("generate", "--algorithm", "ES512").returncode == 64
    assert keyfile.keys("rotate", "--max-token-lifetime", "soon").returncode == 64
    assert keyfile.keys("rotate", "--activate-in", "soon").returncode == 64
    assert keyfile.keys("rotate", "--activate-in", "1m", "--now").returncode == 64
    assert keyfile.keys("import", "--now", keyfile.write("x.jwk", "{}")).returncode == 64
    before = open(keyfile.path, "rb").read()
    wrong = keyfile.keys("list", secret=new_secret())
    assert wrong.returncode == 1 and "secret" in wrong.stderr
    assert open(keyfile.path, "rb").read() == before


def test_import_refuses_weak_and_public_keys(keyfile):
    assert keyfile.keys("generate").returncode == 0
    weak = RSAAlgorithm.to_jwk(rsa.generate_private_key(public_exponent=65537, key_size=1024), as_dict=True)
    r = keyfile.keys("import", "--activate", "--algorithm", "RS256", keyfile.write("weak.jwk", weak))
    assert r.returncode == 1 and "1024-bit" in r.stderr

    short = HMACAlgorithm.to_jwk(os.urandom(16), as_dict=True)
    r = keyfile.keys("import", "--activate", "--algorithm", "HS256", keyfile.write("short.jwk", short))
    assert r.returncode == 1 and "32 bytes" in r.stderr

    _, full = private_jwk("ES256", "partner")
    public = {k: v for k, v in full.items() if k != "d"}
    r = keyfile.keys("import", "--activate", keyfile.write("public.jwk", public))
    assert r.returncode == 1 and "no private key" in r.stderr

    # Without --activate, a public key is imported to verify only.
    r = keyfile.keys("import", keyfile.write("public.jwk", public))
    assert r.returncode == 0, r.stderr
    assert "partner (ES256) to verify only" in r.stdout
    assert re.search(r"^partner\s+ES256\s+external \(verify only\)", keyfile.keys("list").stdout, re.M)
    assert "partner" not in json.dumps(keyfile.jwks())
    no_secret_in(keyfile, weak["d"], short["k"], full["d"])


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "ES384", "RS256", "PS256", "HS256", "HS384", "HS512"])
def test_imported_key_verifies_pyjwt_tokens(keyfile, alg):
    old = keyfile.keys("generate")
    assert old.returncode == 0, old.stderr
    old_kid = kid_from(old.stdout, "generated")
    key, jwk = private_jwk(alg, "pyjwt-" + alg)
    path = keyfile.write("key.jwk", jwk)

    imported = keyfile.keys("import", "--activate", path)
    assert imported.returncode == 0, imported.stderr
    assert f"imported pyjwt-{alg} ({alg}): next: published in the JWKS now, signs new tokens from " in imported.stdout
    assert f"{old_kid} (EdDSA) signs until " in imported.stdout
    assert "delete it or lock it away" in imported.stdout
    assert re.search(rf"^pyjwt-{alg}\s+{alg}\s+next \(activates at ", keyfile.keys("list").stdout, re.M)

    if alg.startswith("HS"):
        # A shared secret is never published: verify with the oct JWK itself.
        assert "pyjwt-" + alg not in json.dumps(keyfile.jwks())
        keys_path = path
    else:
        jwks = keyfile.jwks()
        mine = [k for k in jwks["keys"] if k["kid"] == "pyjwt-" + alg]
        assert len(mine) == 1 and jwt.PyJWK(mine[0]).algorithm_name == alg
        keys_path = keyfile.write("jwks.json", jwks)
        # PyJWT verifies with the published key too.
        decoded = jwt.decode(mint(key, alg, "pyjwt-" + alg), jwt.PyJWK(mine[0]).key, algorithms=[alg], audience=AUD, issuer=ISS)
        assert decoded["sub"] == "user-1"

    token = mint(key, alg, "pyjwt-" + alg)
    r = keyfile.token("verify", "--jwks", keys_path, "--aud", AUD, "--iss", ISS, token)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[0] == "valid"
    assert f"alg {alg}" in r.stdout and '"sub" : "user-1"' in r.stdout
    no_secret_in(keyfile, jwk.get("d", "no-d-member"), jwk.get("k", "no-k-member"))


# --- token verify -----------------------------------------------------------------------------

@pytest.fixture
def eddsa(keyfile):
    """An imported Ed25519 key, its JWKS file, and a way to mint tokens with it."""
    key, jwk = private_jwk("EdDSA", "ed-1")
    r = keyfile.keys("import", "--activate", keyfile.write("ed.jwk", jwk))
    assert r.returncode == 0, r.stderr
    jwks_path = keyfile.write("jwks.json", keyfile.jwks())
    return key, jwks_path


def verify(keyfile, jwks, token, *extra, aud=AUD, iss=ISS, stdin=None):
    args = ["verify", "--jwks", jwks]
    if aud:
        args += ["--aud", aud]
    if iss:
        args += ["--iss", iss]
    return keyfile.token(*args, *extra, token, stdin=stdin)


def test_verify_refusals_and_exit_codes(keyfile, eddsa):
    key, jwks = eddsa
    good = mint(key, "EdDSA", "ed-1")
    assert verify(keyfile, jwks, good).returncode == 0

    head, payload, sig = good.split(".")
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    cases = {
        "bad_signature": head + "." + payload + "." + flipped,
        "expired": mint(key, "EdDSA", "ed-1", exp=int(time.time()) - 3600, iat=int(time.time()) - 4000),
        "wrong_audience": mint(key, "EdDSA", "ed-1", aud="https://other.example"),
        "wrong_issuer": mint(key, "EdDSA", "ed-1", iss="https://evil.example"),
        "unknown_kid": mint(key, "EdDSA", "ed-2"),
        "wrong_type": mint(key, "EdDSA", "ed-1", typ="JWT"),
        "missing_claim": mint(key, "EdDSA", "ed-1", jti=None),
        "not_yet_valid": mint(key, "EdDSA", "ed-1", nbf=int(time.time()) + 3600),
        "malformed": "not.a-token",
    }
    for code, token in cases.items():
        r = verify(keyfile, jwks, token)
        assert r.returncode == 1, (code, r.stdout, r.stderr)
        assert r.stdout.startswith(f"invalid: {code}: "), (code, r.stdout)

    # An unsigned token is refused whatever its claims.
    unsigned = jwt.encode(claims(), None, algorithm="none", headers={"kid": "ed-1", "typ": "at+jwt"})
    assert verify(keyfile, jwks, unsigned).stdout.startswith("invalid: alg_none")

    # Leeway: expired 10 s ago passes with the default 30 s, not with 0 s.
    late = mint(key, "EdDSA", "ed-1", exp=int(time.time()) - 10)
    assert verify(keyfile, jwks, late).returncode == 0
    r = verify(keyfile, jwks, late, "--leeway", "0s")
    assert r.returncode == 1 and "expired" in r.stdout

    # --signature-only checks no claims, and says so.
    r = keyfile.token("verify", "--jwks", jwks, "--signature-only", cases["expired"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("valid signature") and "NOT checked" in r.stdout
    r = keyfile.token("verify", "--jwks", jwks, "--signature-only", cases["bad_signature"])
    assert r.returncode == 1 and r.stdout.startswith("invalid: bad_signature")

    # Usage errors: 64.
    assert verify(keyfile, jwks, good, aud=None).returncode == 64
    assert verify(keyfile, jwks, good, iss=None).returncode == 64
    assert verify(keyfile, jwks, good, "--signature-only").returncode == 64
    assert verify(keyfile, jwks, good, "--leeway", "soon").returncode == 64

    # The token can come from stdin; a missing JWKS file is exit 1 with a message.
    assert verify(keyfile, jwks, "-", stdin=good + "\n").returncode == 0
    r = verify(keyfile, os.path.join(keyfile.workdir, "nope.json"), good)
    assert r.returncode == 1 and "cannot read" in r.stderr


class JWKSHandler(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):
        if self.path == "/.well-known/jwks.json":
            self.send_response(200)
            self.send_header("Content-Type", "application/jwk-set+json")
            self.send_header("Content-Length", str(len(self.body)))
            self.end_headers()
            self.wfile.write(self.body)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def log_message(self, *args):
        pass


def test_verify_against_a_jwks_url(keyfile, eddsa):
    key, jwks_path = eddsa
    handler = type("Handler", (JWKSHandler,), {"body": open(jwks_path, "rb").read()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        token = mint(key, "EdDSA", "ed-1")
        r = verify(keyfile, base + "/.well-known/jwks.json", token)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.startswith("valid")
        assert "plain http" in r.stderr

        r = verify(keyfile, base + "/.well-known/jwks.json", mint(key, "EdDSA", "ed-1", aud="https://other.example"))
        assert r.returncode == 1 and r.stdout.startswith("invalid: wrong_audience")

        r = verify(keyfile, base + "/missing", token)
        assert r.returncode == 1 and "404" in r.stderr
    finally:
        server.shutdown()
        server.server_close()

    # Nothing listens there any more: a clear failure, well within the timeout.
    started = time.time()
    r = verify(keyfile, base + "/.well-known/jwks.json", token, "--timeout", "3s")
    assert r.returncode == 1 and "cannot fetch" in r.stderr
    assert time.time() - started < 10


def test_verify_gives_up_on_a_silent_jwks_server(keyfile, eddsa):
    key, _ = eddsa
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    try:
        started = time.time()
        r = verify(keyfile, f"http://127.0.0.1:{silent.getsockname()[1]}/jwks.json", mint(key, "EdDSA", "ed-1"), "--timeout", "2s")
        elapsed = time.time() - started
        assert r.returncode == 1, r.stdout + r.stderr
        assert "cannot fetch" in r.stderr
        assert 1.5 < elapsed < 15, elapsed
    finally:
        silent.close()


# --- token decode -----------------------------------------------------------------------------

def test_decode_shows_header_claims_and_dates(keyfile, eddsa):
    key, _ = eddsa
    exp = 1893456000  # 2030-01-01T00:00:00Z
    token = mint(key, "EdDSA", "ed-1", exp=exp, iat=exp - 600, nbf=exp - 600)
    for r in (keyfile.token("decode", token), keyfile.token("decode", "-", stdin=token + "\n")):
        assert r.returncode == 0, r.stderr
        out = r.stdout
        header = json.loads(out.split("header:\n", 1)[1].split("\nclaims:\n", 1)[0])
        assert header == {"alg": "EdDSA", "kid": "ed-1", "typ": "at+jwt"}
        body = json.loads(out.split("\nclaims:\n", 1)[1].split("\niat ", 1)[0])
        assert body["sub"] == "user-1" and body["exp"] == exp
        assert f"exp {exp} = 2030-01-01T00:00:00Z (expires in " in out
        assert "iat 1893455400 = 2029-12-31T23:50:00Z" in out
        assert "nbf 1893455400 = 2029-12-31T23:50:00Z" in out
        assert "NOT checked" in out
        assert "not encrypted: anyone holding it can read" in out

    for bad, message in [("hello", "not a signed token"), ("a.b.c.d.e", "encrypted token (JWE"), ("eyJ.e30.", "not a signed token")]:
        r = keyfile.token("decode", bad)
        assert r.returncode == 1, bad
        assert message in r.stderr, (bad, r.stderr)


def test_a_secret_file_others_can_read_is_refused(workdir):
    """The key-file secret opens every key: refused at mode 0644 like the key file itself."""
    keys = os.path.join(workdir, "keys.json")
    secret = os.path.join(workdir, "key-secret")
    with open(secret, "w") as f:
        f.write(new_secret() + "\n")
    os.chmod(secret, 0o644)

    def generate():
        return subprocess.run([BIN, "keys", "generate", "--keys", keys, "--key-secret-file", secret],
                              capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"}, cwd=workdir)

    r = generate()
    assert r.returncode == 1, r.stdout + r.stderr
    assert "mode 0644" in r.stderr and f"chmod 600 {secret}" in r.stderr
    assert not os.path.exists(keys)
    os.chmod(secret, 0o600)
    r = generate()
    assert r.returncode == 0, r.stderr
    # The server refuses it too, before listening.
    os.chmod(secret, 0o640)
    r = subprocess.run([BIN, "serve", "--port", "1", "--store", "memory", "--keys", keys, "--key-secret-file", secret],
                       capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"}, cwd=workdir)
    assert r.returncode != 0 and "mode 0640" in r.stdout + r.stderr
