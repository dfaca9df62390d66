"""Interop with a JWT library nobody here wrote (PyJWT): it verifies our tokens through
/.well-known/jwks.json, and our server accepts tokens PyJWT signs with a key in our key ring."""
import base64
import json
import os
import re
import subprocess
import time
import uuid

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from conftest import BIN

PASSWORD = "correct horse battery staple"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_in(server, user):
    s = requests.Session()
    r = s.post(server.url + "/api/register", json={"username": user, "password": PASSWORD})
    assert r.status_code == 201, r.text
    user_id = r.json()["user"]["id"]
    r = requests.post(server.url + "/api/token", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return user_id, r.json()


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256", "RS256", "PS256"])
def test_pyjwt_verifies_our_tokens_through_the_jwks(make_server, algorithm):
    server = make_server("--token-algorithm", algorithm).start()
    user_id, tokens = sign_in(server, "alice")
    token = tokens["access_token"]

    client = jwt.PyJWKClient(server.url + "/.well-known/jwks.json")
    signing_key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token, signing_key.key, algorithms=[algorithm], audience=server.url, issuer=server.url,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]})
    assert claims["sub"] == user_id
    assert claims["client_id"] == "cloakroom"
    assert jwt.get_unverified_header(token)["typ"] == "at+jwt"

    # One changed byte in the signature: PyJWT refuses it too.
    head, body, sig = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[0] ^= 1
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(f"{head}.{body}.{b64(bytes(raw))}", signing_key.key, algorithms=[algorithm], audience=server.url)


def import_key(server, private_jwk):
    path = os.path.join(os.path.dirname(server.keys), "import.jwk")
    with open(path, "w") as f:
        json.dump(private_jwk, f)
    env = dict(os.environ)
    r = subprocess.run([BIN, "keys", "import", "--keys", server.keys, "--activate", path],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr


def our_claims(server, user_id, **extra):
    now = int(time.time())
    claims = {"iss": server.url, "aud": server.url, "sub": user_id, "iat": now, "exp": now + 300,
              "jti": uuid.uuid4().hex, "client_id": "pyjwt", "scope": "", "epoch": 0}
    claims.update(extra)
    return claims


@pytest.mark.parametrize("kind", ["Ed25519", "P-256"])
def test_our_server_accepts_tokens_pyjwt_signs_with_a_key_in_our_ring(make_server, kind):
    server = make_server()
    server.start()
    user_id, _ = sign_in(server, "bob")
    server.stop()

    if kind == "Ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key))
        algorithm = "EdDSA"
        jwk["alg"] = "EdDSA"
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key))
        algorithm = "ES256"
        jwk["alg"] = "ES256"
    import_key(server, jwk)
    server.start()

    published = requests.get(server.url + "/.well-known/jwks.json").json()["keys"]
    match = [k for k in published if k.get("x") == jwk["x"]]
    assert len(match) == 1, published
    kid = match[0]["kid"]
    assert "d" not in match[0]

    token = jwt.encode(our_claims(server, user_id), key, algorithm=algorithm, headers={"kid": kid, "typ": "at+jwt"})
    r = requests.get(server.url + "/api/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["id"] == user_id
    assert r.json()["token"]["clientID"] == "pyjwt"

    # The same key, but claims we must refuse, each with its own reason.
    cases = {
        "expired": our_claims(server, user_id, exp=int(time.time()) - 120),
        "wrong_audience": our_claims(server, user_id, aud="https://elsewhere.example"),
        "wrong_issuer": our_claims(server, user_id, iss="https://evil.example"),
        "not_yet_valid": our_claims(server, user_id, nbf=int(time.time()) + 600),
    }
    for reason, claims in cases.items():
        bad = jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid, "typ": "at+jwt"})
        r = requests.get(server.url + "/api/me", headers={"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401, (reason, r.text)
        assert r.json()["reason"] == reason
        assert r.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')

    # Typ other than at+jwt (an ID token, say) is refused.
    bad = jwt.encode(our_claims(server, user_id), key, algorithm=algorithm, headers={"kid": kid, "typ": "JWT"})
    r = requests.get(server.url + "/api/me", headers={"Authorization": f"Bearer {bad}"})
    assert r.json()["reason"] == "wrong_type"

    # The classic confusion attack: HS256 keyed with the public key's bytes is refused.
    public_pem = key.public_key().public_bytes(
        encoding=__import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.PEM,
        format=__import__("cryptography.hazmat.primitives.serialization", fromlist=["PublicFormat"]).PublicFormat.SubjectPublicKeyInfo)
    header = b64(json.dumps({"alg": "HS256", "kid": kid, "typ": "at+jwt"}).encode())
    payload = b64(json.dumps(our_claims(server, user_id)).encode())
    import hashlib
    import hmac
    forged_sig = b64(hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    r = requests.get(server.url + "/api/me", headers={"Authorization": f"Bearer {header}.{payload}.{forged_sig}"})
    assert r.status_code == 401
    assert r.json()["reason"] == "alg_mismatch"


def test_refresh_rotation_and_reuse_over_http(server):
    _, tokens = sign_in(server, "carol")
    first = tokens["refresh_token"]
    r = requests.post(server.url + "/api/token", data={"grant_type": "refresh_token", "refresh_token": first})
    assert r.status_code == 200, r.text
    second = r.json()["refresh_token"]
    r = requests.post(server.url + "/api/token", data={"grant_type": "refresh_token", "refresh_token": first})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant" and r.json()["reason"] == "reused"
    r = requests.post(server.url + "/api/token", data={"grant_type": "refresh_token", "refresh_token": second})
    assert r.status_code == 400, "reuse revoked the whole family"


def test_tokens_survive_a_restart_with_the_same_key_file(make_server):
    server = make_server().start()
    _, tokens = sign_in(server, "dora")
    server.stop()
    server.start()
    r = requests.get(server.url + "/api/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert r.status_code == 200, r.text
    r = requests.post(server.url + "/api/token", json={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200, r.text


def test_scheduled_rotation_is_invisible_to_a_caching_pyjwkclient(make_server):
    """`keys rotate` publishes the new key before it signs: a PyJWKClient that caches the JWKS
    (and, by default, refuses to refetch for 30 s after a fetch) verifies every token, before and
    after the switch, with no unknown-kid error. Times are scaled down: the client caches for 1 s
    where real ones cache for the JWKS max-age (5 minutes), and the key activates 4 s after the
    command where the default is 6 minutes."""
    server = make_server().start()
    user_id, tokens = sign_in(server, "erin")
    first = tokens["access_token"]
    old_kid = jwt.get_unverified_header(first)["kid"]
    client = jwt.PyJWKClient(server.url + "/.well-known/jwks.json", lifespan=1)

    def check(token):
        key = client.get_signing_key_from_jwt(token)  # raises PyJWKClientError on an unknown kid
        claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience=server.url, issuer=server.url)
        assert claims["sub"] == user_id
        return jwt.get_unverified_header(token)["kid"]

    assert check(first) == old_kid
    started = time.monotonic()
    r = subprocess.run([BIN, "keys", "rotate", "--keys", server.keys, "--activate-in", "4s"],
                       capture_output=True, text=True, env=dict(os.environ))
    assert r.returncode == 0, r.stdout + r.stderr
    new_kid = re.search(r"rotated: (\S+) \(EdDSA\) is next", r.stdout).group(1)
    assert "(in 4s)" in r.stdout and "may refuse the first tokens" in r.stderr

    refresh = tokens["refresh_token"]
    kids = []
    switched_at = None
    while time.monotonic() - started < 12:
        r = requests.post(server.url + "/api/token", data={"grant_type": "refresh_token", "refresh_token": refresh})
        assert r.status_code == 200, r.text
        issued_at = time.monotonic()
        refresh = r.json()["refresh_token"]
        kids.append(check(r.json()["access_token"]))
        if kids[-1] == new_kid and switched_at is None:
            switched_at = issued_at
        if kids[-3:] == [new_kid] * 3:
            break
        time.sleep(0.2)
    # The old key signed until the activation time, the new one from then on, and the client
    # knew each kid when it first met it.
    assert kids[0] == old_kid and kids[-1] == new_kid, kids
    assert kids == sorted(kids, key=lambda kid: kid == new_kid), kids
    assert switched_at - started >= 3.8, "the new key signed before its activation time"
    # The old token still verifies, at the client and at the server.
    assert check(first) == old_kid
    r = requests.get(server.url + "/api/me", headers={"Authorization": f"Bearer {first}"})
    assert r.status_code == 200, r.text
    listed = subprocess.run([BIN, "keys", "list", "--keys", server.keys], capture_output=True, text=True, env=dict(os.environ)).stdout
    assert re.search(rf"^{old_kid}\s+EdDSA\s+retired \(verifiable until ", listed, re.M), listed
    assert re.search(rf"^{new_kid}\s+EdDSA\s+active ", listed, re.M), listed
