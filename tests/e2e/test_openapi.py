"""The API contract, docs/openapi.json: valid OpenAPI 3.1 (a), served by the server as it is (b),
and true of the running server, as schemathesis checks it with generated requests, valid and invalid
ones (c), and with the answers generated requests cannot reach (d). Server defects found, as tests of
the correct behaviour (e).

The schemathesis tests run every operation of the document against its own fresh server (SQLite in a
temporary folder), signed in with a session cookie and a Bearer access token of a registered user,
with positive and negative data, a fixed seed and a bounded number of examples, then a stateful run.
The whole module takes about 30 seconds on two cores (CLOAKROOM_FUZZ_EXAMPLES, _SCENARIOS and _SEED
make a longer or another hunt).
"""
import itertools
import json
import os
import tempfile
import threading

import hypothesis
import hypothesis.configuration
import pytest
import requests
import schemathesis
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from requests.adapters import HTTPAdapter
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    object_level_authorization,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# hypothesis keeps a cache (and would keep an example database) in ./.hypothesis: not in the work tree.
if "HYPOTHESIS_STORAGE_DIRECTORY" not in os.environ:
    hypothesis.configuration.set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "cloakroom-e2e-hypothesis"))

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "openapi.json")
COOKIE = "cloakroom"  # The session cookie's name over plain HTTP (`__Host-cloakroom` with --secure).
PASSWORD = "a long passphrase for the fuzzer"


def load_document():
    with open(DOC, "rb") as f:
        return f.read()


# ---------------------------------------------------------------------------------------------
# a. The document itself


def test_document_is_valid_openapi_3_1():
    document = json.loads(load_document())
    assert document["openapi"] == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)


def test_document_is_in_canonical_form():
    """Sorted keys, two-space indent, one trailing newline: regenerating or editing it gives small,
    stable diffs, and the bytes served are the bytes in the repository."""
    raw = load_document()
    canonical = json.dumps(json.loads(raw), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert raw.decode("utf-8") == canonical


def test_every_documented_operation_is_routed_and_every_routed_method_documented(server):
    """`OPTIONS` names the methods of a path (`Allow`): they must be the documented ones (plus HEAD
    wherever GET, and OPTIONS)."""
    document = json.loads(load_document())
    missing_routes = []
    for path, item in document["paths"].items():
        documented = {m.upper() for m in item if m in ("get", "put", "post", "delete", "patch")}
        concrete = path.replace("{id}", "some-session").replace("{key}", "some-key")
        response = requests.options(server.url + concrete, timeout=10)
        if path == "/openapi.json" and response.status_code == 404:
            missing_routes.append(path)  # Added to the server separately; see test_served_document_is_the_file.
            continue
        assert response.status_code == 204, (path, response.status_code, response.text)
        allowed = {m.strip() for m in response.headers["Allow"].split(",")} - {"HEAD", "OPTIONS"}
        assert allowed == documented, path
    assert missing_routes in ([], ["/openapi.json"])


def test_every_json_route_in_the_source_is_documented():
    """The routes of Sources/CloakroomServer/Routes (the JSON API; pages live in Pages/, the OAuth
    protocol endpoints in OAuth/, described by docs/oauth.md and by their RFC 8414 metadata, which is
    in the document): a route added there without its operation in the document fails here.
    Relative paths are under /api."""
    import glob
    import re

    routes_dir = os.path.join(os.path.dirname(__file__), "..", "..", "Sources", "CloakroomServer", "Routes")
    routed = set()
    for swift in glob.glob(os.path.join(routes_dir, "*.swift")):
        with open(swift, encoding="utf-8") as f:
            for method, path in re.findall(r'\.(get|post|put|delete|patch)\("([^"]+)"', f.read()):
                path = path if path.startswith("/") else "/api/" + path
                routed.add((method.upper(), re.sub(r":(\w+)", r"{\1}", path)))
    assert len(routed) >= 13, routed  # the scan still finds the routes
    document = json.loads(load_document())
    documented = {(m.upper(), p) for p, item in document["paths"].items() for m in item if m != "parameters"}
    assert routed - documented == set()
    assert documented - routed - {("GET", "/openapi.json")} == set()


# ---------------------------------------------------------------------------------------------
# b. The server serves the document


def test_served_document_is_the_file(server):
    response = requests.get(server.url + "/openapi.json", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].split(";")[0].strip() == "application/json"
    assert response.content == load_document()
    assert response.json() == json.loads(load_document())


# ---------------------------------------------------------------------------------------------
# c. schemathesis against a live server
#
# Checks: every built-in check of schemathesis 4 (not_a_server_error, status_code_conformance,
# content_type_conformance, response_schema_conformance, response_headers_conformance,
# negative_data_rejection, missing_required_header, unsupported_method, allow_header_conformance,
# ignored_auth, and in the stateful run use_after_free and ensure_resource_availability), except:
# - positive_data_acceptance: it expects a schema-valid request to succeed, but these requests carry
#   credentials and passwords that the server checks beyond what JSON Schema can say (a username not
#   taken, the right password for the account, the password policy counted in grapheme clusters and
#   the common-password list, the sign-in throttle): a well-formed sign-in with a random password is
#   rightly 401, a well-formed registration after ten from one address rightly 429.
# - object_level_authorization: it replays one identity's reads as other identities configured in
#   schemathesis's own (WFC) auth files; this run has one user, given by the auth provider below, so
#   the check could only do nothing. (A session belongs to its cookie; another user's session cannot
#   be named by `DELETE /api/sessions/{id}`: 404, which the run does exercise.)
# negative_data_rejection is what keeps `required`, types and lengths in the document honest: the
# server must refuse what the document calls invalid.
EXCLUDED_CHECKS = [object_level_authorization, positive_data_acceptance]

CONFIG = schemathesis.Config.from_dict(
    {
        # A fixed run (hypothesis derandomised); CLOAKROOM_FUZZ_SEED=N explores with another seed.
        "seed": int(os.environ.get("CLOAKROOM_FUZZ_SEED", "20261206")),
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
        "generation": {
            "mode": "all",  # positive and negative
            # CLOAKROOM_FUZZ_EXAMPLES raises it for a longer hunt (the test's time grows with it).
            "max-examples": int(os.environ.get("CLOAKROOM_FUZZ_EXAMPLES", "50")),
            "deterministic": "CLOAKROOM_FUZZ_SEED" not in os.environ,
            "database": "none",  # no .hypothesis folder in the working tree
        },
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": True},  # test_schemathesis_stateful
        },
        "checks": {
            "positive_data_acceptance": {"enabled": False},
            "object_level_authorization": {"enabled": False},
        },
        "request-timeout": 30,
    }
)
SCHEMA = schemathesis.openapi.from_path(DOC, config=CONFIG)

# Operations after which the caller's credentials may be gone: sign-out, ending sessions, a changed
# password (and any 401, handled below).
DESTRUCTIVE = {"logout", "revokeOtherSessions", "revokeSession", "changePassword"}


class SourceAddressAdapter(HTTPAdapter):
    """Sends from a given loopback address: the server throttles sign-ins and registrations per client
    address (10 registrations an hour; failures lock an address), and the fuzzer's own requests from
    127.0.0.1 use those allowances up. Sign-ins for credentials come from addresses of their own."""

    def __init__(self, address, **kwargs):
        self.address = address
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


class Credentials:
    """A signed-in user's session cookie and access token, renewed whenever they stop working.

    The fuzzer signs out, ends every session, revokes every token and sends wrong passwords (which
    lock the account for a while); before each case the credentials that may have been hit are
    checked with `GET /api/me`, and renewed by signing in again, or, when the account is locked, by
    registering another user. Each registered user registers and signs in from an address of its own
    (127.0.x.y)."""

    addresses = (f"127.0.{n // 200 + 1}.{n % 200 + 2}" for n in itertools.count())

    def __init__(self, base_url):
        self.base_url = base_url
        self.lock = threading.Lock()
        self.username = None
        self.address = None
        self.cookie = None
        self.handle = None  # the `id` of the cookie's session
        self.token = None
        self.dirty = True
        self.registrations = 0

    def client(self, address):
        session = requests.Session()
        session.mount("http://", SourceAddressAdapter(address))
        return session

    def register(self):
        self.registrations += 1
        assert self.registrations <= 50, "the fuzzer locked out 50 users: something is wrong"
        self.address = next(self.addresses)
        self.username = f"fuzz-{self.registrations}-{self.address.replace('.', '-')}"
        response = self.client(self.address).post(
            self.base_url + "/api/register", json={"username": self.username, "password": PASSWORD}, timeout=30)
        assert response.status_code == 201, response.text
        self.cookie = response.cookies[COOKIE]
        self.handle = response.json()["session"]["id"]
        self.token = None

    def sign_in(self):
        """A new session cookie; False when the account is throttled or no longer signs in."""
        response = self.client(self.address).post(
            self.base_url + "/api/login", json={"username": self.username, "password": PASSWORD}, timeout=30)
        if response.status_code != 200:
            return False
        self.cookie = response.cookies[COOKIE]
        self.handle = response.json()["session"]["id"]
        return True

    def fetch_token(self):
        response = self.client(self.address).post(
            self.base_url + "/api/token", json={"username": self.username, "password": PASSWORD}, timeout=30)
        if response.status_code != 200:
            return False
        self.token = response.json()["access_token"]
        return True

    def works(self, **kwargs):
        response = requests.get(self.base_url + "/api/me", timeout=30, **kwargs)
        return response.status_code == 200

    def new_session(self):
        """Forgets the session cookie: the next case signs in again (a new, empty session)."""
        self.cookie = None
        self.dirty = True

    def ensure(self):
        with self.lock:
            if not self.dirty:
                return
            if self.username is None:
                self.register()
            for _ in range(5):
                if not (self.cookie and self.works(cookies={COOKIE: self.cookie})) and not self.sign_in():
                    self.register()
                    continue
                if not (self.token and self.works(headers={"Authorization": f"Bearer {self.token}"})):
                    if not self.fetch_token():
                        self.register()
                        continue
                self.dirty = False
                return
            raise AssertionError("could not sign a user in for the fuzzer")


CURRENT = {}  # "credentials": the Credentials of the server under test
# schemathesis asks for credentials when it builds a case, which for explicit examples is at collection
# time, before any server runs: the provider marks the case, and the test puts in the credentials
# that work at the moment of the call.
PENDING = "pending"


@SCHEMA.auth(refresh_interval=None)
class CloakroomAuth:
    """Per case: the session cookie or the access token (taking turns where either is accepted); none
    for operations that take no credentials (sign-in, registration, the token endpoints: a session
    cookie sent there would be the session that gets signed in)."""

    turn = itertools.count()

    def get(self, case, ctx):
        schemes = {name for requirement in case.operation.definition.raw.get("security", []) for name in requirement}
        if not schemes:
            return None
        if "bearerAuth" in schemes and (next(self.turn) % 2 or "sessionCookie" not in schemes):
            return "bearer"
        return "cookie"

    def set(self, case, kind, ctx):
        if kind == "bearer":
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {PENDING}"}
        else:
            case.cookies = {**(case.cookies or {}), COOKIE: PENDING}


def put_in_credentials(case, credentials):
    bearer = (case.headers or {}).get("Authorization") == f"Bearer {PENDING}"
    cookie = (case.cookies or {}).get(COOKIE) == PENDING
    if bearer or cookie:
        credentials.ensure()
    if bearer:
        case.headers["Authorization"] = f"Bearer {credentials.token}"
    if cookie:
        case.cookies[COOKIE] = credentials.cookie


# Server defects found by this run, each matched exactly here while it was open and tested below
# once fixed (DELETE /api/sessions/{id} of one's own session ignored a malformed body: fixed). A
# failure that matches an entry is tolerated, so the run still catches everything else.
KNOWN_DEFECTS = []


def is_known_defect(case, response, failure):
    return any(matches(case, response, failure) for matches in KNOWN_DEFECTS)


@pytest.fixture
def fuzz_server(make_server):
    server = make_server().start()
    CURRENT["credentials"] = Credentials(server.url)
    yield server
    CURRENT.clear()


HEADERS = {"X-Requested-With": "schemathesis"}  # the CSRF rule for cookie-authenticated writes


def after_call(case, response, credentials):
    """Notes when the credentials may have stopped working, or the session is full of fuzz data."""
    if os.environ.get("CLOAKROOM_FUZZ_LOG"):
        with open(os.environ["CLOAKROOM_FUZZ_LOG"], "a") as log:
            phase = case.meta.phase.name.value if case.meta else "-"
            mode = case.meta.generation.mode.value if case.meta else "-"
            log.write(f"{case.method} {case.path} {phase} {mode} {response.status_code} {response.text[:160]!r}\n")
    operation = case.operation.definition.raw.get("operationId")
    if operation in DESTRUCTIVE or response.status_code == 401:
        credentials.dirty = True
    if response.status_code == 413 and "session" in response.text and (case.cookies or {}).get(COOKIE):
        credentials.new_session()  # 64 keys or 16 KiB stored: later writes need room to be tested


def check(case, response, **kwargs):
    """schemathesis's checks, failing on everything but the known defects."""
    try:
        case.validate_response(response, excluded_checks=EXCLUDED_CHECKS, **kwargs)
    except FailureGroup as group:
        unknown = [f for f in group.exceptions if not is_known_defect(case, response, f)]
        if unknown:
            raise FailureGroup(unknown, str(group)) from None


@SCHEMA.parametrize()
@hypothesis.settings(suppress_health_check=list(hypothesis.HealthCheck), deadline=None)
def test_schemathesis(case, fuzz_server):
    """Every operation: examples, coverage (boundary values, missing and wrong parameters, other
    methods) and random positive and negative data."""
    credentials = CURRENT["credentials"]
    put_in_credentials(case, credentials)
    response = case.call(base_url=fuzz_server.url, headers=HEADERS)
    after_call(case, response, credentials)
    check(case, response, headers=HEADERS, transport_kwargs={"base_url": fuzz_server.url, "headers": HEADERS})


def test_schemathesis_stateful(fuzz_server):
    """Sequences that follow links: a session listed by GET /api/sessions (a link of the document), or
    made by a registration or sign-in (links schemathesis infers from the responses), then ended.
    (schemathesis starts sequences only at POSTs and at GETs without path parameters, and not at
    POST /api/token, whose `client_id` it takes for a reference to a resource nothing lists: so the
    document's links from PUT /api/session/data/{key} and POST /api/token are not followed here.)"""
    credentials = CURRENT["credentials"]

    class Workflow(SCHEMA.as_state_machine()):
        def before_call(self, case):
            put_in_credentials(case, credentials)

        def get_call_kwargs(self, case):
            return {"base_url": fuzz_server.url, "headers": HEADERS}

        def after_call(self, response, case):
            super().after_call(response, case)
            after_call(case, response, credentials)

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            try:
                case.validate_response(
                    response, excluded_checks=EXCLUDED_CHECKS, additional_checks=additional_checks,
                    transport_kwargs=kwargs or None, recorder=self.recorder)
            except FailureGroup as group:
                unknown = [f for f in group.exceptions if not is_known_defect(case, response, f)]
                if unknown:
                    raise FailureGroup(unknown, str(group)) from None

    Workflow.run(settings=hypothesis.settings(
        max_examples=int(os.environ.get("CLOAKROOM_FUZZ_SCENARIOS", "25")),
        stateful_step_count=10,
        derandomize="CLOAKROOM_FUZZ_SEED" not in os.environ,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    ))


# ---------------------------------------------------------------------------------------------
# d. The answers generated requests rarely or never reach (another Host, a foreign Origin, the CSRF
# rule, successful password changes and refreshes, server flags), checked against the document
# with schemathesis's conformance checks.

CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def conforms(response, method, path, **path_parameters):
    """The response is one the document gives for this operation: status, media type, body, headers."""
    case = SCHEMA[path][method].Case(path_parameters=path_parameters or None)
    case.validate_response(response, checks=CONFORMANCE)
    return response


def error_of(response):
    return response.status_code, response.json()["error"]


def test_refusals_before_any_route_conform(server):
    session, _ = signed_in(server, "refusals")
    url = server.url
    # DNS rebinding: another Host.
    response = requests.get(url + "/api/me", headers={"Host": "evil.example"}, timeout=30)
    assert error_of(conforms(response, "GET", "/api/me")) == (421, "misdirected_request")
    # Cross-origin writes, with the general shape on the token endpoint too.
    for path in ("/api/login", "/api/token"):
        response = requests.post(url + path, json={}, headers={"Origin": "http://evil.example"}, timeout=30)
        assert error_of(conforms(response, "POST", path)) == (403, "cross_origin_request")
        assert "error_description" not in response.json()
    response = requests.post(url + "/api/logout", json={}, headers={"Sec-Fetch-Site": "cross-site"}, timeout=30)
    assert error_of(conforms(response, "POST", "/api/logout")) == (403, "cross_origin_request")
    # The CSRF rule for cookie-authenticated writes.
    response = session.post(url + "/api/logout", timeout=30)
    assert error_of(conforms(response, "POST", "/api/logout")) == (403, "csrf_header_missing")
    response = session.delete(url + "/api/session/data/cart", headers={"X-CSRF-Token": "forged"}, timeout=30)
    assert error_of(conforms(response, "DELETE", "/api/session/data/{key}", key="cart")) == (403, "csrf_token_invalid")
    # An Authorization header without a token.
    response = requests.get(url + "/api/me", headers={"Authorization": "Bearer "}, timeout=30)
    assert error_of(conforms(response, "GET", "/api/me")) == (400, "invalid_request")
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_request"'
    # A body over 64 KiB.
    response = requests.post(url + "/api/register", json={"username": "x", "password": "y" * 70000}, timeout=30)
    assert error_of(conforms(response, "POST", "/api/register")) == (413, "payload_too_large")
    # The key set unchanged.
    etag = conforms(requests.get(url + "/.well-known/jwks.json", timeout=30), "GET", "/.well-known/jwks.json").headers["ETag"]
    response = requests.get(url + "/.well-known/jwks.json", headers={"If-None-Match": etag}, timeout=30)
    assert conforms(response, "GET", "/.well-known/jwks.json").status_code == 304


def test_sign_in_lifecycle_conforms(server):
    """Password change, token refresh and reuse, revocation, signing out everywhere."""
    url = server.url
    session, own = signed_in(server, "lifecycle")
    json_header = {"X-Requested-With": "test"}
    response = session.post(url + "/api/password", json={"current_password": PASSWORD, "new_password": PASSWORD + " 2"}, timeout=30)
    assert conforms(response, "POST", "/api/password").status_code == 204
    assert COOKIE in response.cookies
    password = PASSWORD + " 2"
    # Token sign-in as a form, a refresh, the replay of the used refresh token.
    form = {"grant_type": "password", "username": "lifecycle", "password": password}
    first = conforms(requests.post(url + "/api/token", data=form, timeout=30), "POST", "/api/token").json()
    second = requests.post(url + "/api/token", json={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, timeout=30)
    second = conforms(second, "POST", "/api/token").json()
    replay = requests.post(url + "/api/token", json={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, timeout=30)
    assert error_of(conforms(replay, "POST", "/api/token")) == (400, "invalid_grant")
    assert replay.json()["reason"] == "reused"
    refused = requests.get(url + "/api/me", headers={"Authorization": f"Bearer {second['access_token']}"}, timeout=30)
    assert error_of(conforms(refused, "GET", "/api/me")) == (401, "invalid_token")
    assert refused.json()["reason"] == "revoked"
    # A new token: who am I, then sign out everywhere with the password (a token caller must give it).
    token = requests.post(url + "/api/token", json={"username": "lifecycle", "password": password}, timeout=30).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    me = conforms(requests.get(url + "/api/me", headers=bearer, timeout=30), "GET", "/api/me").json()
    assert me["user"]["username"] == "lifecycle" and "token" in me
    response = requests.delete(url + "/api/sessions", headers=bearer, timeout=30)
    assert error_of(conforms(response, "DELETE", "/api/sessions")) == (403, "reauthentication_required")
    response = requests.delete(url + "/api/sessions", headers=bearer, json={"password": "wrong password!"}, timeout=30)
    assert error_of(conforms(response, "DELETE", "/api/sessions")) == (401, "invalid_credentials")
    response = requests.delete(url + "/api/sessions", headers=bearer, json={"password": password}, timeout=30)
    assert conforms(response, "DELETE", "/api/sessions").json()["revoked"] >= 1
    # RFC 7009: 200 for whatever token.
    response = requests.post(url + "/api/token/revoke", data={"token": "not a token"}, timeout=30)
    assert conforms(response, "POST", "/api/token/revoke").status_code == 200
    # The session ended everywhere else; ending one that is gone is 404, ending one's own is 204.
    session, own = signed_in_again(server, "lifecycle", password)
    response = session.delete(f"{url}/api/sessions/not-a-session", headers=json_header, timeout=30)
    assert error_of(conforms(response, "DELETE", "/api/sessions/{id}", id="not-a-session")) == (404, "session_not_found")
    response = session.delete(f"{url}/api/sessions/{own}", headers=json_header, timeout=30)
    assert conforms(response, "DELETE", "/api/sessions/{id}", id=own).status_code == 204


def signed_in_again(server, username, password):
    session = requests.Session()
    response = session.post(server.url + "/api/login", json={"username": username, "password": password}, timeout=30)
    assert conforms(response, "POST", "/api/login").status_code == 200, response.text
    return session, response.json()["session"]["id"]


def test_server_flags_answers_conform(make_server):
    closed = make_server("--close-registration").start()
    response = requests.post(closed.url + "/api/register", json={"username": "x", "password": PASSWORD}, timeout=30)
    assert error_of(conforms(response, "POST", "/api/register")) == (403, "registration_closed")
    closed.stop()

    one = make_server("--max-sessions-per-user", "1", "--session-overflow", "refuse", store="memory").start()
    signed_in(one, "only-one")
    response = requests.post(one.url + "/api/login", json={"username": "only-one", "password": PASSWORD}, timeout=30)
    assert error_of(conforms(response, "POST", "/api/login")) == (409, "too_many_sessions")
    one.stop()

    cookies = make_server("--token-transport", "cookie", store="memory").start()
    signed_in(cookies, "cookie-tokens")
    browser = requests.Session()
    response = browser.post(cookies.url + "/api/token", json={"username": "cookie-tokens", "password": PASSWORD}, timeout=30)
    body = conforms(response, "POST", "/api/token").json()
    assert "access_token" not in body and "refresh_token" not in body
    response = browser.post(cookies.url + "/api/token/revoke", timeout=30)  # a token cookie, no header
    assert error_of(conforms(response, "POST", "/api/token/revoke")) == (403, "csrf_header_missing")
    assert "error_description" in response.json()
    response = browser.post(cookies.url + "/api/token/revoke", headers={"X-Requested-With": "test"}, timeout=30)
    assert conforms(response, "POST", "/api/token/revoke").status_code == 200


# ---------------------------------------------------------------------------------------------
# e. The server defects schemathesis found, as plain tests of the correct behaviour


def signed_in(server, username="defect-owner"):
    session = requests.Session()
    response = session.post(server.url + "/api/register", json={"username": username, "password": PASSWORD}, timeout=30)
    assert response.status_code == 201, response.text
    return session, response.json()["session"]["id"]


def test_deleting_own_session_validates_the_body(server):
    session, own = signed_in(server)
    url = f"{server.url}/api/sessions/{own}"
    malformed = session.delete(url, data=b"{", headers={"Content-Type": "application/json"}, timeout=30)
    other_type = session.delete(url, data=b"password=x", headers={"Content-Type": "text/plain", "X-Requested-With": "t"}, timeout=30)
    assert (malformed.status_code, malformed.json()["error"]) == (400, "invalid_json")
    assert (other_type.status_code, other_type.json()["error"]) == (415, "unsupported_media_type")
    assert session.get(server.url + "/api/me", timeout=30).status_code == 200  # refused, so still signed in
