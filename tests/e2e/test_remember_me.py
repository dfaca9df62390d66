"""Remember-me ("keep me signed in", issue 15) over real HTTP on a SQLite file, and in headless
Chromium: a browser whose session has ended comes back signed in; the token rotates on each use;
a copied cookie used after its owner's next visit ends every session and token of the account;
signing out forgets the device; a remembered session asks for the password before sensitive
actions."""
import os
import shutil
import tempfile

import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from test_browser import chromium_binary, wait_for

PASSWORD = "correct horse battery staple"
SESSION = "cloakroom"
REMEMBER = "cloakroom-remember"


def signed_in_with_remember(server, username="rita"):
    browser = requests.Session()
    assert browser.post(server.url + "/api/register", json={"username": username, "password": PASSWORD}).status_code == 201
    browser.post(server.url + "/api/logout", headers={"X-Requested-With": "test"})
    login = browser.post(server.url + "/api/login", json={"username": username, "password": PASSWORD, "remember": True})
    assert login.status_code == 200, login.text
    header = [h for h in login.raw.headers.getlist("Set-Cookie") if h.startswith(REMEMBER + "=")]
    assert header, login.headers
    assert "HttpOnly" in header[0] and "SameSite=Lax" in header[0] and "Max-Age=2592000" in header[0] and "Path=/" in header[0]
    return browser, browser.cookies.get(REMEMBER)


def only_remember(server, token):
    """A browser holding only the remember cookie: its session cookie is gone (closed, expired)."""
    browser = requests.Session()
    browser.cookies.set(REMEMBER, token, domain="127.0.0.1", path="/")
    return browser


def test_remembered_browser_comes_back_signed_in_and_rotates(server):
    owner, first = signed_in_with_remember(server)
    me = owner.get(server.url + "/api/me").json()
    returning = only_remember(server, first)
    back = returning.get(server.url + "/api/me")
    assert back.status_code == 200 and back.json()["user"]["id"] == me["user"]["id"]
    second = returning.cookies.get(REMEMBER)
    assert second and second != first, "the token rotates on each use"
    assert returning.cookies.get(SESSION), "a new session was made"
    # The remembered session is marked, and asks for the password before ending other sessions.
    listed = returning.get(server.url + "/api/sessions").json()["sessions"]
    assert any(s["current"] for s in listed)
    refused = returning.delete(server.url + "/api/sessions", headers={"X-Requested-With": "test"})
    assert refused.status_code == 403 and refused.json()["error"] == "reauthentication_required"
    allowed = returning.delete(server.url + "/api/sessions", json={"password": PASSWORD})
    assert allowed.status_code in (200, 204), allowed.text
    # Without the box ticked, no remember cookie.
    plain = requests.Session()
    assert plain.post(server.url + "/api/login", json={"username": "rita", "password": PASSWORD}).status_code == 200
    assert plain.cookies.get(REMEMBER) is None


def test_a_copied_cookie_used_after_the_owner_ends_everything(make_server):
    import time
    # A 1-second race window: a replay sooner than that is taken for a second tab (next test).
    server = make_server("--remember-race-window", "1s").start()
    owner, stolen = signed_in_with_remember(server, "sam")
    # The owner's session ends; the owner comes back through the cookie (it rotates).
    owner_again = only_remember(server, stolen)
    assert owner_again.get(server.url + "/api/me").status_code == 200
    other_device = requests.Session()
    assert other_device.post(server.url + "/api/login", json={"username": "sam", "password": PASSWORD}).status_code == 200
    time.sleep(1.2)
    # The thief replays the copied (now used) value: theft. Every session and token of sam ends.
    thief = only_remember(server, stolen)
    assert thief.get(server.url + "/api/me").status_code == 401
    assert owner_again.get(server.url + "/api/me").status_code == 401, "the owner's remembered session survived theft"
    assert other_device.get(server.url + "/api/me").status_code == 401, "another session survived theft"
    assert only_remember(server, owner_again.cookies.get(REMEMBER)).get(server.url + "/api/me").status_code == 401
    # The password still works.
    assert requests.post(server.url + "/api/login", json={"username": "sam", "password": PASSWORD}).status_code == 200


def test_two_tabs_racing_with_one_cookie_is_not_theft(server):
    """Two tabs restored at once send the same remember cookie: one signs in, the other is passed
    through signed out without touching the cookie, and nothing ends."""
    _, token = signed_in_with_remember(server, "tia")
    first_tab = only_remember(server, token)
    assert first_tab.get(server.url + "/api/me").status_code == 200
    second_tab = only_remember(server, token)
    late = second_tab.get(server.url + "/api/me")
    assert late.status_code == 401
    assert "cloakroom-remember" not in late.headers.get("Set-Cookie", ""), "the racing tab must not overwrite the new cookie"
    assert first_tab.get(server.url + "/api/me").status_code == 200, "a race ended the other tab's session"
    assert only_remember(server, first_tab.cookies.get(REMEMBER)).get(server.url + "/api/me").status_code == 200, "a race ended the device"


def test_signing_out_forgets_the_device(server):
    owner, token = signed_in_with_remember(server, "tess")
    out = owner.post(server.url + "/api/logout", headers={"X-Requested-With": "test"})
    assert out.status_code == 204
    assert any(h.startswith(REMEMBER + "=;") or (h.startswith(REMEMBER + "=") and "Max-Age=0" in h) for h in out.raw.headers.getlist("Set-Cookie"))
    assert only_remember(server, token).get(server.url + "/api/me").status_code == 401


def chromium(profile=None):
    options = webdriver.ChromeOptions()
    options.binary_location = chromium_binary()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1200,900"):
        options.add_argument(arg)
    if profile:
        options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(30)
    return driver


def sign_in_ticked(driver, server, username):
    driver.get(server.url + "/login")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.NAME, "remember").click()
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
    wait_for(driver, lambda d: "/account" in d.current_url, "the account page")


def test_chromium_dropped_session_cookie_and_restarted_browser(server):
    for username in ("uma", "vic"):
        assert requests.post(server.url + "/api/register", json={"username": username, "password": PASSWORD}).status_code == 201
    driver = chromium()
    try:
        sign_in_ticked(driver, server, "uma")
        driver.delete_cookie(SESSION)
        driver.get(server.url + "/account")
        wait_for(driver, lambda d: "Signed in as" in d.page_source and "uma" in d.page_source, "signed in again by the remember cookie")
        assert "remembered" in driver.page_source
    finally:
        driver.quit()
    # The same profile after a browser restart: the session cookie (no Max-Age) is gone, the
    # remember cookie is not.
    profile = tempfile.mkdtemp(prefix="cloakroom-chromium-")
    try:
        driver = chromium(profile)
        sign_in_ticked(driver, server, "vic")
        driver.quit()
        driver = chromium(profile)
        driver.get(server.url + "/account")
        wait_for(driver, lambda d: "Signed in as" in d.page_source and "vic" in d.page_source, "signed in after the restart")
        driver.quit()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_the_account_page_lists_remembered_devices_and_forgets_one(server):
    """Issue 15: a page lists the devices a remember cookie keeps signed in, with a button per device."""
    import re
    assert requests.post(server.url + "/api/register", json={"username": "wes", "password": PASSWORD}).status_code == 201
    laptop = requests.Session()
    laptop.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
    assert laptop.post(server.url + "/api/login", json={"username": "wes", "password": PASSWORD, "remember": True}).status_code == 200
    phone = requests.Session()
    phone.headers["User-Agent"] = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0) Mobile Safari"
    assert phone.post(server.url + "/api/login", json={"username": "wes", "password": PASSWORD, "remember": True}).status_code == 200
    plain = requests.Session()
    assert plain.post(server.url + "/api/login", json={"username": "wes", "password": PASSWORD}).status_code == 200

    page = laptop.get(server.url + "/account").text
    card = page[page.index('id="remembered-devices"'):page.index('id="applications"')]
    rows = re.findall(r'<tr id="device-([0-9a-f]{24})">(.*?)</tr>', card, re.S)
    assert len(rows) == 2, card
    labels = {device: body for device, body in rows}
    phone_id = next(d for d, body in labels.items() if "iPhone" in body)
    laptop_id = next(d for d, body in labels.items() if "Firefox" in body)
    assert "this device" in labels[laptop_id] and "this device" not in labels[phone_id]

    # Forget the phone from the laptop: the phone's remember cookie no longer signs it in.
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    forgot = laptop.post(server.url + "/account/devices/forget", data={"csrf_token": token, "device": phone_id}, allow_redirects=False)
    assert forgot.status_code == 303 and forgot.headers["Location"] == "/account?notice=device"
    assert "cloakroom-remember=" not in forgot.headers.get("Set-Cookie", ""), "forgetting another device leaves this one's cookie"
    assert only_remember(server, phone.cookies.get("cloakroom-remember")).get(server.url + "/api/me").status_code == 401
    after = laptop.get(server.url + "/account?notice=device").text
    assert "That device is forgotten" in after and phone_id not in after and laptop_id in after

    # A forged or foreign device ID forgets nothing; a missing CSRF token is refused.
    token = re.search(r'name="csrf_token" value="([^"]+)"', after).group(1)
    again = laptop.post(server.url + "/account/devices/forget", data={"csrf_token": token, "device": phone_id}, allow_redirects=False)
    assert again.status_code == 303 and again.headers["Location"] == "/account"
    assert laptop.post(server.url + "/account/devices/forget", data={"device": laptop_id}, allow_redirects=False).status_code in (303, 403)
    assert laptop_id in laptop.get(server.url + "/account").text

    # Forgetting this device also expires its cookie.
    page = laptop.get(server.url + "/account").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    own = laptop.post(server.url + "/account/devices/forget", data={"csrf_token": token, "device": laptop_id}, allow_redirects=False)
    assert "cloakroom-remember=;" in own.headers["Set-Cookie"]
    assert "No device keeps you signed in" in laptop.get(server.url + "/account").text
