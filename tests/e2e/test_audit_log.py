"""Sign-in events reach the server log, and nothing secret does."""
import time
import uuid

import requests


def test_sign_in_events_are_logged_without_secrets(server):
    user = "audit-" + uuid.uuid4().hex[:8]
    password = "a long enough password " + uuid.uuid4().hex
    assert requests.post(server.url + "/api/register", json={"username": user, "password": password}).status_code == 201
    wrong = "wrong-" + uuid.uuid4().hex
    typo = "password-typed-as-username-" + uuid.uuid4().hex
    assert requests.post(server.url + "/api/login", json={"username": user, "password": wrong}).status_code == 401
    assert requests.post(server.url + "/api/login", json={"username": typo, "password": wrong}).status_code == 401
    signed_in = requests.post(server.url + "/api/login", json={"username": user, "password": password})
    assert signed_in.status_code == 200
    session_id = signed_in.cookies.get("cloakroom")
    assert session_id
    for _ in range(3):
        requests.post(server.url + "/api/login", json={"username": user, "password": wrong})
    throttled = requests.post(server.url + "/api/login", json={"username": user, "password": wrong})
    assert throttled.status_code == 429

    me_session = requests.Session()
    me_session.cookies.set("cloakroom", session_id)
    assert me_session.post(server.url + "/api/logout", json={}).status_code == 204
    grant = requests.post(server.url + "/api/token", json={"username": user, "password": password})
    if grant.status_code == 200:  # the account may still be throttled: then the sign-out lines suffice
        access = grant.json()["access_token"]
        assert requests.post(server.url + "/api/logout", headers={"Authorization": "Bearer " + access}).status_code == 204

    time.sleep(0.5)  # let the log lines reach the file
    with open(server.log.name, encoding="utf-8", errors="replace") as f:
        log = f.read()
    assert "sign-in failed: wrong password" in log
    assert "sign-in failed: unknown user" in log
    assert "signed in" in log
    assert "sign-in refused: throttled" in log
    assert "signed out" in log
    for secret in (password, wrong, typo, session_id):
        assert secret not in log, "a secret reached the log"


def test_a_weak_password_hash_cost_is_warned_about(server):
    # The tests run with a cheap scrypt cost (conftest.FAST_HASH); the server says it is weak.
    with open(server.log.name, encoding="utf-8", errors="replace") as f:
        log = f.read()
    assert "below OWASP's minimum" in log
