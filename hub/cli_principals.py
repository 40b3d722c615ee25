"""``hub users`` and ``hub clients``: operators and systems, on the configured database.

Like ``hub db upgrade`` these work offline, directly on the database of the
settings (migrated first), so that the first operator can be made before
the hub runs. Passwords are read from a prompt (twice) or, with
``--password-stdin``, from the first line of standard input: never from an
argument, which the process list and shell history would show. A new API
key is printed once, alone on standard output (for a script to capture);
the hub keeps only its SHA-256.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from hub.auth.store import ClientRecord, NewClient, PrincipalError, PrincipalStore, UserRecord
from hub.cli_common import REFUSED, err, fail, out, print_json_line, settings_of
from hub.db.engine import Database

users_app = typer.Typer(help="Operators (people): add, list, disable, rotate.",
                        no_args_is_help=True)
clients_app = typer.Typer(help="Systems (API keys, client certificates): add, list, "
                          "disable, rotate.", no_args_is_help=True)
T = TypeVar("T")

RolesOption = Annotated[list[str], typer.Option(
    "--role", help="admin, operator, auditor, identity-reviewer, document-reader, "
    "document-source (repeat for several)")]
ActsAsOption = Annotated[str | None, typer.Option(
    "--acts-as", help="document readers: professional, patient, legal-representative")]
StdinOption = Annotated[bool, typer.Option(
    "--password-stdin", help="read the password from the first line of standard input")]
JsonOption = Annotated[bool, typer.Option("--json", help="one JSON object per line")]


def run_on_store(ctx: typer.Context, work: Callable[[PrincipalStore], Awaitable[T]]) -> T:
    """Open (and migrate) the settings' database, run ``work``, close; refusals exit 2."""
    settings = settings_of(ctx)
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def session() -> T:
        db = await Database.open(settings.effective_database_url)
        try:
            await db.upgrade()
            return await work(PrincipalStore(db))
        finally:
            await db.close()

    try:
        return asyncio.run(session())
    except PrincipalError as exc:
        fail(str(exc), REFUSED)


def read_password(from_stdin: bool) -> str:
    """The new password: stdin's first line, or typed twice at a hidden prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    return value


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


# -- users --------------------------------------------------------------------------


def _user_json(user: UserRecord) -> dict[str, Any]:
    return {"login": user.login, "name": user.display_name, "roles": sorted(user.roles),
            "acts_as": user.acts_as, "disabled": user.disabled,
            "created_at": _when(user.created_at), "rotated_at": _when(user.rotated_at)}


@users_app.command("add")
def users_add(
    ctx: typer.Context,
    login: Annotated[str, typer.Argument(help="lowercase login")],
    role: RolesOption,
    name: Annotated[str, typer.Option(help="display name")] = "",
    acts_as: ActsAsOption = None,
    password_stdin: StdinOption = False,
) -> None:
    """Create an operator with a password (asked for, never an argument)."""
    password = read_password(password_stdin)
    user = run_on_store(ctx, lambda store: store.add_user(login, name, role, password, acts_as))
    err.print(f"user {escape(user.login)} added with roles {', '.join(sorted(user.roles))}")


@users_app.command("list")
def users_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every operator: roles, state, when made and when the password last changed."""
    users = run_on_store(ctx, lambda store: store.users())
    if as_json:
        for user in users:
            print_json_line(_user_json(user))
        return
    table = Table("login", "name", "roles", "acts as", "state", "rotated")
    for user in users:
        table.add_row(escape(user.login), escape(user.display_name),
                      ", ".join(sorted(user.roles)), user.acts_as or "",
                      "disabled" if user.disabled else "enabled", _when(user.rotated_at))
    out.print(table)


@users_app.command("disable")
def users_disable(ctx: typer.Context, login: Annotated[str, typer.Argument()]) -> None:
    """Refuse an operator's logins from now on and close their sessions."""
    run_on_store(ctx, lambda store: store.disable_user(login))
    err.print(f"user {escape(login)} disabled; their sessions are closed")


@users_app.command("rotate")
def users_rotate(ctx: typer.Context, login: Annotated[str, typer.Argument()],
                 password_stdin: StdinOption = False) -> None:
    """Set a new password; the operator's open sessions are closed."""
    password = read_password(password_stdin)
    run_on_store(ctx, lambda store: store.set_password(login, password))
    err.print(f"password of {escape(login)} changed; their sessions are closed")


# -- clients --------------------------------------------------------------------------


def _client_json(client: ClientRecord) -> dict[str, Any]:
    return {"name": client.name, "roles": sorted(client.roles),
            "scopes": sorted(client.scopes), "establishments": list(client.establishments),
            "patients": list(client.patients), "acts_as": client.acts_as,
            "source": client.source, "cert_sha256": client.cert_sha256,
            "disabled": client.disabled, "created_at": _when(client.created_at),
            "rotated_at": _when(client.rotated_at)}


@clients_app.command("add")
def clients_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="lowercase client name")],
    role: RolesOption,
    scope: Annotated[list[str] | None, typer.Option(
        "--scope", help="SMART scope, e.g. system/*.read (repeat)")] = None,
    establishment: Annotated[list[str] | None, typer.Option(
        "--establishment", help="FINESS or OID it submits for (repeat)")] = None,
    patient: Annotated[list[str] | None, typer.Option(
        "--patient", help="system|value of a patient it is bound to (repeat)")] = None,
    acts_as: ActsAsOption = None,
    source: Annotated[str | None, typer.Option(help="inbound source it is bound to")] = None,
    cert_sha256: Annotated[str | None, typer.Option(
        "--cert-sha256", help="SHA-256 of its client certificate (mutual TLS)")] = None,
) -> None:
    """Create a client; its API key is printed once on standard output."""
    new = NewClient(name, role, scope or (), establishment or (), patient or (), acts_as,
                    source, cert_sha256)
    client, key = run_on_store(ctx, lambda store: store.add_client(new))
    err.print(f"client {escape(client.name)} added; its API key (shown once):")
    out.print(key)


@clients_app.command("list")
def clients_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every client: roles, scopes, establishments, certificate, state."""
    clients = run_on_store(ctx, lambda store: store.clients())
    if as_json:
        for client in clients:
            print_json_line(_client_json(client))
        return
    table = Table("name", "roles", "scopes", "establishments", "certificate", "state")
    for client in clients:
        table.add_row(escape(client.name), ", ".join(sorted(client.roles)),
                      escape(" ".join(sorted(client.scopes))),
                      escape(", ".join(client.establishments)),
                      (client.cert_sha256 or "")[:16],
                      "disabled" if client.disabled else "enabled")
    out.print(table)


@clients_app.command("disable")
def clients_disable(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """Refuse a client's key, certificate and tokens from now on."""
    run_on_store(ctx, lambda store: store.disable_client(name))
    err.print(f"client {escape(name)} disabled")


@clients_app.command("rotate")
def clients_rotate(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """A new API key, printed once; the old one stops working."""
    key = run_on_store(ctx, lambda store: store.rotate_key(name))
    err.print(f"new API key of {escape(name)} (shown once); the old one no longer works:")
    out.print(key)

