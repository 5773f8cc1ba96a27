"""``flask users ...``: manage accounts."""

from __future__ import annotations

import click

from app.cli.errors import CliGroup
from app.models.user import TIERS
from app.services.accounts import api_tokens
from app.services.accounts import users as user_service

users_cli = CliGroup("users", help="Manage user accounts.")


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--tier", type=click.Choice(TIERS), default="free", show_default=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="Prompted when omitted.")
def create_command(email: str, tier: str, password: str) -> None:
    """Create a user; the password is hashed and never printed (exit 2 bad input, 3 email already taken)."""
    user = user_service.create_user(email=email, password=password, tier=tier)
    click.echo(f"created {user.tier} user {user.email}")


@users_cli.command("list")
def list_command() -> None:
    """List users with their tier."""
    for user in user_service.list_users():
        click.echo(f"{user.id:>4}  {user.tier:<8} {user.email}")


token_cli = CliGroup("token", help="Personal API tokens (Authorization: Bearer <token>).")
users_cli.add_command(token_cli)


@token_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True, help="What the token is for (shown in lists).")
def token_create_command(email: str, name: str) -> None:
    """Create a token; it is printed once, alone on the last line (only its hash is stored)."""
    user = user_service.find_user(email)
    row, token = api_tokens.create_token(user, name=name)
    click.echo(f"created token {row.id} '{row.name}' for {user.email}; it is shown only now:")
    click.echo(token)


@token_cli.command("list")
@click.option("--email", required=True)
def token_list_command(email: str) -> None:
    """List a user's tokens: id, prefix, name, created, last used, revoked."""
    for row in api_tokens.list_tokens(user_service.find_user(email)):
        used = row.last_used_at.isoformat(timespec="seconds") if row.last_used_at else "never"
        state = f"revoked {row.revoked_at.isoformat(timespec='seconds')}" if row.revoked_at else "active"
        click.echo(
            f"{row.id:>4}  {row.prefix}...  {row.name:<24} created {row.created_at:%Y-%m-%d}  used {used}  {state}"
        )


@token_cli.command("revoke")
@click.option("--email", required=True)
@click.option("--id", "token_id", type=int, required=True)
def token_revoke_command(email: str, token_id: int) -> None:
    """Revoke a token: it never authenticates again (exit 2 when the user has no such token)."""
    row = api_tokens.revoke_token(user_service.find_user(email), token_id=token_id)
    click.echo(f"revoked token {row.id} '{row.name}'")
