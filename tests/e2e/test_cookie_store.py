"""Sessions kept in the browser (`--store cookie`, issue 15): the whole session sealed into its
cookie, nothing stored on the server, a write that would pass 4 KB refused with 413, and "sign out
everywhere" ending every copy of every cookie through the per-user epoch."""
import json
import sqlite3

import pytest
import requests
from selenium.webdriver.common.by import By

from test_browser import wait_for
from test_remember_me import chromium

PASSWORD = "correct horse battery staple"


@pytest.fixture
def cookie_server(make_server, workdir):
    s = make_server("--accounts", f"sqlite:{workdir}/accounts.sqlite", store="cookie").start()
    s.accounts = f"{workdir}/accounts.sqlite"
    return s


def register(server, username):
    browser = requests.Session()
    response = browser.post(server.url + "/api/register", json={"username": username, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return browser


def sign_in(server, username):
    browser = requests.Session()
    response = browser.post(server.url + "/api/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return browser


def copy_of(server, browser):
    """A second client holding a copy of `browser`'s session cookie (what a thief would have)."""
    thief = requests.Session()
    thief.cookies.set("cloakroom", browser.cookies.get("cloakroom"), domain="127.0.0.1", path="/")
    return thief


def test_the_session_lives_in_the_cookie_not_on_the_server(cookie_server):
    browser = register(cookie_server, "ada")
    cookie = browser.cookies.get("cloakroom")
    # Sealed with AES-256-GCM under key s1: nothing of the user is readable in it.
    assert cookie.startswith("a1.s1.") and "ada" not in cookie
    set_cookie = browser.get(cookie_server.url + "/api/me").headers.get("Set-Cookie", "")
    put = browser.put(cookie_server.url + "/api/session/data/cart", data=json.dumps({"items": [1, 2, 3]}),
                      headers={"Content-Type": "application/json", "Origin": cookie_server.url})
    assert put.status_code == 200 and "HttpOnly" in put.headers["Set-Cookie"] and "SameSite=Lax" in put.headers["Set-Cookie"]
    assert browser.cookies.get("cloakroom") != cookie, "a changed session is sealed into a new cookie"
    assert browser.get(cookie_server.url + "/api/session/data").json() == {"data": {"cart": {"items": [1, 2, 3]}}}
    assert "cloakroom=" not in set_cookie, "a read inside the touch interval sends no cookie"
    # The server keeps no session: the sessions table of the accounts file is empty.
    with sqlite3.connect(cookie_server.accounts) as db:
        assert db.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0
    # Across a restart (the same key file, so the same sealing key) the browser is still signed in.
    cookie_server.stop()
    cookie_server.start()
    assert browser.get(cookie_server.url + "/api/me").json()["user"]["username"] == "ada"
    assert browser.get(cookie_server.url + "/api/session/data/cart").json()["value"] == {"items": [1, 2, 3]}


def test_a_write_past_4kb_is_refused_and_nothing_is_lost(cookie_server):
    browser = register(cookie_server, "bea")
    headers = {"Content-Type": "application/json", "Origin": cookie_server.url}
    assert browser.put(cookie_server.url + "/api/session/data/note", data='"small"', headers=headers).status_code == 200
    before = browser.cookies.get("cloakroom")
    big = browser.put(cookie_server.url + "/api/session/data/big", data=json.dumps("x" * 3200), headers=headers)
    assert big.status_code == 413
    assert big.json()["error"] == "payload_too_large" and "4096" in big.json()["message"]
    assert "cloakroom=" not in big.headers.get("Set-Cookie", ""), "no cookie is sent with a refused write"
    assert browser.cookies.get("cloakroom") == before
    assert browser.get(cookie_server.url + "/api/session/data").json() == {"data": {"note": "small"}}
    # What does fit, fits: 2 KB more.
    assert browser.put(cookie_server.url + "/api/session/data/mid", data=json.dumps("y" * 2000), headers=headers).status_code == 200
    assert len(browser.cookies.get("cloakroom")) < 4096


def test_sign_out_everywhere_ends_copied_cookies(cookie_server):
    laptop = register(cookie_server, "cy")
    phone = sign_in(cookie_server, "cy")
    stolen_phone = copy_of(cookie_server, phone)
    stolen_laptop = copy_of(cookie_server, laptop)
    other_user = register(cookie_server, "dee")
    for client in (laptop, phone, stolen_phone, stolen_laptop):
        assert client.get(cookie_server.url + "/api/me").status_code == 200
    # Only this device can be listed: the server never sees the others.
    listed = laptop.get(cookie_server.url + "/api/sessions").json()["sessions"]
    assert len(listed) == 1 and listed[0]["current"] is True

    ended = laptop.delete(cookie_server.url + "/api/sessions", headers={"Origin": cookie_server.url, "Content-Type": "application/json"})
    assert ended.status_code == 200, ended.text
    assert laptop.get(cookie_server.url + "/api/me").status_code == 200, "the device that asked stays signed in"
    assert phone.get(cookie_server.url + "/api/me").status_code == 401
    assert stolen_phone.get(cookie_server.url + "/api/me").status_code == 401
    assert stolen_laptop.get(cookie_server.url + "/api/me").status_code == 401, "the copy taken before is sealed under the old epoch"
    assert other_user.get(cookie_server.url + "/api/me").status_code == 200, "another user is untouched"

    # A password change ends every other copy too.
    stolen_again = copy_of(cookie_server, laptop)
    change = laptop.post(cookie_server.url + "/api/password", json={"current_password": PASSWORD, "new_password": PASSWORD + "!"},
                         headers={"Origin": cookie_server.url})
    assert change.status_code in (200, 204), change.text
    assert laptop.get(cookie_server.url + "/api/me").status_code == 200
    assert stolen_again.get(cookie_server.url + "/api/me").status_code == 401


def test_sign_out_expires_the_cookie(cookie_server):
    browser = register(cookie_server, "eve")
    out = browser.post(cookie_server.url + "/api/logout", headers={"Origin": cookie_server.url, "Content-Type": "application/json"})
    assert out.status_code in (200, 204)
    assert "cloakroom=;" in out.headers["Set-Cookie"] and "Max-Age=0" in out.headers["Set-Cookie"]
    assert browser.get(cookie_server.url + "/api/me").status_code == 401


def test_settings_that_need_server_sessions_are_refused(make_server, workdir):
    server = make_server("--accounts", f"sqlite:{workdir}/a.sqlite", "--max-sessions-per-user", "3", store="cookie")
    with pytest.raises(RuntimeError):
        server.start()
    with open(server.log.name) as log:
        assert "--max-sessions-per-user 3 needs sessions the server can count" in log.read()


def test_chromium_signs_in_and_the_account_page_says_what_it_cannot_list(cookie_server):
    assert requests.post(cookie_server.url + "/api/register", json={"username": "fay", "password": PASSWORD}).status_code == 201
    driver = chromium()
    try:
        driver.get(cookie_server.url + "/login")
        driver.find_element(By.NAME, "username").send_keys("fay")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
        wait_for(driver, lambda d: "/account" in d.current_url and "Signed in as" in d.page_source, "the account page")
        note = driver.find_element(By.ID, "cookie-sessions-note").text
        assert "cannot see or list the other devices" in note
        assert len(driver.find_elements(By.CSS_SELECTOR, "table.sessions tbody tr")) == 1
        cookie = driver.get_cookie("cloakroom")
        assert cookie["value"].startswith("a1.") and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
        # Sign out everywhere else from the page, then still signed in here.
        driver.find_element(By.CSS_SELECTOR, "form[action='/account/sessions/revoke-others'] button").click()
        wait_for(driver, lambda d: "Signed in as" in d.page_source, "the account page again")
    finally:
        driver.quit()


def keys_command(server, *args, env=None):
    import os
    import subprocess
    from conftest import BIN
    return subprocess.run([BIN, "keys", "sealing", *args, "--keys", server.keys], capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})), timeout=60)


def test_sealing_keys_rotate_without_signing_anyone_out(cookie_server):
    """The sealing keys live in their own file beside the key file, and a running server reloads it:
    a rotation keeps old cookies opening (the old key is previous), new cookies use the new key, and
    removing the old key ends what only it sealed. No restart."""
    import os
    import stat
    import time
    sealing = cookie_server.keys[:-len(".json")] + "-sealing.json"
    assert stat.S_IMODE(os.stat(sealing).st_mode) == 0o600
    listed = keys_command(cookie_server, "list")
    assert listed.returncode == 0 and "s1  current" in listed.stdout, listed.stdout + listed.stderr

    old = register(cookie_server, "gil")
    assert old.cookies.get("cloakroom").startswith("a1.s1.")
    old_copy = copy_of(cookie_server, old)

    def eventually(condition, what):
        deadline = time.time() + 10
        while time.time() < deadline:
            if condition():
                return
            time.sleep(0.2)
        raise AssertionError(what)

    rotated = keys_command(cookie_server, "rotate")
    assert rotated.returncode == 0 and "s2 is current" in rotated.stdout
    eventually(lambda: sign_in(cookie_server, "gil").cookies.get("cloakroom").startswith("a1.s2."),
               "new cookies are sealed under the new key once the server reloads the file")
    assert old_copy.get(cookie_server.url + "/api/me").status_code == 200, "a cookie sealed under the previous key still opens"
    fresh = sign_in(cookie_server, "gil")

    refused = keys_command(cookie_server, "remove", "s2")
    assert refused.returncode == 1 and "is current" in refused.stderr
    assert keys_command(cookie_server, "remove", "s1").returncode == 0
    eventually(lambda: copy_of(cookie_server, old).get(cookie_server.url + "/api/me").status_code == 401,
               "what only the removed key sealed stops opening")
    assert fresh.get(cookie_server.url + "/api/me").status_code == 200
    # A damaged file is logged and changes nothing.
    with open(sealing, "w") as damaged:
        damaged.write("{}")
    time.sleep(1.5)
    assert fresh.get(cookie_server.url + "/api/me").status_code == 200
    with open(cookie_server.log.name) as log:
        assert "sealing key file changed but could not be loaded" in log.read()


def test_sealing_keys_from_the_environment(make_server, workdir):
    import base64
    import os
    key = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
    os.environ["CLOAKROOM_SEALING_KEYS"] = f"e1:{key}"
    try:
        server = make_server("--accounts", f"sqlite:{workdir}/env.sqlite", store="cookie").start()
    finally:
        del os.environ["CLOAKROOM_SEALING_KEYS"]
    browser = register(server, "hal")
    assert browser.cookies.get("cloakroom").startswith("a1.e1.")
    assert not os.path.exists(server.keys[:-len(".json")] + "-sealing.json"), "no file is made when the environment gives the keys"
