"""Helpers of the web tests: one user per tier and signing in through the real form."""

from __future__ import annotations

from app.services.accounts.users import create_user

PASSWORD = "correct horse battery"
TIERS = ("free", "premium", "admin")


def make_users() -> dict[str, str]:
    """Create one user per tier; return tier -> email."""
    emails = {tier: f"{tier}@example.com" for tier in TIERS}
    for tier, email in emails.items():
        create_user(email=email, password=PASSWORD, tier=tier)
    return emails


def sign_in(client, email: str, password: str = PASSWORD, next_url: str | None = None):
    """Post the sign-in form; return the response (not followed)."""
    url = "/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"email": email, "password": password})
