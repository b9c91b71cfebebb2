"""Single sign-on against a real OpenID Connect provider on loopback (tests/datacollection/oidc_provider.py):
the browser's trip is driven with Django's test client on our side and real HTTP on the provider's."""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from wagtail.models import PageViewRestriction

from datacollection.sso import provider as provider_module
from search.backends import get_search_backend
from search.values import Principal
from tests.datacollection.oidc_provider import OidcProvider
from tests.factories import heading, knowledge_page, knowledge_section, paragraph, user
from tests.knowledgebase.conftest import wait_for_jobs

CLIENT_ID = "knowledge-site"
CLIENT_SECRET = "s3cret-of-the-client"
BACKEND = "datacollection.sso.backend.OIDCBackend"
ADA = {
    "sub": "ada-0001",
    "email": "ada@example.org",
    "email_verified": True,
    "preferred_username": "ada",
    "given_name": "Ada",
    "family_name": "Lovelace",
}


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    server = OidcProvider(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    yield server
    server.close()


@pytest.fixture
def sso(settings: Any, provider: OidcProvider) -> OidcProvider:
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_OP_DISCOVERY = f"{provider.url}/.well-known/openid-configuration"
    settings.OIDC_PROVIDER_NAME = "Test IdP"
    settings.OIDC_GROUP_MAP = {"kb-engineering": "Engineering", "kb-sales": "Sales"}
    settings.AUTHENTICATION_BACKENDS = [BACKEND, "django.contrib.auth.backends.ModelBackend"]
    # Discovery documents are cached by URL; a port reused from an earlier test must not bring its document.
    provider_module._cache.clear()
    return provider


def sign_in(
    client: Client, provider: OidcProvider, *, claims: dict[str, Any], next_url: str = "/chat/"
) -> Any:
    """Start at our login URL, let the provider answer over HTTP, come back to our callback."""
    provider.claims = claims
    start = client.get("/oidc/authenticate/", {"next": next_url})
    assert start.status_code == 302, start
    assert start["Location"].startswith(f"{provider.url}/authorize?")
    at_provider = requests.get(start["Location"], allow_redirects=False, timeout=10)
    assert at_provider.status_code == 302
    callback = at_provider.headers["Location"]
    assert callback.startswith("http://testserver/oidc/callback/?code=")
    return client.get(callback)


def signed_in_user(client: Client) -> Any:
    return client.get("/admin/login/").wsgi_request.user


# --- configuration ------------------------------------------------------------------------------------


@pytest.fixture
def sso_settings_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """datacollection.settings.sso, read again from a patched environment (Django's settings unchanged)."""
    from datacollection.settings import sso as module

    yield module
    monkeypatch.undo()
    importlib.reload(module)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"OIDC_RP_CLIENT_ID": "x"}, "OIDC_OP_DISCOVERY"),
        ({"OIDC_RP_CLIENT_ID": "x", "OIDC_OP_TOKEN_ENDPOINT": "https://idp/token"}, "OIDC_OP_JWKS_ENDPOINT"),
        ({"OIDC_ONLY": "1"}, "OIDC_ONLY=1 needs OIDC_RP_CLIENT_ID"),
        ({"OIDC_GROUP_MAP": "{not json"}, "OIDC_GROUP_MAP is not JSON"),
        ({"OIDC_GROUP_MAP": '{"a": 1}'}, "OIDC_GROUP_MAP must be a JSON object of strings"),
    ],
)
def test_an_incomplete_configuration_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, sso_settings_module: Any, env: dict[str, str], named: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ImproperlyConfigured, match=named):
        importlib.reload(sso_settings_module)


def test_backends_follow_the_configuration(monkeypatch: pytest.MonkeyPatch, sso_settings_module: Any) -> None:
    assert importlib.reload(sso_settings_module).SSO_AUTHENTICATION_BACKENDS == [
        "django.contrib.auth.backends.ModelBackend"
    ]
    monkeypatch.setenv("OIDC_RP_CLIENT_ID", "x")
    monkeypatch.setenv("OIDC_OP_DISCOVERY", "https://idp.example/.well-known/openid-configuration")
    module = importlib.reload(sso_settings_module)
    assert module.SSO_AUTHENTICATION_BACKENDS == [BACKEND, "django.contrib.auth.backends.ModelBackend"]
    assert module.OIDC_RP_SIGN_ALGO == "RS256"
    monkeypatch.setenv("OIDC_ONLY", "1")
    assert importlib.reload(sso_settings_module).SSO_AUTHENTICATION_BACKENDS == [BACKEND]


# --- off ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_off_no_button_and_the_oidc_urls_404(client: Client) -> None:
    for url in ("/admin/login/", "/_util/login/"):
        page = client.get(url)
        assert page.status_code == 200
        assert b"Sign in with" not in page.content
        assert b'name="password"' in page.content
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404


# --- on -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_login_pages_show_the_button_and_keep_the_password_form(client: Client, sso: OidcProvider) -> None:
    admin = client.get("/admin/login/?next=/admin/pages/")
    assert b'href="/oidc/authenticate/?next=/admin/pages/"' in admin.content
    assert b"Sign in with Test IdP" in admin.content
    assert b'name="password"' in admin.content
    assert b'href="/oidc/authenticate/?next=/admin/"' in client.get("/admin/login/").content
    site = client.get("/_util/login/?next=/private/")
    assert b"Sign in with Test IdP" in site.content
    assert b'name="password"' in site.content
    # Password sign-in still works beside SSO.
    user("local", is_staff=True)
    client.post("/admin/login/", {"username": "local", "password": "pw-local"})
    assert signed_in_user(client).username == "local"


@pytest.mark.django_db
def test_oidc_only_hides_and_refuses_passwords(client: Client, settings: Any, sso: OidcProvider) -> None:
    settings.OIDC_ONLY = True
    settings.AUTHENTICATION_BACKENDS = [BACKEND]
    for url in ("/admin/login/", "/_util/login/"):
        page = client.get(url)
        assert b"Sign in with Test IdP" in page.content
        assert b'name="password"' not in page.content
    user("local", is_staff=True, is_superuser=True)
    client.post("/admin/login/", {"username": "local", "password": "pw-local"})
    assert not signed_in_user(client).is_authenticated
    # SSO itself goes on working, and permissions still come from groups (ModelBackend's, inherited).
    response = sign_in(client, sso, claims=ADA)
    assert response.status_code == 302
    ada = signed_in_user(client)
    assert ada.email == "ada@example.org"
    assert not ada.has_perm("wagtailadmin.access_admin")
    editors = Group.objects.get(name="Editors")  # Wagtail's migrated group, which may access the admin
    ada.groups.add(editors)
    assert get_user_model().objects.get(pk=ada.pk).has_perm("wagtailadmin.access_admin")


@pytest.mark.django_db
def test_first_sign_in_creates_the_user_from_the_claims(client: Client, sso: OidcProvider) -> None:
    engineering = Group.objects.create(name="Engineering")
    response = sign_in(client, sso, claims={**ADA, "groups": ["kb-engineering", "unmapped"]})
    assert response.status_code == 302
    assert response["Location"] == "/chat/"
    ada = signed_in_user(client)
    assert ada.is_authenticated
    assert (ada.username, ada.email, ada.first_name, ada.last_name) == (
        "ada",
        ADA["email"],
        "Ada",
        "Lovelace",
    )
    assert not ada.has_usable_password()
    assert list(ada.groups.all()) == [engineering]
    assert not ada.is_staff and not ada.is_superuser
    # PKCE and the client secret went to the token endpoint.
    [request] = sso.token_requests
    assert request["client_secret"] == CLIENT_SECRET and len(request["code_verifier"]) >= 43


@pytest.mark.django_db
def test_a_deactivated_user_is_signed_out_and_cannot_sign_in_again(client: Client, sso: OidcProvider) -> None:
    sign_in(client, sso, claims=ADA)
    ada = signed_in_user(client)
    ada.is_active = False
    ada.save()
    assert not signed_in_user(client).is_authenticated
    assert sign_in(Client(), sso, claims=ADA)["Location"] == "/admin/login/"


@pytest.mark.django_db
def test_an_existing_account_is_matched_by_email_and_updated(client: Client, sso: OidcProvider) -> None:
    existing = user("ada.l", email="ADA@example.org", first_name="A.")
    other = user("ada")  # takes the preferred_username of a newcomer
    sign_in(client, sso, claims=ADA)
    assert signed_in_user(client).pk == existing.pk
    existing.refresh_from_db()
    assert (existing.username, existing.first_name, existing.email) == ("ada.l", "Ada", ADA["email"])
    assert get_user_model().objects.count() == 2

    newcomer = Client()
    sign_in(newcomer, sso, claims={**ADA, "sub": "x2", "email": "x@example.org"})
    created = signed_in_user(newcomer)
    assert created.pk not in (existing.pk, other.pk)
    assert created.username != "ada"  # taken: the library's hash of the email instead


@pytest.mark.django_db
def test_staff_and_superuser_follow_their_groups(client: Client, settings: Any, sso: OidcProvider) -> None:
    settings.OIDC_STAFF_GROUPS = ["kb-staff", "kb-admins"]
    settings.OIDC_SUPERUSER_GROUPS = ["kb-admins"]
    sign_in(client, sso, claims={**ADA, "groups": ["kb-admins"]})
    ada = signed_in_user(client)
    assert ada.is_staff and ada.is_superuser
    sign_in(Client(), sso, claims={**ADA, "groups": ["kb-staff"]})
    ada.refresh_from_db()
    assert ada.is_staff and not ada.is_superuser
    sign_in(Client(), sso, claims={**ADA, "groups": []})
    ada.refresh_from_db()
    assert not ada.is_staff and not ada.is_superuser


@pytest.mark.django_db
@pytest.mark.parametrize("tamper", ["signature", "nonce", "audience", "issuer"])
def test_a_bad_id_token_is_refused(client: Client, sso: OidcProvider, tamper: str) -> None:
    sso.tamper = tamper
    response = sign_in(client, sso, claims=ADA)
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/"
    landing = client.get("/admin/login/")
    assert b"Signing in with Test IdP did not succeed." in landing.content
    assert not landing.wsgi_request.user.is_authenticated
    assert not get_user_model().objects.filter(email=ADA["email"]).exists()


@pytest.mark.django_db
def test_an_unverified_email_or_a_replayed_state_is_refused(client: Client, sso: OidcProvider) -> None:
    owner = user("owner", email=ADA["email"], is_superuser=True)
    response = sign_in(client, sso, claims={**ADA, "email_verified": False})
    assert response["Location"] == "/admin/login/"
    assert not signed_in_user(client).is_authenticated
    owner.refresh_from_db()
    assert owner.first_name == ""

    # The same callback twice: the first spent the state, so the second is refused (400 in the same
    # session, back to the sign-in page in a new one) and signs nobody in.
    sso.claims = ADA
    start = client.get("/oidc/authenticate/")
    callback = requests.get(start["Location"], allow_redirects=False, timeout=10).headers["Location"]
    assert client.get(callback)["Location"] == "/"
    assert client.get(callback).status_code == 400
    client.logout()
    assert client.get(callback)["Location"] == "/admin/login/"
    assert not signed_in_user(client).is_authenticated


def test_an_unreachable_provider_is_a_message_not_an_error(client: Client, settings: Any, db: None) -> None:
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_OP_DISCOVERY = "http://127.0.0.1:9/.well-known/openid-configuration"
    settings.OIDC_TIMEOUT = 2.0
    response = client.get("/oidc/authenticate/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/"


# --- page privacy follows the provider ----------------------------------------------------------------


@pytest.fixture
def clean_index() -> Iterator[None]:
    get_search_backend().drop()
    yield
    get_search_backend().drop()


def found(word: str, principal: Principal) -> list[str]:
    return sorted(
        {h.chunk.source_key for h in get_search_backend().search_text(word, principal=principal, k=20)}
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("celery_worker", "clean_index")
def test_group_restricted_page_follows_the_groups_claim(sso: OidcProvider) -> None:
    engineering = Group.objects.create(name="Engineering")
    Group.objects.create(name="Sales")
    by_hand = Group.objects.create(name="Book club")
    section = knowledge_section("Docs", "docs")
    page = knowledge_page(
        section, title="Roadmap", body=[heading("Secret"), paragraph("The narwhal budget is for engineers.")]
    )
    wait_for_jobs("page", page.pk)
    restriction = PageViewRestriction.objects.create(page=page, restriction_type=PageViewRestriction.GROUPS)
    restriction.groups.add(engineering)
    wait_for_jobs("page", page.pk)
    assert found("narwhal", Principal.anonymous()) == []

    client = Client()
    sign_in(client, sso, claims={**ADA, "groups": ["kb-engineering"]}, next_url=page.url)
    ada = signed_in_user(client)
    ada.groups.add(by_hand)
    assert {g.name for g in ada.groups.all()} == {"Engineering", "Book club"}
    assert found("narwhal", Principal.from_user(ada)) == [f"page:{page.pk}"]
    assert client.get(page.url).status_code == 200  # Wagtail's own privacy agrees

    # Moved to sales at the provider: the next sign-in takes Engineering away, and the page with it.
    again = Client()
    sign_in(again, sso, claims={**ADA, "groups": ["kb-sales"]})
    ada = get_user_model().objects.get(pk=ada.pk)
    assert {g.name for g in ada.groups.all()} == {"Sales", "Book club"}
    assert found("narwhal", Principal.from_user(ada)) == []
    assert again.get(page.url).status_code == 302  # to the sign-in page


# --- signing out at the provider ----------------------------------------------------------------------


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def session_exists(key: str) -> bool:
    return bool(importlib.import_module(django_settings.SESSION_ENGINE).SessionStore().exists(key))


SIGN_OUTS = [("/oidc/logout/", "http://testserver/"), ("/admin/logout/", "http://testserver/admin/login/")]


@pytest.mark.django_db
@pytest.mark.parametrize(("sign_out", "lands_on"), SIGN_OUTS)
def test_signing_out_after_sso_ends_the_provider_session(
    client: Client, sso: OidcProvider, sign_out: str, lands_on: str
) -> None:
    sign_in(client, sso, claims=ADA)
    key = client.session.session_key
    assert key and session_exists(key)
    response = client.post(sign_out)
    assert response.status_code == 302
    assert response["Location"].startswith(f"{sso.url}/logout?")
    assert query_of(response["Location"]) == {
        "id_token_hint": sso.id_tokens[-1],
        "post_logout_redirect_uri": lands_on,
        "client_id": CLIENT_ID,
    }
    assert not session_exists(key)
    assert not signed_in_user(client).is_authenticated
    # The browser's next stop: the provider ends its session and sends it back.
    back = requests.get(response["Location"], allow_redirects=False, timeout=10)
    assert (back.status_code, back.headers["Location"]) == (302, lands_on)
    assert len(sso.logout_requests) == 1 and not sso.session


@pytest.mark.django_db
@pytest.mark.parametrize(("sign_out", "lands_on"), SIGN_OUTS)
def test_a_password_user_signs_out_locally_only(
    client: Client, sso: OidcProvider, sign_out: str, lands_on: str
) -> None:
    user("local", is_staff=True)
    client.post("/admin/login/", {"username": "local", "password": "pw-local"})
    assert signed_in_user(client).username == "local"
    response = client.post(sign_out)
    assert response.status_code == 302
    assert response["Location"] == urlsplit(lands_on).path
    assert not signed_in_user(client).is_authenticated
    assert sso.logout_requests == []


@pytest.mark.django_db
def test_without_an_end_session_endpoint_signing_out_is_local(client: Client, sso: OidcProvider) -> None:
    sso.has_logout = False
    sign_in(client, sso, claims=ADA)
    assert client.post("/admin/logout/")["Location"] == "/admin/login/"
    assert not signed_in_user(client).is_authenticated
    sign_in(client, sso, claims=ADA)
    assert client.post("/oidc/logout/")["Location"] == "/"
    assert not signed_in_user(client).is_authenticated
    assert sso.logout_requests == []


@pytest.mark.django_db
def test_signing_out_with_sso_off_is_local(client: Client) -> None:
    user("local")
    client.post("/admin/login/", {"username": "local", "password": "pw-local"})
    assert client.post("/oidc/logout/")["Location"] == "/"
    assert not signed_in_user(client).is_authenticated


# --- re-checking an SSO session at the provider -------------------------------------------------------


def expire(client: Client) -> None:
    """As if OIDC_RENEW_SECONDS had passed since the sign-in."""
    session = client.session
    session["oidc_id_token_expiration"] = time.time() - 1
    session.save()


def recheck(client: Client, provider: OidcProvider, response: Any) -> Any:
    """The silent trip a re-check makes: to the provider with prompt=none and back to our callback."""
    assert response.status_code == 302, response
    assert response["Location"].startswith(f"{provider.url}/authorize?")
    assert query_of(response["Location"])["prompt"] == "none"
    at_provider = requests.get(response["Location"], allow_redirects=False, timeout=10)
    return client.get(at_provider.headers["Location"])


@pytest.mark.django_db
def test_a_recheck_keeps_the_user_and_maps_the_groups_again(client: Client, sso: OidcProvider) -> None:
    Group.objects.create(name="Engineering")
    Group.objects.create(name="Sales")
    sign_in(client, sso, claims={**ADA, "groups": ["kb-engineering", "kb-sales"]})
    ada = signed_in_user(client)
    assert {g.name for g in ada.groups.all()} == {"Engineering", "Sales"}
    key = client.session.session_key
    assert client.get("/chat/").status_code == 200  # within the interval: no trip

    # Removed from engineering at the provider: gone at the re-check, not only at the next sign-in.
    sso.claims = {**ADA, "groups": ["kb-sales"]}
    expire(client)
    back = recheck(client, sso, client.get("/chat/?q=roadmap"))
    assert (back.status_code, back["Location"]) == (302, "/chat/?q=roadmap")
    assert signed_in_user(client).pk == ada.pk
    assert client.session.session_key == key
    assert {g.name for g in get_user_model().objects.get(pk=ada.pk).groups.all()} == {"Sales"}
    assert client.session["oidc_id_token"] == sso.id_tokens[-1]  # the newer one, for the sign-out
    assert client.get("/chat/").status_code == 200


@pytest.mark.django_db
def test_a_user_disabled_at_the_provider_is_signed_out_at_the_recheck(
    client: Client, settings: Any, sso: OidcProvider
) -> None:
    settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = 1
    sign_in(client, sso, claims=ADA)
    key = client.session.session_key
    assert key and client.get("/chat/").status_code == 200
    sso.disabled.add(str(ADA["sub"]))
    time.sleep(1.1)
    back = recheck(client, sso, client.get("/chat/"))
    assert (back.status_code, back["Location"]) == (302, "/admin/login/")
    assert not session_exists(key)
    landing = client.get("/admin/login/")
    assert not landing.wsgi_request.user.is_authenticated
    assert b"no longer signs you in" in landing.content
    # Signed out, so the sign-in page is not sent to the provider again.
    assert landing.status_code == 200


@pytest.mark.django_db
def test_a_recheck_refused_here_signs_out_too(client: Client, sso: OidcProvider) -> None:
    sign_in(client, sso, claims=ADA)
    sso.tamper = "audience"
    expire(client)
    back = recheck(client, sso, client.get("/chat/"))
    assert back["Location"] == "/admin/login/"
    assert not signed_in_user(client).is_authenticated


@pytest.mark.django_db
def test_api_fetches_and_streams_are_never_sent_to_the_provider(client: Client, sso: OidcProvider) -> None:
    sign_in(client, sso, claims=ADA)
    expire(client)
    api = client.get("/api/chatbot/sessions/", HTTP_ACCEPT="application/json")
    assert api.status_code == 200
    assert api["Content-Type"].startswith("application/json")
    # A script's fetch of a page, an event stream, health: not navigations, or exempt.
    assert client.get("/chat/", HTTP_SEC_FETCH_MODE="cors").status_code == 200
    assert client.get("/chat/", HTTP_ACCEPT="text/event-stream").status_code == 200
    assert client.get("/healthz").status_code in (200, 503)
    assert client.get(f"{django_settings.MEDIA_URL}images/none.png").status_code == 404
    assert signed_in_user(client).is_authenticated
    # The first navigation still re-checks.
    assert client.get("/chat/", HTTP_SEC_FETCH_MODE="navigate").status_code == 302


@pytest.mark.django_db
def test_no_recheck_for_password_sessions_sso_off_or_interval_zero(
    client: Client, settings: Any, sso: OidcProvider
) -> None:
    user("local")
    client.post("/admin/login/", {"username": "local", "password": "pw-local"})
    expire(client)
    assert client.get("/chat/").status_code == 200

    sso_client = Client()
    sign_in(sso_client, sso, claims=ADA)
    expire(sso_client)
    settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = 0
    assert sso_client.get("/chat/").status_code == 200
    settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = 900
    settings.OIDC_RP_CLIENT_ID = ""
    assert sso_client.get("/chat/").status_code == 200
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    assert sso_client.get("/chat/").status_code == 302


@pytest.mark.django_db
def test_an_unreachable_discovery_neither_blocks_pages_nor_sign_out(
    client: Client, settings: Any, sso: OidcProvider
) -> None:
    sign_in(client, sso, claims=ADA)
    expire(client)
    settings.OIDC_OP_DISCOVERY = "http://127.0.0.1:9/.well-known/openid-configuration"
    settings.OIDC_TIMEOUT = 2.0
    provider_module._cache.clear()
    assert client.get("/chat/").status_code == 200  # unchecked this time, still signed in
    assert signed_in_user(client).is_authenticated
    assert client.post("/oidc/logout/")["Location"] == "/"
    assert not signed_in_user(client).is_authenticated
