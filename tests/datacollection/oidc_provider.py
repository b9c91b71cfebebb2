"""A small OpenID Connect provider on loopback for the SSO tests: discovery, authorization (signs in
whoever the test says, at once), token (an RS256 id_token; PKCE and the client secret checked), userinfo
and JWKS; an end_session_endpoint that records its calls, and prompt=none answered with login_required for
a user disabled or signed out here. `tamper` makes it misbehave the ways a relying party must refuse."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.json_server import LoopbackServer, QuietHandler

KID = "test-key-1"


class OidcProvider:
    def __init__(self, *, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        # Who signs in at the next authorization request: the claims of the id_token and userinfo.
        self.claims: dict[str, Any] = {}
        # "" | "signature" | "nonce" | "audience" | "issuer"
        self.tamper = ""
        self.token_requests: list[dict[str, str]] = []
        # Subjects the provider no longer signs in; and whether it has a signed-in session (end_session
        # ends it). A prompt=none request is refused for either.
        self.disabled: set[str] = set()
        self.session = True
        self.logout_requests: list[dict[str, str]] = []
        self.id_tokens: list[str] = []  # as issued, newest last
        # False: discovery has no end_session_endpoint.
        self.has_logout = True
        self._codes: dict[str, dict[str, Any]] = {}
        self._access: dict[str, dict[str, Any]] = {}
        provider = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # http.server's naming
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    self.json_reply(200, provider.discovery())
                elif url.path == "/authorize":
                    self.send_response(302)
                    self.send_header("Location", provider.authorize(query))
                    self.end_headers()
                elif url.path == "/logout":
                    provider.logout_requests.append(query)
                    provider.session = False
                    if "post_logout_redirect_uri" in query:
                        self.send_response(302)
                        self.send_header("Location", query["post_logout_redirect_uri"])
                        self.end_headers()
                    else:
                        self.json_reply(200, {})
                elif url.path == "/jwks":
                    self.json_reply(200, provider.jwks())
                elif url.path == "/userinfo":
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    claims = provider._access.get(token)
                    self.json_reply(200 if claims else 401, claims or {"error": "invalid_token"})
                else:
                    self.json_reply(404, {})

            def do_POST(self) -> None:  # http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                status, payload = provider.token(form)
                self.json_reply(status, payload)

        self.served = LoopbackServer(Handler)
        self.url = self.served.url

    def close(self) -> None:
        self.served.close()

    def discovery(self) -> dict[str, Any]:
        logout = {"end_session_endpoint": f"{self.url}/logout"} if self.has_logout else {}
        return {
            **logout,
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "userinfo_endpoint": f"{self.url}/userinfo",
            "jwks_uri": f"{self.url}/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": KID, "alg": "RS256", "use": "sig"}]}

    def authorize(self, query: dict[str, str]) -> str:
        if query.get("client_id") != self.client_id or query.get("response_type") != "code":
            refusal = {"error": "unauthorized_client", "state": query["state"]}
            return f"{query['redirect_uri']}?{urlencode(refusal)}"
        if query.get("prompt") == "none" and (not self.session or self.claims.get("sub") in self.disabled):
            refusal = {"error": "login_required", "state": query["state"]}
            return f"{query['redirect_uri']}?{urlencode(refusal)}"
        self.session = True
        code = secrets.token_urlsafe(16)
        self._codes[code] = {**query, "claims": dict(self.claims)}
        return f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(form)
        grant = self._codes.pop(form.get("code", ""), None)
        if (
            grant is None
            or form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
            or form.get("redirect_uri") != grant["redirect_uri"]
        ):
            return 400, {"error": "invalid_grant"}
        if "code_challenge" in grant:
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["code_challenge"]:
                return 400, {"error": "invalid_grant", "error_description": "PKCE"}
        now = int(time.time())
        claims = grant["claims"]
        payload = {
            **claims,
            "iss": "https://elsewhere.example" if self.tamper == "issuer" else self.url,
            "aud": "another-client" if self.tamper == "audience" else self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": "not-the-nonce" if self.tamper == "nonce" else grant.get("nonce"),
        }
        key = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if self.tamper == "signature"
            else self.key
        )
        access_token = secrets.token_urlsafe(16)
        self._access[access_token] = {key: value for key, value in claims.items() if key != "groups"}
        id_token = jwt.encode(payload, key, algorithm="RS256", headers={"kid": KID})
        self.id_tokens.append(id_token)
        return 200, {
            "access_token": access_token,
            "token_type": "Bearer",
            "id_token": id_token,
            "expires_in": 300,
        }
