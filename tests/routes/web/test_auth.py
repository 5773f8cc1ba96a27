"""Sign-in, sign-out, the profile, tier decorators, safe ``next``, CSRF, rate limit and cookie flags."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from app import create_app
from app.extensions import db as _db
from app.models import User
from app.routes.guards import safe_next
from config import ProductionConfig, TestingConfig
from tests.routes.web.helpers import PASSWORD, make_users, sign_in

ADMIN_PAGES = (
    "/admin/optimization",
    "/admin/optimization/compare",
    "/admin/optimization/best",
    "/admin/patterns/duplicates",
    "/admin/data",
    "/admin/optimization/1",
    "/admin/optimization/1/progress.json",
)


@pytest.mark.parametrize("path", ["/", "/profile", "/preferences", *ADMIN_PAGES])
def test_anonymous_visitors_are_sent_to_sign_in_with_next(client, path):
    response = client.get(path)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/login?next=")
    assert unquote(location.removeprefix("/login?next=")) == path


@pytest.mark.parametrize("tier", ["free", "premium"])
@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_area_is_403_for_signed_in_non_admins(as_tier, tier, path):
    response = as_tier(tier).get(path)
    assert response.status_code == 403
    assert b"this needs an admin account" in response.data


def test_free_users_get_the_upgrade_page_on_premium_pages(as_tier):
    response = as_tier("free").get("/preferences")
    assert response.status_code == 403 and b"upgrade to premium" in response.data
    post = as_tier("free").post("/preferences/copy", data={"run_id": "1"})
    assert post.status_code == 403


def test_sign_in_goes_to_next_and_shows_the_tier(client, users):
    response = sign_in(client, users["premium"], next_url="/profile")
    assert response.status_code == 302 and response.headers["Location"] == "/profile"
    page = client.get("/profile").get_data(as_text=True)
    assert "premium@example.com" in page and 'id="tier">premium<' in page


@pytest.mark.parametrize(
    "target",
    ["//evil.example/x", "https://evil.example/", "/\\evil.example", "\\\\evil.example", "javascript:alert(1)", "evil"],
)
def test_sign_in_never_redirects_off_site(client, users, target):
    response = sign_in(client, users["free"], next_url=target)
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_safe_next_keeps_local_paths_only():
    assert safe_next("/admin/optimization?page=2") == "/admin/optimization?page=2"
    for bad in (None, "", "//x.org", "http://x.org/", "/\\x.org", "/a\nb", "x.org", "/%0a"[:2] + "\r"):
        assert safe_next(bad) is None


@pytest.mark.parametrize(
    ("email", "password"), [("free@example.com", "wrong password"), ("nobody@example.com", PASSWORD)]
)
def test_wrong_credentials_say_the_same_thing(client, users, email, password):
    response = sign_in(client, email, password)
    assert response.status_code == 400 and b"wrong email or password" in response.data
    assert client.get("/").status_code == 302


def test_sign_out_needs_a_post(as_tier):
    client = as_tier("free")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 302
    assert client.get("/").status_code == 302


def test_change_password(as_tier, db):
    client = as_tier("free")
    wrong = client.post("/profile", data={"current": "nope nope nope", "new": "a new password"})
    assert wrong.status_code == 400 and b"the current password is wrong" in wrong.data
    short = client.post("/profile", data={"current": PASSWORD, "new": "short"})
    assert short.status_code == 400 and b"at least 8 characters" in short.data
    assert client.post("/profile", data={"current": PASSWORD, "new": "a new password"}).status_code == 302
    user = db.session.scalar(db.select(User).where(User.email == "free@example.com"))
    assert user.check_password("a new password") and not user.check_password(PASSWORD)


class CsrfConfig(TestingConfig):
    WTF_CSRF_ENABLED = True


@pytest.fixture
def csrf_app():
    app = create_app(CsrfConfig)
    with app.app_context():
        _db.create_all()
        make_users()
        yield app
        _db.session.remove()
        _db.drop_all()


def _token(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def test_forms_without_a_csrf_token_are_refused(csrf_app):
    client = csrf_app.test_client()
    refused = client.post("/login", data={"email": "admin@example.com", "password": PASSWORD})
    assert refused.status_code == 400 and b"CSRF" in refused.data
    token = _token(client.get("/login").get_data(as_text=True))
    signed = client.post("/login", data={"email": "admin@example.com", "password": PASSWORD, "csrf_token": token})
    assert signed.status_code == 302
    # Signed in, every state-changing admin form still needs the token.
    for path in ("/admin/optimization/1/cancel", "/admin/optimization/1/delete", "/admin/optimization/best/apply"):
        assert client.post(path).status_code == 400
    assert client.post("/logout").status_code == 400
    assert client.get("/profile").status_code == 200  # still signed in


class LimitedConfig(TestingConfig):
    LOGIN_RATE_LIMIT = "3 per minute"


def test_sign_in_attempts_are_rate_limited():
    app = create_app(LimitedConfig)
    with app.app_context():
        _db.create_all()
        make_users()
        client = app.test_client()
        codes = [sign_in(client, "free@example.com", "wrong password").status_code for _ in range(4)]
        assert codes == [400, 400, 400, 429]
        assert sign_in(client, "free@example.com").status_code == 429  # the right password waits too
        assert client.get("/login").status_code == 200  # only attempts (POST) count
        _db.session.remove()
        _db.drop_all()


def test_production_cookies_are_secure_httponly_lax(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'prod.db'}")

    class Prod(ProductionConfig):
        WTF_CSRF_ENABLED = False

    app = create_app(Prod)
    with app.app_context():
        _db.create_all()
        make_users()
        response = sign_in(app.test_client(), "free@example.com")
        cookie = response.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        _db.session.remove()
        _db.drop_all()
    assert ProductionConfig.REMEMBER_COOKIE_SECURE and ProductionConfig.SESSION_COOKIE_SAMESITE == "Lax"
