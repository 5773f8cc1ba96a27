"""``flask users ...``: manage accounts."""

from __future__ import annotations

import click

from app.cli.errors import CliGroup
from app.models.user import TIERS
from app.services import users as user_service

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
