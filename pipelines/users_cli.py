"""The ``savedesk users`` commands: add, revoke and list the people who may use the API and the rep page.

A token is printed once, when its user is added; the store keeps only its
SHA-256, so a lost token cannot be shown again: revoke the user and add them
anew. ``list`` never prints tokens or their hashes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipelines.cli_options import console, errors
from pipelines.settings import Settings, load_settings

users_app = typer.Typer(help="Users of the API and the rep page: bearer tokens with a role and territories.")
DataOption = Annotated[
    Path | None,
    typer.Option("--data", help="Workspace folder; its outcomes store: DIR/outcomes.db or SAVEDESK_OUTCOMES_URL."),
]


def _settings(data: Path | None) -> Settings:
    return load_settings(data)


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The user's name, unique among active users.")],
    role: Annotated[str, typer.Option("--role", help="rep, manager or admin.")],
    territory: Annotated[
        list[str] | None, typer.Option("--territory", help="A territory a rep works (repeat for several).")
    ] = None,
    rep_id: Annotated[str | None, typer.Option("--rep-id", help="The rep's id in the desk's records.")] = None,
    data: DataOption = None,
) -> None:
    """Add a user and print their bearer token, once."""
    from serving.auth import Role
    from serving.store import OutcomesStore

    try:
        chosen = Role(role)
    except ValueError:
        errors.print(f"[red]--role must be one of {', '.join(r.value for r in Role)}, got {role!r}.[/red]")
        raise typer.Exit(2) from None
    settings = _settings(data)
    store = OutcomesStore.open(settings.outcomes_database_url, settings.nightly.time_zone)
    try:
        token = store.add_user(name, chosen, territory or (), rep_id)
    except ValueError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    finally:
        store.dispose()
    where = ", ".join(sorted(set(territory or ()))) or "every territory"
    console.print(f"Added {chosen.value} {name} ({where}). Their token, shown this once:")
    console.print(token, markup=False, highlight=False, soft_wrap=True)
    errors.print(
        "[yellow]Keep it now (a password manager, or hand it over in person): the store keeps only its hash,"
        f" so it cannot be shown again. A lost token: savedesk users revoke {name}, then add again.[/yellow]"
    )


@users_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The active user to revoke.")],
    data: DataOption = None,
) -> None:
    """Revoke a user: their token stops working at once."""
    from serving.store import OutcomesStore

    settings = _settings(data)
    store = OutcomesStore.open(settings.outcomes_database_url, settings.nightly.time_zone)
    try:
        revoked = store.revoke_user(name)
    finally:
        store.dispose()
    if not revoked:
        errors.print(f"[red]No active user is named {name} (savedesk users list shows them).[/red]")
        raise typer.Exit(1)
    console.print(f"Revoked {name}.")


@users_app.command("list")
def list_users(data: DataOption = None) -> None:
    """List the active users with their roles and territories (never their tokens)."""
    from serving.store import OutcomesStore

    settings = _settings(data)
    store = OutcomesStore.open(settings.outcomes_database_url, settings.nightly.time_zone)
    try:
        active = store.users()
    finally:
        store.dispose()
    if not active:
        console.print("No active users: add one with savedesk users add NAME --role rep|manager|admin.")
        return
    table = Table("name", "role", "territories", "rep id")
    for user in active:
        table.add_row(user.name, user.role.value, ", ".join(sorted(user.territories)) or "all", user.rep_id or "")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``users`` sub-command to ``app``."""
    app.add_typer(users_app, name="users")
