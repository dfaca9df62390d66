"""Signed preference cookies (issue 15): the theme chosen on the account page is kept in a cookie
the page's script can read (not HttpOnly) and the server can trust (signed): a changed cookie is
read as no preference."""
import base64
import json
import re

import requests

PASSWORD = "correct horse battery staple"


def csrf(html):
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_theme_preference_cookie(server):
    browser = requests.Session()
    assert browser.post(server.url + "/api/register", json={"username": "pat", "password": PASSWORD}).status_code == 201
    page = browser.get(server.url + "/account")
    assert 'value="system" checked' in page.text
    saved = browser.post(server.url + "/account/preferences", data={"csrf_token": csrf(page.text), "theme": "dark"}, allow_redirects=False)
    assert saved.status_code == 303 and saved.headers["Location"] == "/account?notice=preferences"
    header = saved.headers["Set-Cookie"]
    assert header.startswith("cloakroom-prefs=") and "HttpOnly" not in header and "SameSite=Lax" in header and "Path=/" in header
    assert "Max-Age=31536000" in header
    value = browser.cookies.get("cloakroom-prefs")
    # What the page's script does: the fourth part, base64url, after 8 bytes of expiry.
    part = value.split(".")[3]
    assert json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))[8:]) == {"theme": "dark"}
    assert 'value="dark" checked' in browser.get(server.url + "/account").text

    # Changed by hand (the payload rewritten): not trusted, read as no preference.
    parts = value.split(".")
    body = base64.urlsafe_b64decode(parts[3] + "=" * (-len(parts[3]) % 4))
    parts[3] = base64.urlsafe_b64encode(body[:8] + b'{"theme":"light"}').rstrip(b"=").decode()
    browser.cookies.set("cloakroom-prefs", ".".join(parts), domain="127.0.0.1", path="/")
    page = browser.get(server.url + "/account")
    assert 'value="system" checked' in page.text and 'value="light" checked' not in page.text

    refused = browser.post(server.url + "/account/preferences", data={"csrf_token": csrf(page.text), "theme": "neon"},
                           headers={"Accept": "application/json"})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"
    forged = browser.post(server.url + "/account/preferences", data={"theme": "dark"}, headers={"Accept": "application/json"}, allow_redirects=False)
    assert forged.status_code == 403 and "Set-Cookie" not in forged.headers


def test_theme_applies_in_a_browser(server):
    """Headless Chromium: the page's script reads the preference cookie and applies the theme."""
    from selenium.webdriver.common.by import By

    from test_browser import new_browser, wait_for

    driver = new_browser()
    try:
        driver.get(server.url + "/register")
        driver.find_element(By.NAME, "username").send_keys("quinn")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "form[action='/register'] button[type=submit]").click()
        wait_for(driver, lambda d: "/account" in d.current_url, "the account page")
        assert driver.execute_script("return document.documentElement.getAttribute('data-theme')") is None
        driver.find_element(By.CSS_SELECTOR, "input[name=theme][value=dark]").click()
        driver.find_element(By.CSS_SELECTOR, "form[action='/account/preferences'] button[type=submit]").click()
        wait_for(driver, lambda d: "notice=preferences" in d.current_url, "the saved preferences")
        wait_for(driver, lambda d: d.execute_script("return document.documentElement.getAttribute('data-theme')") == "dark", "the dark theme")
        background = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(18, 21, 29)", background
    finally:
        driver.quit()
