"""Cloakroom as an OAuth 2.1 authorization server and OpenID provider (issue 14), driven by a
relying party nobody here wrote: Authlib's OAuth2Session (PKCE S256), through the real sign-in and
consent pages of a real server on a SQLite file. Then the RFC 9700 negative cases over HTTP."""
import base64
import hashlib
import json
import re
import secrets
import subprocess
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken

from conftest import BIN, Server

PASSWORD = "correct horse battery staple"
REDIRECT = "https://rp.example/callback"


def add_client(store, name, *args):
    done = subprocess.run([BIN, "clients", "add", name, "--store", store, "--json", *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def provider(workdir):
    store = f"sqlite:{workdir}/cloakroom.sqlite"
    server = Server(store).start()
    assert requests.post(server.url + "/api/register", json={"username": "alice", "password": PASSWORD}).status_code == 201
    rp = add_client(store, "Relying Party", "--redirect", REDIRECT, "--scope", "openid profile offline_access orders:read",
                    "--post-logout-redirect", "https://rp.example/bye")
    other = add_client(store, "Other RP", "--redirect", "https://other.example/cb", "--scope", "openid profile")
    meta = requests.get(server.url + "/.well-known/openid-configuration").json()
    yield server, rp, other, meta
    server.stop()


def field(html, name):
    match = re.search(r'name="%s" value="([^"]*)"' % name, html)
    assert match, f"no {name} field in the page"
    return match.group(1).replace("&amp;", "&").replace("&#39;", "'").replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")


def browse_to_callback(server, url, browser=None, username="alice", password=PASSWORD, decision="allow"):
    """A person in a browser: follows the authorization URL, signs in on the page, allows on the
    consent page; returns the callback URL the browser is sent to, and the browser."""
    browser = browser or requests.Session()
    response = browser.get(url, allow_redirects=False)
    for _ in range(6):
        if response.status_code != 303:
            break
        location = response.headers["Location"]
        if location.startswith(REDIRECT) or location.startswith("https://other.example"):
            return location, browser
        target = location if location.startswith("http") else server.url + location
        response = browser.get(target, allow_redirects=False)
        if response.status_code == 200 and 'action="/login"' in response.text:
            response = browser.post(server.url + "/login", data={
                "csrf_token": field(response.text, "csrf_token"), "username": username, "password": password},
                allow_redirects=False)
    assert response.status_code == 200 and 'action="/authorize"' in response.text, response.text[:500]
    response = browser.post(server.url + "/authorize", data={
        "csrf_token": field(response.text, "csrf_token"), "request": field(response.text, "request"), "decision": decision},
        allow_redirects=False)
    assert response.status_code == 303, response.text[:300]
    return response.headers["Location"], browser


def rp_session(rp, meta, scope="openid profile offline_access"):
    return OAuth2Session(rp["client_id"], rp["client_secret"], scope=scope, redirect_uri=REDIRECT,
                         code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic")


def test_discovery_and_jwks(provider):
    server, _, _, meta = provider
    assert meta["issuer"] == server.url
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri", "revocation_endpoint",
                "introspection_endpoint"):
        assert meta[key].startswith(server.url + "/")
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert "RS256" in meta["id_token_signing_alg_values_supported"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    rfc8414 = requests.get(server.url + "/.well-known/oauth-authorization-server").json()
    assert rfc8414["issuer"] == server.url and "userinfo_endpoint" not in rfc8414
    keys = requests.get(meta["jwks_uri"]).json()["keys"]
    assert {k["kty"] for k in keys} >= {"RSA", "OKP"}, "the ID-token key and the access-token key are both published"


def test_authlib_code_flow_with_pkce_id_token_userinfo_refresh_introspect_revoke(provider):
    server, rp, _, meta = provider
    client = rp_session(rp, meta)
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    callback, browser = browse_to_callback(server, url)
    query = parse_qs(urlparse(callback).query)
    assert query["state"] == [state] and query["iss"] == [server.url], "RFC 9207: iss on the authorization response"

    token = client.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    assert token["token_type"] == "Bearer" and token["refresh_token"] and token["id_token"]
    assert set(token["scope"].split()) == {"openid", "profile", "offline_access"}

    # The ID token, validated by Authlib against the published keys (signature, iss, aud, exp,
    # nonce, at_hash), and at_hash once more here, by hand.
    jwks = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"]).json())
    claims = jwt.decode(token["id_token"], jwks, claims_cls=CodeIDToken,
                        claims_options={"iss": {"essential": True, "value": server.url}},
                        claims_params={"nonce": nonce, "client_id": rp["client_id"], "access_token": token["access_token"]})
    claims.validate()
    header = json.loads(base64.urlsafe_b64decode(token["id_token"].split(".")[0] + "=="))
    assert header["alg"] == "RS256"
    digest = hashlib.sha256(token["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    assert claims["aud"] == rp["client_id"] and claims["azp"] == rp["client_id"] and claims["sid"] and claims["auth_time"]

    info = client.get(meta["userinfo_endpoint"]).json()
    assert info["sub"] == claims["sub"] and info["preferred_username"] == "alice"

    # A second authorization: consent is remembered, so the browser goes straight back.
    url2, state2 = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    again = browser.get(url2, allow_redirects=False)
    assert again.status_code == 303 and again.headers["Location"].startswith(REDIRECT + "?code=")

    # Refresh: rotated; the old refresh token presented again revokes the whole family.
    old_refresh = token["refresh_token"]
    refreshed = client.refresh_token(meta["token_endpoint"], refresh_token=old_refresh)
    assert refreshed["refresh_token"] != old_refresh and refreshed["access_token"] != token["access_token"]

    introspected = client.introspect_token(meta["introspection_endpoint"], token=refreshed["access_token"]).json()
    assert introspected["active"] is True and introspected["client_id"] == rp["client_id"] and introspected["sub"] == claims["sub"]

    reuse = requests.post(meta["token_endpoint"], data={"grant_type": "refresh_token", "refresh_token": old_refresh},
                          auth=(rp["client_id"], rp["client_secret"]))
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    revoked = requests.get(meta["userinfo_endpoint"], headers={"Authorization": "Bearer " + refreshed["access_token"]})
    assert revoked.status_code == 401 and 'error="invalid_token"' in revoked.headers["WWW-Authenticate"]

    # RFC 7009 through Authlib: a fresh sign-in's refresh token revoked; its access token stops at once.
    url3, _ = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    callback3 = browser.get(url3, allow_redirects=False).headers["Location"]
    fresh = client.fetch_token(meta["token_endpoint"], authorization_response=callback3, code_verifier=verifier)
    assert client.revoke_token(meta["revocation_endpoint"], token=fresh["refresh_token"],
                               token_type_hint="refresh_token").status_code == 200
    assert requests.get(meta["userinfo_endpoint"], headers={"Authorization": "Bearer " + fresh["access_token"]}).status_code == 401
    inactive = client.introspect_token(meta["introspection_endpoint"], token=fresh["access_token"]).json()
    assert inactive == {"active": False}


def authorize_query(rp, **overrides):
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {"client_id": rp["client_id"], "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid",
              "state": "st", "code_challenge": challenge, "code_challenge_method": "S256"}
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}, verifier


@pytest.mark.parametrize("redirect", [
    "https://rp.example/callback/", "https://rp.example/callbackx", "https://rp.example/call", "https://RP.example/callback",
    "https://rp.example:443/callback", "https://rp.example/Callback", "http://rp.example/callback",
    "https://rp.example/callback?x=1", "https://rp.example/x/../callback", "https://evil.example/callback",
])
def test_redirect_uri_mismatch_is_shown_never_redirected(provider, redirect):
    server, rp, _, _ = provider
    params, _ = authorize_query(rp, redirect_uri=redirect)
    response = requests.get(server.url + "/authorize", params=params, allow_redirects=False)
    assert response.status_code == 400 and "Location" not in response.headers
    assert "redirect_uri is not registered" in response.text


def test_errors_after_the_redirect_uri_go_back_with_state_and_iss(provider):
    server, rp, _, _ = provider
    for overrides, code in [({"response_type": "token"}, "unsupported_response_type"),
                            ({"code_challenge_method": "plain"}, "invalid_request"),
                            ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
                            ({"scope": "openid admin"}, "invalid_scope")]:
        params, _ = authorize_query(rp, **overrides)
        response = requests.get(server.url + "/authorize", params=params, allow_redirects=False)
        assert response.status_code == 303, overrides
        query = parse_qs(urlparse(response.headers["Location"]).query)
        assert query["error"] == [code] and query["state"] == ["st"] and query["iss"] == [server.url], overrides
    unknown = requests.get(server.url + "/authorize", params={**authorize_query(rp)[0], "client_id": "nobody"}, allow_redirects=False)
    assert unknown.status_code == 400 and "Location" not in unknown.headers


def code_for(server, rp, browser=None, **overrides):
    params, verifier = authorize_query(rp, **overrides)
    callback, browser = browse_to_callback(server, server.url + "/authorize?" + urlencode(params), browser)
    return parse_qs(urlparse(callback).query)["code"][0], verifier, browser


def exchange(meta, rp, code, verifier, auth=None, **extra):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier, **extra}
    return requests.post(meta["token_endpoint"], data=data, auth=auth or (rp["client_id"], rp["client_secret"]))


def test_token_endpoint_refusals(provider):
    server, rp, other, meta = provider
    code, verifier, browser = code_for(server, rp)
    wrong = exchange(meta, rp, code, verifier, auth=(rp["client_id"], "wrong-secret"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client" and wrong.headers["WWW-Authenticate"].startswith("Basic")
    assert wrong.headers["Cache-Control"] == "no-store"
    for bad in ["", "x" * 42, "x" * 129, verifier[:-1] + ("A" if verifier[-1] != "A" else "B")]:
        answer = exchange(meta, rp, code, bad)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant", bad
    assert exchange(meta, rp, code, verifier, redirect_uri=REDIRECT + "/").json()["error"] == "invalid_grant"
    assert exchange(meta, rp, code, verifier, auth=(other["client_id"], other["client_secret"])).json()["error"] == "invalid_grant"
    # Every refusal above left the code unspent: the rightful exchange works, once.
    first = exchange(meta, rp, code, verifier)
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    tokens = first.json()
    second = exchange(meta, rp, code, verifier)
    assert second.status_code == 400 and "already used" in second.json()["error_description"]
    assert requests.get(meta["userinfo_endpoint"], headers={"Authorization": "Bearer " + tokens["access_token"]}).status_code == 401

    # Scope escalation on refresh.
    code, verifier, _ = code_for(server, rp, browser)
    tokens = exchange(meta, rp, code, verifier).json()
    wider = requests.post(meta["token_endpoint"], data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                                        "scope": "openid orders:read"}, auth=(rp["client_id"], rp["client_secret"]))
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"

    # Client B may neither see nor revoke client A's token.
    seen = requests.post(meta["introspection_endpoint"], data={"token": tokens["access_token"]}, auth=(other["client_id"], other["client_secret"]))
    assert seen.json() == {"active": False}
    refused = requests.post(meta["revocation_endpoint"], data={"token": tokens["refresh_token"]}, auth=(other["client_id"], other["client_secret"]))
    assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"
    assert requests.get(meta["userinfo_endpoint"], headers={"Authorization": "Bearer " + tokens["access_token"]}).status_code == 200

    # A client's token is not a key to the account API.
    me = requests.get(server.url + "/api/me", headers={"Authorization": "Bearer " + tokens["access_token"]})
    assert me.status_code == 403 and me.json()["error"] == "insufficient_scope"
    assert requests.post(meta["token_endpoint"], data={"grant_type": "password", "username": "alice", "password": PASSWORD},
                         auth=(rp["client_id"], rp["client_secret"])).json()["error"] == "unsupported_grant_type"


def test_denied_consent_and_prompt_none(provider):
    server, rp, _, _ = provider
    params, _ = authorize_query(rp, prompt="none")
    silent = requests.get(server.url + "/authorize", params=params, allow_redirects=False)
    assert parse_qs(urlparse(silent.headers["Location"]).query)["error"] == ["login_required"]
    params, _ = authorize_query(rp)
    callback, browser = browse_to_callback(server, server.url + "/authorize?" + urlencode(params), decision="deny")
    query = parse_qs(urlparse(callback).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["st"] and "code" not in query
    params, _ = authorize_query(rp, prompt="none")
    no_consent = browser.get(server.url + "/authorize", params=params, allow_redirects=False)
    assert parse_qs(urlparse(no_consent.headers["Location"]).query)["error"] == ["consent_required"]


def test_rp_initiated_logout(provider):
    server, rp, other, meta = provider
    assert meta["end_session_endpoint"] == server.url + "/end-session"
    client = rp_session(rp, meta)
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    url, _ = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    callback, browser = browse_to_callback(server, url)
    id_token = client.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)["id_token"]
    assert browser.get(server.url + "/api/me").status_code == 200

    # Unregistered, prefixed or another client's URI: shown, never redirected; nobody signed out.
    for uri, extra in [("https://evil.example/bye", {}), ("https://rp.example/bye/x", {}), ("https://rp.example/bye", {"client_id": other["client_id"]})]:
        params = {"id_token_hint": id_token, "post_logout_redirect_uri": uri, "state": "s", **extra}
        refused = browser.get(meta["end_session_endpoint"], params=params, allow_redirects=False)
        assert refused.status_code == 400 and "Location" not in refused.headers, uri
    without_client = browser.get(meta["end_session_endpoint"], params={"post_logout_redirect_uri": "https://rp.example/bye"}, allow_redirects=False)
    assert without_client.status_code == 400
    assert browser.get(server.url + "/api/me").status_code == 200

    # A link alone signs nobody out: the page asks; confirming signs out and goes back with state.
    page = browser.get(meta["end_session_endpoint"], params={"id_token_hint": id_token, "post_logout_redirect_uri": "https://rp.example/bye",
                                                             "state": "bye-1"}, allow_redirects=False)
    assert page.status_code == 200 and "Relying Party" in page.text and "asks to sign you out" in page.text
    assert "form-action 'self' https://rp.example;" in page.headers["Content-Security-Policy"]
    forged = browser.post(server.url + "/end-session", data={"decision": "logout", "client_id": rp["client_id"],
                                                            "post_logout_redirect_uri": "https://rp.example/bye"}, allow_redirects=False)
    assert forged.headers["Location"] == "/account" and browser.get(server.url + "/api/me").status_code == 200
    done = browser.post(server.url + "/end-session", data={
        "csrf_token": field(page.text, "csrf_token"), "decision": "logout", "client_id": field(page.text, "client_id"),
        "post_logout_redirect_uri": field(page.text, "post_logout_redirect_uri"), "state": field(page.text, "state")},
        allow_redirects=False)
    assert done.status_code == 303 and done.headers["Location"] == "https://rp.example/bye?state=bye-1"
    assert browser.get(server.url + "/api/me").status_code == 401
    # Signed out already: straight on.
    again = browser.get(meta["end_session_endpoint"], params={"client_id": rp["client_id"], "post_logout_redirect_uri": "https://rp.example/bye"},
                        allow_redirects=False)
    assert again.status_code == 303 and again.headers["Location"] == "https://rp.example/bye"


def test_private_key_jwt_with_authlib(workdir):
    """A client that registered a public key authenticates with a JWT signed by its private key
    (RFC 7523), signed by Authlib's PrivateKeyJWT; a replayed assertion is refused."""
    import time

    import jwt as pyjwt
    from authlib.oauth2.rfc7523 import PrivateKeyJWT
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = JsonWebKey.import_key(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                  serialization.PublicFormat.SubjectPublicKeyInfo)).as_dict()
    public.update(kid="k1", alg="RS256", use="sig")
    jwks_path = f"{workdir}/batch-jwks.json"
    with open(jwks_path, "w") as f:
        json.dump({"keys": [public]}, f)
    store = f"sqlite:{workdir}/cloakroom.sqlite"
    server = Server(store).start()
    try:
        batch = add_client(store, "Batch job", "--redirect", "https://batch.example/cb", "--scope", "reports:read", "--jwks", jwks_path)
        assert "client_secret" not in batch and batch["token_endpoint_auth_method"] == "private_key_jwt" and not batch["public"]
        meta = requests.get(server.url + "/.well-known/openid-configuration").json()
        assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]

        session = OAuth2Session(batch["client_id"], pem.decode(), scope="reports:read", token_endpoint_auth_method="private_key_jwt")
        session.register_client_auth_method(PrivateKeyJWT(meta["token_endpoint"], headers={"kid": "k1"}))
        token = session.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
        assert token["scope"] == "reports:read" and "refresh_token" not in token

        now = int(time.time())
        claims = {"iss": batch["client_id"], "sub": batch["client_id"], "aud": meta["token_endpoint"], "exp": now + 60,
                  "iat": now, "jti": secrets.token_urlsafe(16)}
        assertion = pyjwt.encode(claims, pem, algorithm="RS256", headers={"kid": "k1"})
        form = {"grant_type": "client_credentials", "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion}
        assert requests.post(meta["token_endpoint"], data=form).status_code == 200
        replay = requests.post(meta["token_endpoint"], data=form)
        assert replay.status_code == 401 and replay.json()["error"] == "invalid_client" and "used before" in replay.json()["error_description"]
        forged = pyjwt.encode({**claims, "jti": "other"}, rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256")
        refused = requests.post(meta["token_endpoint"], data={**form, "client_assertion": forged})
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        # Such a client has no secret to rotate.
        rotate = subprocess.run([BIN, "clients", "rotate-secret", batch["client_id"], "--store", store], capture_output=True, text=True)
        assert rotate.returncode == 1 and "private_key_jwt" in rotate.stderr
    finally:
        server.stop()


def test_account_page_lists_and_removes_an_application(provider):
    server, rp, _, meta = provider
    code, verifier, browser = code_for(server, rp)
    tokens = exchange(meta, rp, code, verifier).json()
    page = browser.get(server.url + "/account")
    assert "Applications you allowed" in page.text and "Relying Party" in page.text and rp["client_id"] in page.text
    removed = browser.post(server.url + "/account/applications/revoke", data={
        "csrf_token": field(page.text, "csrf_token"), "client_id": rp["client_id"]}, allow_redirects=False)
    assert removed.status_code == 303 and removed.headers["Location"] == "/account?notice=application"
    after = browser.get(server.url + removed.headers["Location"])
    assert "access has been removed" in after.text and "No application signs you in" in after.text
    # Its refresh token and its access token at /userinfo stop working; the next request asks again.
    refresh = requests.post(meta["token_endpoint"], data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                            auth=(rp["client_id"], rp["client_secret"]))
    assert refresh.status_code == 400 and "withdrawn" in refresh.json()["error_description"]
    assert requests.get(meta["userinfo_endpoint"], headers={"Authorization": "Bearer " + tokens["access_token"]}).status_code == 401
    params, _ = authorize_query(rp)
    asks = browser.get(server.url + "/authorize", params=params, allow_redirects=False)
    assert asks.status_code == 200 and 'action="/authorize"' in asks.text
    # A forged form (no CSRF token) removes nothing.
    code, verifier, browser = code_for(server, rp, browser)
    forged = browser.post(server.url + "/account/applications/revoke", data={"client_id": rp["client_id"]}, allow_redirects=False)
    assert "Relying Party" in browser.get(server.url + "/account").text


def test_back_channel_logout(workdir):
    """A relying party that registered a back-channel logout URI gets a logout token when the
    browser session it signed in through ends here: signed by the provider's keys, naming the user
    and the session of its ID token (OpenID Connect Back-Channel Logout 1.0)."""
    import http.server
    import threading
    import time

    received = []

    class Endpoint(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            received.append((self.headers["Content-Type"], parse_qs(body)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    from conftest import free_port
    port = free_port()
    endpoint = http.server.HTTPServer(("127.0.0.1", port), Endpoint)
    threading.Thread(target=endpoint.serve_forever, daemon=True).start()
    store = f"sqlite:{workdir}/cloakroom.sqlite"
    server = Server(store).start()
    try:
        assert requests.post(server.url + "/api/register", json={"username": "alice", "password": PASSWORD}).status_code == 201
        rp = add_client(store, "Relying Party", "--redirect", REDIRECT, "--scope", "openid profile",
                        "--backchannel-logout", f"http://127.0.0.1:{port}/logout")
        meta = requests.get(server.url + "/.well-known/openid-configuration").json()
        assert meta["backchannel_logout_supported"] is True and meta["backchannel_logout_session_supported"] is True

        def sign_in():
            code, verifier, browser = code_for(server, rp)
            tokens = exchange(meta, rp, code, verifier).json()
            header = json.loads(base64.urlsafe_b64decode(tokens["id_token"].split(".")[1] + "=="))
            return browser, header["sid"], header["sub"]

        def wait_for_token():
            deadline = time.time() + 10
            while not received and time.time() < deadline:
                time.sleep(0.05)
            assert received, "no logout token arrived"
            content_type, form = received.pop(0)
            assert content_type == "application/x-www-form-urlencoded"
            token = form["logout_token"][0]
            header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
            assert header["typ"] == "logout+jwt"
            jwks = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"]).json())
            claims = jwt.decode(token, jwks)  # raises unless the signature verifies
            assert claims["iss"] == server.url and claims["aud"] == rp["client_id"] and "nonce" not in claims
            assert "http://schemas.openid.net/event/backchannel-logout" in claims["events"]
            assert claims["exp"] > claims["iat"] and claims["jti"]
            return claims

        # Signing out on the page.
        browser, sid, sub = sign_in()
        page = browser.get(server.url + "/account")
        assert browser.post(server.url + "/logout", data={"csrf_token": field(page.text, "csrf_token")},
                            allow_redirects=False).status_code == 303
        claims = wait_for_token()
        assert claims["sid"] == sid and claims["sub"] == sub

        # "Sign out everywhere else" from another browser ends the first one: its RP is told.
        browser, sid, sub = sign_in()
        other = requests.Session()
        assert other.post(server.url + "/api/login", json={"username": "alice", "password": PASSWORD}).status_code == 200
        assert other.delete(server.url + "/api/sessions", headers={"X-Requested-With": "test"}).status_code in (200, 204)
        claims = wait_for_token()
        assert claims["sid"] == sid
        assert browser.get(server.url + "/api/me").status_code == 401
        time.sleep(0.3)
        assert received == [], "the session that stayed signed in had no relying party to tell"
    finally:
        server.stop()
        endpoint.shutdown()


def test_sign_in_with_another_cloakroom(workdir):
    """One Cloakroom is the provider, a second the client: "Sign in with A" on B's sign-in page
    goes through A's sign-in and consent pages and back; B creates an account linked to A's `sub`
    on first sign-in and finds it again afterwards; B's signed-in user links from the account page;
    a callback that does not belong to the browser (state) is refused."""
    import os
    os.makedirs(f"{workdir}/a")
    os.makedirs(f"{workdir}/b")
    a_store = f"sqlite:{workdir}/a/a.sqlite"
    a = Server(a_store).start()
    b = Server(f"sqlite:{workdir}/b/b.sqlite")
    try:
        assert requests.post(a.url + "/api/register", json={"username": "carol", "password": PASSWORD}).status_code == 201
        rp = add_client(a_store, "Cloakroom B", "--redirect", f"{b.url}/login/with/a/callback", "--scope", "openid profile")
        # Both servers are on 127.0.0.1, and cookies do not tell ports apart: B names its own.
        b.extra = ["--cookie-name", "cloakroom-b", "--provider", f"a={a.url},{rp['client_id']},{rp['client_secret']}"]
        b.start()
        browser = requests.Session()
        login_page = browser.get(b.url + "/login")
        assert 'href="/login/with/a"' in login_page.text and "Sign in with a" in login_page.text

        def through_a(start_url, username="carol"):
            """Follows B → A (sign-in if needed, consent if asked) → B's callback → B's page."""
            response = browser.get(start_url, allow_redirects=False)
            assert response.status_code == 303 and response.headers["Location"].startswith(a.url + "/authorize?")
            query = parse_qs(urlparse(response.headers["Location"]).query)
            assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
            location = response.headers["Location"]
            for _ in range(8):
                response = browser.get(location if location.startswith("http") else a.url + location, allow_redirects=False)
                if response.status_code == 200 and 'action="/login"' in response.text:
                    response = browser.post(a.url + "/login", data={"csrf_token": field(response.text, "csrf_token"),
                                                                    "username": username, "password": PASSWORD}, allow_redirects=False)
                elif response.status_code == 200 and 'action="/authorize"' in response.text:
                    response = browser.post(a.url + "/authorize", data={"csrf_token": field(response.text, "csrf_token"),
                                                                        "request": field(response.text, "request"), "decision": "allow"},
                                            allow_redirects=False)
                location = response.headers.get("Location", "")
                if location.startswith(b.url):
                    return browser.get(location, allow_redirects=False)
            raise AssertionError("never came back to B")

        done = through_a(b.url + "/login/with/a")
        assert done.status_code == 303 and done.headers["Location"] == "/account", done.text[:300]
        me = browser.get(b.url + "/api/me").json()["user"]
        assert me["username"] == "carol"
        # Signed out of B, signed in again with A: the same account (found by A's sub), no new one.
        account_page = browser.get(b.url + "/account")
        assert "linked since" in account_page.text
        browser.post(b.url + "/logout", data={"csrf_token": field(account_page.text, "csrf_token")})
        assert browser.get(b.url + "/api/me").status_code == 401
        again = through_a(b.url + "/login/with/a")
        assert again.headers["Location"] == "/account" and browser.get(b.url + "/api/me").json()["user"]["id"] == me["id"]

        # A callback that does not belong to this browser's sign-in is refused.
        forged = browser.get(b.url + "/login/with/a/callback?code=x&state=y", allow_redirects=False)
        assert forged.status_code == 400 and "Sign-in with a failed" in forged.text
        stranger = requests.Session()
        start = stranger.get(b.url + "/login/with/a", allow_redirects=False)
        state = parse_qs(urlparse(start.headers["Location"]).query)["state"][0]
        wrong = stranger.get(b.url + f"/login/with/a/callback?code=x&state={state}x&iss={a.url}", allow_redirects=False)
        assert wrong.status_code == 400 and "state" in wrong.text

        # A local user of B links A from the account page; a sign-in with A then finds them.
        dave = requests.Session()
        assert dave.post(b.url + "/api/register", json={"username": "dave", "password": PASSWORD}).status_code == 201
        assert requests.post(a.url + "/api/register", json={"username": "dave-at-a", "password": PASSWORD}).status_code == 201
        browser = dave
        linked = through_a(b.url + "/login/with/a?link=1", username="dave-at-a")
        assert linked.headers["Location"] == "/account?notice=linked"
        assert browser.get(b.url + "/api/me").json()["user"]["username"] == "dave"
    finally:
        b.stop()
        a.stop()


def test_example_resource_checks_scope_and_cors(workdir):
    """The example resource route: 401 without a token or with a bad one, 403 insufficient_scope
    (naming the scope) for a token without example:read, 200 with it; the OAuth endpoints answer a
    browser application's preflight, and their answers may be read from any origin (no cookies)."""
    store = f"sqlite:{workdir}/cloakroom.sqlite"
    server = Server(store).start()
    try:
        assert requests.post(server.url + "/api/register", json={"username": "alice", "password": PASSWORD}).status_code == 201
        rp = add_client(store, "Reader", "--redirect", REDIRECT, "--scope", "openid example:read")
        meta = requests.get(server.url + "/.well-known/openid-configuration").json()
        resource = server.url + "/resource/example"
        bare = requests.get(resource)
        assert bare.status_code == 401 and bare.headers["WWW-Authenticate"].startswith("Bearer")
        assert requests.get(resource, headers={"Authorization": "Bearer not-a-token"}).status_code == 401

        def token_for(scope):
            code, verifier, _ = code_for(server, rp, scope=scope)
            return exchange(meta, rp, code, verifier).json()["access_token"]

        narrow = requests.get(resource, headers={"Authorization": "Bearer " + token_for("openid")})
        assert narrow.status_code == 403 and narrow.json()["error"] == "insufficient_scope"
        assert 'error="insufficient_scope"' in narrow.headers["WWW-Authenticate"] and 'scope="example:read"' in narrow.headers["WWW-Authenticate"]
        wide = requests.get(resource, headers={"Authorization": "Bearer " + token_for("openid example:read")})
        assert wide.status_code == 200 and wide.json()["client_id"] == rp["client_id"] and "example:read" in wide.json()["scope"]

        preflight = requests.options(meta["token_endpoint"], headers={
            "Origin": "https://spa.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
        assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in preflight.headers["Access-Control-Allow-Methods"] and "Access-Control-Allow-Credentials" not in preflight.headers
        # A cross-origin POST to /token is not refused as a cross-site form would be: it takes no cookie.
        answer = requests.post(meta["token_endpoint"], data={"grant_type": "authorization_code", "code": "x"},
                               headers={"Origin": "https://spa.example"}, auth=(rp["client_id"], rp["client_secret"]))
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        # The pages and the account API stay same-origin.
        assert "Access-Control-Allow-Origin" not in requests.get(server.url + "/login").headers
        refused = requests.post(server.url + "/api/login", json={"username": "alice", "password": PASSWORD}, headers={"Origin": "https://spa.example"})
        assert refused.status_code == 403
    finally:
        server.stop()


def test_admin_page_manages_clients(workdir):
    """/admin/clients for the accounts named by --admin: register (the secret shown once, and it
    works at /token), rotate the secret (the old one stops), remove; anyone else gets 403; a form
    without its CSRF token changes nothing."""
    store = f"sqlite:{workdir}/cloakroom.sqlite"
    server = Server(store, extra=["--admin", "Alice"]).start()
    try:
        admin = requests.Session()
        assert admin.post(server.url + "/api/register", json={"username": "alice", "password": PASSWORD}).status_code == 201
        page = admin.get(server.url + "/admin/clients")
        assert page.status_code == 200 and "No application is registered" in page.text
        added = admin.post(server.url + "/admin/clients", data={
            "csrf_token": field(page.text, "csrf_token"), "name": "Web shop", "redirect_uris": "https://shop.example/cb\nhttp://127.0.0.1/cb",
            "scope": "openid orders:read", "post_logout_redirect_uris": "", "backchannel_logout_uri": ""})
        assert added.status_code == 200 and "Registered Web shop." in added.text
        client_id = re.search(r'id="new-client-id">([^<]+)<', added.text).group(1)
        secret = re.search(r'id="new-client-secret">([^<]+)<', added.text).group(1)
        assert secret not in admin.get(server.url + "/admin/clients").text, "the secret is shown once"
        token = requests.post(server.url + "/token", data={"grant_type": "client_credentials", "scope": "orders:read"}, auth=(client_id, secret))
        assert token.status_code == 200, token.text

        refused = admin.post(server.url + "/admin/clients", data={"csrf_token": field(added.text, "csrf_token"), "name": "Bad",
                                                                 "redirect_uris": "https://evil.example/*"})
        assert refused.status_code == 400 and 'role="alert"' in refused.text

        rotated = admin.post(server.url + "/admin/clients/rotate-secret", data={"csrf_token": field(added.text, "csrf_token"), "client_id": client_id})
        new_secret = re.search(r'id="new-client-secret">([^<]+)<', rotated.text).group(1)
        assert new_secret != secret
        assert requests.post(server.url + "/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)).status_code == 401
        assert requests.post(server.url + "/token", data={"grant_type": "client_credentials"}, auth=(client_id, new_secret)).status_code == 200

        forged = admin.post(server.url + "/admin/clients/remove", data={"client_id": client_id})
        assert client_id in admin.get(server.url + "/admin/clients").text, "a form without the CSRF token removed a client"
        bob = requests.Session()
        assert bob.post(server.url + "/api/register", json={"username": "bob", "password": PASSWORD}).status_code == 201
        assert bob.get(server.url + "/admin/clients").status_code == 403
        page = admin.get(server.url + "/admin/clients")
        removed = admin.post(server.url + "/admin/clients/remove", data={"csrf_token": field(page.text, "csrf_token"), "client_id": client_id})
        assert "it can no longer sign anyone in" in removed.text
        assert requests.post(server.url + "/token", data={"grant_type": "client_credentials"}, auth=(client_id, new_secret)).status_code == 401
        assert requests.get(server.url + "/admin/clients", allow_redirects=False).status_code == 303
    finally:
        server.stop()


def test_userinfo_email_claim_is_never_verified(workdir):
    store = f"sqlite:{workdir}/cloakroom.sqlite"
    server = Server(store).start()
    try:
        assert requests.post(server.url + "/api/register", json={"username": "erin@mail.example", "password": PASSWORD}).status_code == 201
        rp = add_client(store, "Mailer", "--redirect", REDIRECT, "--scope", "openid email")
        meta = requests.get(server.url + "/.well-known/openid-configuration").json()
        params, verifier = authorize_query(rp, scope="openid email")
        callback, _ = browse_to_callback(server, server.url + "/authorize?" + urlencode(params), username="erin@mail.example")
        code = parse_qs(urlparse(callback).query)["code"][0]
        tokens = exchange(meta, rp, code, verifier).json()
        info = requests.get(meta["userinfo_endpoint"], headers={"Authorization": "Bearer " + tokens["access_token"]}).json()
        assert info["email"] == "erin@mail.example" and info["email_verified"] is False and "preferred_username" not in info
    finally:
        server.stop()


def test_back_channel_logout_with_sessions_in_cookies(workdir):
    """With `--store cookie` the server cannot list the browsers a user signed in on, so "sign out
    everywhere else" tells every relying party the user allowed with a logout token naming the user
    and no session (`sid` absent: all of the user's sessions there), sparing those the remaining
    session signed in to. Signing out one browser still names its session."""
    import http.server
    import threading
    import time

    received = []

    class Endpoint(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            received.append(parse_qs(body)["logout_token"][0])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    from conftest import free_port
    port = free_port()
    endpoint = http.server.HTTPServer(("127.0.0.1", port), Endpoint)
    threading.Thread(target=endpoint.serve_forever, daemon=True).start()
    accounts = f"sqlite:{workdir}/accounts.sqlite"
    server = Server("cookie", ["--accounts", accounts]).start()
    try:
        assert requests.post(server.url + "/api/register", json={"username": "alice", "password": PASSWORD}).status_code == 201
        rp = add_client(accounts, "Relying Party", "--redirect", REDIRECT, "--scope", "openid profile",
                        "--backchannel-logout", f"http://127.0.0.1:{port}/logout")
        meta = requests.get(server.url + "/.well-known/openid-configuration").json()
        jwks = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"]).json())

        def next_token():
            deadline = time.time() + 10
            while not received and time.time() < deadline:
                time.sleep(0.05)
            assert received, "no logout token arrived"
            claims = jwt.decode(received.pop(0), jwks)
            assert claims["aud"] == rp["client_id"] and "http://schemas.openid.net/event/backchannel-logout" in claims["events"]
            return claims

        code, verifier, browser = code_for(server, rp)
        id_token = exchange(meta, rp, code, verifier).json()["id_token"]
        sub = json.loads(base64.urlsafe_b64decode(id_token.split(".")[1] + "=="))["sub"]
        other = requests.Session()
        assert other.post(server.url + "/api/login", json={"username": "alice", "password": PASSWORD}).status_code == 200
        assert other.delete(server.url + "/api/sessions", headers={"X-Requested-With": "test"}).status_code == 200
        claims = next_token()
        assert claims["sub"] == sub and "sid" not in claims, claims
        assert browser.get(server.url + "/api/me").status_code == 401, "the browser that signed in to the RP is signed out"

        # The browser that stays signed in used the RP itself: it is spared.
        code, verifier, browser = code_for(server, rp)
        exchange(meta, rp, code, verifier)
        assert browser.delete(server.url + "/api/sessions", headers={"X-Requested-With": "test"}).status_code == 200
        time.sleep(0.5)
        assert received == [], "the relying party of the session that stayed was told to sign it out"

        # Signing this browser out names its session, as with any store.
        page = browser.get(server.url + "/account")
        assert browser.post(server.url + "/logout", data={"csrf_token": field(page.text, "csrf_token")},
                            allow_redirects=False).status_code == 303
        assert next_token()["sid"]
    finally:
        server.stop()
        endpoint.shutdown()
