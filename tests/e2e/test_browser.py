"""A person in a real browser (headless Chromium via Selenium): register, sign in, sessions, sign out."""
import os
import shutil
import time
import uuid

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

SCREENSHOTS = os.environ.get("CLOAKROOM_SCREENSHOTS")


def chromium_binary():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("chromium is not installed (scripts/test installs it)")


def new_browser():
    options = webdriver.ChromeOptions()
    options.binary_location = chromium_binary()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1200,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(30)
    return driver


@pytest.fixture
def browser():
    driver = new_browser()
    yield driver
    driver.quit()


@pytest.fixture
def second_browser():
    """Another browser with its own cookies: a second device of the same person."""
    driver = new_browser()
    yield driver
    driver.quit()


def shot(driver, name):
    if SCREENSHOTS:
        os.makedirs(SCREENSHOTS, exist_ok=True)
        driver.save_screenshot(os.path.join(SCREENSHOTS, name + ".png"))


def wait_for(driver, predicate, what, timeout=15):
    """A click on a submit button may return before the next page has loaded: wait for it."""
    WebDriverWait(driver, timeout).until(predicate, message=f"waiting for {what}")


def wait_for_text(driver, text):
    wait_for(driver, lambda d: text in d.page_source, repr(text))


def wait_for_path(driver, suffix):
    wait_for(driver, lambda d: d.current_url.rstrip("/").endswith(suffix), "URL ending " + suffix)


def fill(driver, username, password):
    driver.find_element(By.ID, "username").clear()
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


def test_register_sign_in_sessions_sign_out(server, browser):
    user = "pat-" + uuid.uuid4().hex[:8]
    password = "a long enough password"

    browser.get(server.url + "/")
    assert "You are not signed in" in browser.page_source
    shot(browser, "1-home")

    browser.get(server.url + "/register")
    shot(browser, "2-register")
    fill(browser, user, password)
    wait_for_path(browser, "/account")
    assert f"Signed in as <strong>{user}</strong>" in browser.page_source
    shot(browser, "3-account")

    # The session cookie exists but scripts cannot read it (HttpOnly), and it is SameSite=Lax.
    cookies = {c["name"]: c for c in browser.get_cookies()}
    assert "cloakroom" in cookies
    assert cookies["cloakroom"]["httpOnly"] is True
    assert cookies["cloakroom"]["sameSite"] == "Lax"
    assert "cloakroom=" not in browser.execute_script("return document.cookie")

    # One session listed, marked as this device.
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == 1
    assert "this device" in rows[0].text

    # Sign out from the account page.
    browser.find_element(By.XPATH, "//main//form[@action='/logout']//button").click()
    wait_for_text(browser, "You are not signed in")
    assert browser.current_url.rstrip("/") == server.url
    assert "cloakroom" not in {c["name"] for c in browser.get_cookies()}

    # Back shows no private page: the account page is no-store and now redirects to sign-in.
    browser.back()
    WebDriverWait(browser, 10).until(lambda d: "/login" in d.current_url)
    assert user not in browser.page_source
    assert "Signed in as" not in browser.page_source
    shot(browser, "4-after-back")

    # Wrong password: a clear message, still signed out.
    browser.get(server.url + "/login")
    fill(browser, user, "not the password at all")
    wait_for_text(browser, "The username or password is incorrect.")
    shot(browser, "5-wrong-password")

    # Right password: signed in again.
    browser.get(server.url + "/login")
    fill(browser, user, password)
    wait_for_path(browser, "/account")
    assert f"Signed in as <strong>{user}</strong>" in browser.page_source


def test_revoke_another_session_and_sign_out_everywhere_else(server, browser):
    import requests

    user = "sam-" + uuid.uuid4().hex[:8]
    password = "a long enough password"
    browser.get(server.url + "/register")
    fill(browser, user, password)
    wait_for_path(browser, "/account")

    # Two other devices sign in through the API.
    phones = []
    for agent in ("Phone/1.0", "Tablet/2.0"):
        s = requests.Session()
        r = s.post(server.url + "/api/login", json={"username": user, "password": password}, headers={"User-Agent": agent})
        assert r.status_code == 200, r.text
        phones.append(s)

    browser.get(server.url + "/account")
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == 3
    shot(browser, "6-three-sessions")

    # Revoke the phone from the browser.
    phone_row = [r for r in rows if "Phone/1.0" in r.text][0]
    phone_row.find_element(By.CSS_SELECTOR, "button").click()
    wait_for_text(browser, "That session has been signed out.")
    assert phones[0].get(server.url + "/api/me").status_code == 401
    assert phones[1].get(server.url + "/api/me").status_code == 200

    browser.find_element(By.XPATH, "//form[@action='/account/sessions/revoke-others']//button").click()
    wait_for_text(browser, "All your other sessions and tokens have been signed out.")
    assert phones[1].get(server.url + "/api/me").status_code == 401
    assert len(browser.find_elements(By.CSS_SELECTOR, "tbody tr")) == 1


def test_forged_form_post_is_refused(server, browser):
    import requests

    user = "kim-" + uuid.uuid4().hex[:8]
    browser.get(server.url + "/register")
    fill(browser, user, "a long enough password")
    wait_for_path(browser, "/account")
    session_cookie = {c["name"]: c["value"] for c in browser.get_cookies()}["cloakroom"]
    # A cross-site form post carrying the cookie but no token (as a browser would send it without SameSite).
    r = requests.post(server.url + "/logout", data={"csrf_token": "guess"}, cookies={"cloakroom": session_cookie})
    assert r.status_code == 403
    assert r.json()["error"] == "csrf_token_invalid"
    r = requests.post(server.url + "/logout", data={}, cookies={"cloakroom": session_cookie},
                      headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert r.json()["error"] == "cross_origin_request"
    browser.get(server.url + "/account")
    assert f"Signed in as <strong>{user}</strong>" in browser.page_source


def test_change_password_signs_out_tokens_and_other_sessions(server, browser):
    import requests

    user = "quin-" + uuid.uuid4().hex[:8]
    password = "a long enough password"
    browser.get(server.url + "/register")
    fill(browser, user, password)
    wait_for_path(browser, "/account")

    # The same user also signed in elsewhere: another session and a token client.
    other = requests.Session()
    assert other.post(server.url + "/api/login", json={"username": user, "password": password}).status_code == 200
    token = requests.post(server.url + "/api/token", json={"username": user, "password": password}).json()["access_token"]
    assert requests.get(server.url + "/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    # A wrong current password is refused on the page and changes nothing.
    browser.find_element(By.ID, "current_password").send_keys("not the password at all")
    browser.find_element(By.ID, "new_password").send_keys("an even longer new password")
    browser.find_element(By.CSS_SELECTOR, "form[action='/account/password'] button[type=submit]").click()
    wait_for_text(browser, "Your current password is incorrect.")
    assert browser.current_url.split("#")[0].endswith("/account"), "redirected after the POST: a reload re-sends nothing"
    shot(browser, "7-password-refused")
    assert other.get(server.url + "/api/me").status_code == 200

    browser.find_element(By.ID, "current_password").send_keys(password)
    browser.find_element(By.ID, "new_password").send_keys("an even longer new password")
    browser.find_element(By.CSS_SELECTOR, "form[action='/account/password'] button[type=submit]").click()
    wait_for_text(browser, "Your password has been changed")
    shot(browser, "8-password-changed")
    assert f"Signed in as <strong>{user}</strong>" in browser.page_source, "this browser stays signed in"
    assert other.get(server.url + "/api/me").status_code == 401, "the other session ended"
    r = requests.get(server.url + "/api/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.json()["reason"] == "revoked", "the token was revoked"
    old = requests.post(server.url + "/api/token", json={"username": user, "password": password})
    assert old.status_code == 400 and old.json()["error"] == "invalid_grant", "the old password no longer works"
    assert requests.post(server.url + "/api/token", json={"username": user, "password": "an even longer new password"}).status_code == 200


def assert_no_json(driver):
    """A page of the site, not a JSON error (which Chromium shows in a bare <pre>)."""
    assert '{"error"' not in driver.page_source, driver.page_source[:500]
    assert driver.find_elements(By.CSS_SELECTOR, "header a.brand"), driver.page_source[:500]


def register_in(driver, server, user, password="a long enough password"):
    driver.get(server.url + "/register")
    fill(driver, user, password)
    wait_for_path(driver, "/account")


def sign_in(driver, server, user, password="a long enough password"):
    driver.get(server.url + "/login")
    fill(driver, user, password)
    wait_for_path(driver, "/account")


def test_forms_of_a_session_ended_elsewhere_show_pages_not_json(server, browser, second_browser):
    user = "lee-" + uuid.uuid4().hex[:8]
    a, b = browser, second_browser
    register_in(a, server, user)
    sign_in(b, server, user)

    # B's account page stays open while A signs out everywhere else; B clicks "Sign out".
    b.get(server.url + "/account")
    a.get(server.url + "/account")
    a.find_element(By.XPATH, "//form[@action='/account/sessions/revoke-others']//button").click()
    wait_for_text(a, "All your other sessions and tokens have been signed out.")
    b.find_element(By.XPATH, "//main//form[@action='/logout']//button").click()
    wait_for_text(b, "You are not signed in")
    assert_no_json(b)
    shot(b, "9-stale-sign-out")

    # Again, and B clicks "Revoke" (on A's session): to the sign-in page, with a message.
    sign_in(b, server, user)
    a.get(server.url + "/account")
    a.find_element(By.XPATH, "//form[@action='/account/sessions/revoke-others']//button").click()
    wait_for_text(a, "All your other sessions and tokens have been signed out.")
    b.find_element(By.CSS_SELECTOR, "form[action='/account/sessions/revoke'] button").click()
    wait_for_text(b, "Your session has ended")
    assert "/login" in b.current_url
    assert_no_json(b)
    shot(b, "10-stale-revoke")
    # A was not affected.
    a.get(server.url + "/account")
    assert f"Signed in as <strong>{user}</strong>" in a.page_source


def test_forms_after_the_idle_timeout(make_server, browser):
    server = make_server("--idle-timeout", "5s").start()
    user = "mo-" + uuid.uuid4().hex[:8]
    password = "a long enough password"
    register_in(browser, server, user, password)
    browser.find_element(By.XPATH, "//main//form[@action='/logout']//button").click()
    wait_for_text(browser, "You are not signed in")

    # The sign-in page left open longer than the idle timeout: the form comes back, fresh.
    browser.get(server.url + "/login")
    time.sleep(7)
    fill(browser, user, password)
    wait_for_text(browser, "The form expired; please try again.")
    assert_no_json(browser)
    assert browser.find_element(By.ID, "username").get_attribute("value") == user
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for_path(browser, "/account")

    # The account page left open past the idle timeout: "Change password" leads to sign-in.
    time.sleep(7)
    browser.find_element(By.ID, "current_password").send_keys(password)
    browser.find_element(By.ID, "new_password").send_keys("an even longer new password")
    browser.find_element(By.CSS_SELECTOR, "form[action='/account/password'] button[type=submit]").click()
    wait_for_text(browser, "Your session has ended")
    assert_no_json(browser)


def test_unknown_page_is_an_html_page(server, browser):
    browser.get(server.url + "/nonexistent")
    assert "Page not found" in browser.page_source
    assert_no_json(browser)
    browser.find_element(By.LINK_TEXT, "Home").click()
    wait_for_text(browser, "You are not signed in")
    # API clients keep JSON.
    import requests
    r = requests.get(server.url + "/nonexistent")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_closed_registration_shows_no_links_and_no_form(make_server, browser):
    server = make_server("--close-registration").start()
    browser.get(server.url + "/")
    assert "/register" not in browser.page_source
    assert "Create an account" not in browser.page_source
    browser.get(server.url + "/login")
    assert "/register" not in browser.page_source
    browser.get(server.url + "/register")
    assert "Registration is closed" in browser.page_source
    assert not browser.find_elements(By.CSS_SELECTOR, "form[action='/register']")
    assert_no_json(browser)
    shot(browser, "11-registration-closed")


def test_sessions_table_fits_a_phone(server, browser):
    import requests

    user = "ned-" + uuid.uuid4().hex[:8]
    password = "a long enough password"
    register_in(browser, server, user, password)
    for agent in ("Phone/1.0", "X" * 20000):
        r = requests.post(server.url + "/api/login", json={"username": user, "password": password}, headers={"User-Agent": agent})
        assert r.status_code == 200, r.text
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    browser.get(server.url + "/account")
    shot(browser, "12-phone")
    width = browser.execute_script("return window.innerWidth")
    assert width == 390
    assert browser.execute_script("return document.documentElement.scrollWidth") <= width
    buttons = browser.find_elements(By.CSS_SELECTOR, "form[action='/account/sessions/revoke'] button")
    assert len(buttons) == 2
    for button in buttons:
        rect = browser.execute_script("return arguments[0].getBoundingClientRect().toJSON()", button)
        assert 0 <= rect["left"] and rect["right"] <= width, rect
        assert button.get_attribute("aria-label").startswith("Revoke the session on ")
    # The 20,000-character User-Agent is not shown whole.
    assert "X" * 600 not in browser.page_source


def test_breached_password_refused_and_known_device_remembered(server, browser):
    """Registering with a password from the breach list gets a sentence saying so; a sign-in leaves
    the known-device cookie, which scripts cannot read."""
    user = "kim-" + uuid.uuid4().hex[:8]
    browser.get(server.url + "/register")
    fill(browser, user, "Qwertyuiop123")
    wait_for_text(browser, "common or breached passwords")
    assert_no_json(browser)
    assert "/account" not in browser.current_url
    shot(browser, "breached-password")

    browser.get(server.url + "/register")
    fill(browser, user, user + "2024" + user)
    wait_for_text(browser, "your username or the name of this service")

    register_in(browser, server, user, "a long enough password")
    cookies = {c["name"]: c for c in browser.get_cookies()}
    device = cookies["cloakroom-device"]
    assert device["httpOnly"] is True and device["sameSite"] == "Lax", device
    assert device["value"].startswith("v1."), device
    assert "cloakroom-device" not in browser.execute_script("return document.cookie")
    # Signing out keeps the device known; signing in again renews the cookie under the same ID.
    browser.find_element(By.XPATH, "//main//form[@action='/logout']//button").click()
    wait_for_text(browser, "You are not signed in")
    sign_in(browser, server, user)
    renewed = {c["name"]: c for c in browser.get_cookies()}["cloakroom-device"]
    assert renewed["value"].split(".")[1] == device["value"].split(".")[1]
