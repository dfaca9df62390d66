"""A second relying party nobody here wrote drives the provider (issue 14): idpyoidc 5's
StandAloneClient runs discovery, the code flow with PKCE through the real sign-in and consent
pages, verifies the ID token against the published keys (signature, issuer, audience, nonce),
reads userinfo, refreshes, introspects and revokes."""
import base64
import hashlib
from urllib.parse import parse_qsl, urlparse

import requests
from idpyoidc.client.oauth2.stand_alone_client import StandAloneClient

from test_oauth_provider import REDIRECT, browse_to_callback, provider  # noqa: F401 (the fixture)

SERVICES = {
    "discovery": {"class": "idpyoidc.client.oidc.provider_info_discovery.ProviderInfoDiscovery"},
    "registration": {"class": "idpyoidc.client.oidc.registration.Registration"},
    "authorization": {"class": "idpyoidc.client.oidc.authorization.Authorization"},
    "access_token": {"class": "idpyoidc.client.oidc.access_token.AccessToken"},
    "refresh_access_token": {"class": "idpyoidc.client.oidc.refresh_access_token.RefreshAccessToken"},
    "userinfo": {"class": "idpyoidc.client.oidc.userinfo.UserInfo"},
    "introspection": {"class": "idpyoidc.client.oauth2.introspection.Introspection"},
    "token_revocation": {"class": "idpyoidc.client.oauth2.token_revocation.TokenRevocation"},
}


def test_idpyoidc_code_flow_userinfo_refresh_introspect_revoke(provider):
    server, rp, _, meta = provider
    client = StandAloneClient(config={
        "issuer": server.url,
        "client_id": rp["client_id"],
        "client_secret": rp["client_secret"],
        "redirect_uris": [REDIRECT],
        "preference": {"response_types": ["code"], "scopes_supported": ["openid", "profile", "offline_access"],
                       "token_endpoint_auth_method": "client_secret_basic"},
        "client_authn_methods": ["client_secret_basic", "client_secret_post"],
        "add_ons": {"pkce": {"function": "idpyoidc.client.oauth2.add_on.pkce.add_support",
                             "kwargs": {"code_challenge_length": 64, "code_challenge_method": "S256"}}},
        "services": SERVICES,
    }, client_type="oidc")
    assert client.do_provider_info() == server.url
    client.do_client_registration()  # static registration: the configured client_id and secret
    url = client.init_authorization(req_args={"scope": "openid profile offline_access"})
    assert "code_challenge_method=S256" in url and "nonce=" in url
    callback, _ = browse_to_callback(server, url)

    # finalize: checks state and iss, redeems the code with the verifier, verifies the ID token
    # (signature through the JWK Set, iss, aud, nonce, exp), then calls userinfo.
    result = client.finalize(dict(parse_qsl(urlparse(callback).query)))
    assert "error" not in result, result
    id_token = result["id_token"]
    assert id_token["iss"] == server.url and id_token["aud"] == [rp["client_id"]] and id_token["azp"] == rp["client_id"]
    digest = hashlib.sha256(result["token"].encode()).digest()
    assert id_token["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    assert result["userinfo"]["sub"] == id_token["sub"] and result["userinfo"]["preferred_username"] == "alice"

    refreshed = client.refresh_access_token(result["state"])
    assert refreshed["access_token"] != result["token"] and refreshed["refresh_token"]

    introspected = client.do_request("introspection", request_args={"token": refreshed["access_token"]})
    assert introspected["active"] is True and introspected["client_id"] == rp["client_id"] and introspected["sub"] == id_token["sub"]

    # Revocation: idpyoidc builds and authenticates the request; it is sent here, because
    # idpyoidc 5 takes RFC 7009's empty 200 body for a faulty response (the body "is ignored by
    # the client", RFC 7009 section 2.2).
    revocation = client.get_service("token_revocation").get_request_parameters(
        request_args={"token": refreshed["refresh_token"], "token_type_hint": "refresh_token"})
    answer = requests.post(revocation["url"], data=revocation["body"], headers=revocation["headers"])
    assert answer.status_code == 200
    assert requests.get(meta["userinfo_endpoint"], headers={"Authorization": "Bearer " + refreshed["access_token"]}).status_code == 401
    assert client.do_request("introspection", request_args={"token": refreshed["access_token"]})["active"] is False
