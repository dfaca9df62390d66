"""A person in a real browser (headless Chromium) signs in to a relying party with Cloakroom: the
authorization request, the sign-in page, the consent page, and the redirect back to the client's
own server (issue 14). Chromium enforces the pages' Content-Security-Policy, `form-action`
included, on the redirects that follow a form."""
import base64
import hashlib
import http.server
import secrets
import threading
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests
from selenium.webdriver.common.by import By

from conftest import Server, free_port
from test_browser import new_browser, shot, wait_for
from test_oauth_provider import PASSWORD, add_client


class Callback(http.server.BaseHTTPRequestHandler):
    """The relying party's redirect URI: records what the browser brought."""
    received = []

    def do_GET(self):
        Callback.received.append(self.path)
        body = b"<!doctype html><title>Relying party</title><p id=done>signed in</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def relying_party():
    port = free_port()
    server = http.server.HTTPServer(("127.0.0.1", port), Callback)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Callback.received = []
    yield f"http://127.0.0.1:{port}/cb"
    server.shutdown()


def test_sign_in_with_cloakroom_in_a_browser(workdir, relying_party):
    store = f"sqlite:{workdir}/cloakroom.sqlite"
    server = Server(store).start()
    driver = new_browser()
    try:
        assert requests.post(server.url + "/api/register", json={"username": "bea", "password": PASSWORD}).status_code == 201
        rp = add_client(store, "Photo Printer", "--redirect", relying_party, "--scope", "openid profile",
                        "--post-logout-redirect", relying_party + "?bye=1")
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = {"client_id": rp["client_id"], "redirect_uri": relying_party, "response_type": "code", "scope": "openid profile",
                 "state": "st-1", "nonce": "n-1", "code_challenge": challenge, "code_challenge_method": "S256"}
        driver.get(server.url + "/authorize?" + urlencode(query))
        wait_for(driver, lambda d: "Photo Printer" in d.page_source and d.find_elements(By.NAME, "password"), "the sign-in page")
        shot(driver, "oauth-1-sign-in")
        # A mistyped password first: the form comes back, and still leads on to the application.
        driver.find_element(By.NAME, "username").send_keys("bea")
        driver.find_element(By.NAME, "password").send_keys("not the password")
        driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
        wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "[role=alert]"), "the refusal")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
        wait_for(driver, lambda d: "Allow Photo Printer?" in d.page_source, "the consent page")
        assert "see your username" in driver.page_source and "127.0.0.1" in driver.page_source
        shot(driver, "oauth-2-consent")
        driver.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
        wait_for(driver, lambda d: d.current_url.startswith(relying_party), "the redirect back to the relying party")
        callback = parse_qs(urlparse(driver.current_url).query)
        assert callback["state"] == ["st-1"] and callback["iss"] == [server.url] and callback["code"]
        token = requests.post(server.url + "/token", data={
            "grant_type": "authorization_code", "code": callback["code"][0], "redirect_uri": relying_party,
            "code_verifier": verifier}, auth=(rp["client_id"], rp["client_secret"]))
        assert token.status_code == 200 and token.json()["id_token"]
        info = requests.get(server.url + "/userinfo", headers={"Authorization": "Bearer " + token.json()["access_token"]}).json()
        assert info["preferred_username"] == "bea"

        # Signed in and consented: the next request goes straight back, no page shown.
        driver.get(server.url + "/authorize?" + urlencode({**query, "state": "st-2"}))
        wait_for(driver, lambda d: d.current_url.startswith(relying_party) and "st-2" in d.current_url, "the silent redirect")

        # prompt=login: the password again, then straight back (consent is remembered).
        driver.get(server.url + "/authorize?" + urlencode({**query, "state": "st-3", "prompt": "login"}))
        wait_for(driver, lambda d: d.find_elements(By.NAME, "password"), "the sign-in page again")
        driver.find_element(By.NAME, "username").send_keys("bea")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
        wait_for(driver, lambda d: d.current_url.startswith(relying_party) and "st-3" in d.current_url, "the redirect after signing in again")
        assert any("st-3" in path for path in Callback.received)

        # RP-initiated logout: the relying party sends the browser to end_session_endpoint; the
        # person confirms and lands back on the relying party, signed out of Cloakroom.
        driver.get(server.url + "/end-session?" + urlencode({
            "id_token_hint": token.json()["id_token"], "post_logout_redirect_uri": relying_party + "?bye=1", "state": "out-1"}))
        wait_for(driver, lambda d: "Sign out of Cloakroom?" in d.page_source, "the sign-out confirmation")
        shot(driver, "oauth-3-end-session")
        driver.find_element(By.CSS_SELECTOR, "button[value=logout]").click()
        wait_for(driver, lambda d: d.current_url.startswith(relying_party) and "out-1" in d.current_url, "the redirect after signing out")
        driver.get(server.url + "/account")
        wait_for(driver, lambda d: d.find_elements(By.NAME, "password") and "/login" in d.current_url, "the sign-in page: signed out")
    finally:
        driver.quit()
        server.stop()
