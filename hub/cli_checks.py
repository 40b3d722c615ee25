"""``hub config check``, ``hub routes check``, ``hub db upgrade``: offline checks and set-up."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from hub.app import load_engine
from hub.cli_common import err, fail, mask_url, out, settings_of, state_of
from hub.cli_send import split_messages
from hub.config import (
    SHIPPED_CONFIG,
    SHIPPED_ROUTES,
    FileDestination,
    MllpDestination,
    Settings,
    config_file,
    read_yaml,
)
from hub.db.engine import Database
from hub.errors import ConfigError, ParseError
from hub.hl7.er7 import Message, parse
from hub.preflight import SettingsProblems, check_settings, weak_settings
from hub.routing.engine import Decision, RoutingEngine

config_app = typer.Typer(help="Check the configuration.", no_args_is_help=True)
routes_app = typer.Typer(help="Check the route files.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


def engine_of(settings: Settings) -> RoutingEngine:
    """Load the route files; exit 1 listing every problem."""
    try:
        return load_engine(settings)
    except ConfigError as exc:
        fail(str(exc))


def _routes_line(settings: Settings, engine: RoutingEngine) -> str:
    where = ("shipped with the hub" if settings.routes_dir == SHIPPED_ROUTES
             else str(settings.routes_dir))
    disabled = len(engine.disabled)
    return (f"{len(engine.routes) - disabled} in {where}"
            + (f" ({disabled} disabled)" if disabled else ""))


def _listener(enabled: bool, host: str, port: int, tls: bool = False) -> str:
    if not enabled:
        return "disabled"
    return f"{host}:{port}" + (" (TLS)" if tls else "")


def _destination(settings: object) -> str:
    if isinstance(settings, FileDestination):
        return f"file -> {settings.directory}"
    if isinstance(settings, MllpDestination):
        return f"mllp -> {settings.host}:{settings.port}" + (" (TLS)" if settings.tls else "")
    return str(getattr(settings, "type", "?"))


def _admin_token(settings: Settings) -> str:
    if settings.admin_token:
        return "configured"
    if (settings.data_dir / "admin.token").exists():
        return "from <data_dir>/admin.token"
    return "generated into <data_dir>/admin.token at first start"


def summary_table(settings: Settings, engine: RoutingEngine, origin: str) -> Table:
    """What the hub would start with (no secret is shown)."""
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")  # paths and URLs whole, folded on narrow terminals
    rows = [
        ("configuration", origin),
        ("data_dir", str(settings.data_dir)),
        ("mllp", _listener(settings.mllp.enabled, settings.mllp.host, settings.mllp.port,
                           settings.mllp.tls is not None)),
        ("http", _listener(settings.http.enabled, settings.http.host, settings.http.port,
                           settings.http.tls is not None)),
        ("broker", mask_url(settings.broker_url)),
        ("database", mask_url(settings.effective_database_url)),
        ("admin token", _admin_token(settings)),
        ("sources", ", ".join(s.name for s in settings.sources) or "(none: all are 'default')"),
        ("components", ", ".join(settings.components) or "(none)"),
        ("routes", _routes_line(settings, engine)),
    ]
    rows += [(f"destination {name}", _destination(d))
             for name, d in settings.destinations.items()]
    for key, value in rows:
        table.add_row(f"[bold]{key}[/bold]", escape(value))
    return table


@config_app.command("check")
def config_check(ctx: typer.Context) -> None:
    """Validate the settings and the route files as ``hub run`` does; list every problem."""
    settings = settings_of(ctx)
    engine, problems = check_settings(settings)
    if problems or engine is None:
        fail(str(SettingsProblems(problems)))
    origin = f"{_origin(state_of(ctx).config)} + HUB_* environment"
    out.print("[green]configuration OK[/green]")
    out.print(summary_table(settings, engine, origin))
    _print_warnings(weak_settings(settings, _file_tree(state_of(ctx).config)))


def _file_tree(config: Path | None) -> dict[str, object]:
    """The settings file alone (no environment), to tell where a secret was written."""
    try:
        return read_yaml(config_file(config))
    except ConfigError:
        return {}


def _print_warnings(warnings: list[str]) -> None:
    """Weak settings, one line each on stderr; they do not change the exit status."""
    for warning in warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}")


def _origin(config: Path | None) -> str:
    try:
        path = config_file(config)
    except ConfigError as exc:
        fail(str(exc))
    return "hub.yaml shipped with the hub" if path == SHIPPED_CONFIG else str(path.resolve())


def _print_decision(decision: Decision) -> None:
    if decision.outcome == "deliver":
        line = f"[green]deliver[/green] to {', '.join(decision.destinations)}"
    elif decision.outcome == "filter":
        line = f"[yellow]filter[/yellow]: {escape(decision.reason)}"
    else:
        line = f"[yellow]unrouted[/yellow]: {escape(decision.reason)}"
    matched = ", ".join(decision.matched) or "none"
    out.print(f"decision: {line} (matched: {escape(matched)})")


def _explain_table(engine: RoutingEngine, source: str, message: Message) -> Table:
    table = Table("route", "matched", "why not")
    for name, matched, why in engine.explain(source, "hl7v2", message):
        mark = "[green]yes[/green]" if matched else "[red]no[/red]"
        table.add_row(escape(name), mark, escape(why))
    return table


def _parsed(path: Path) -> list[Message]:
    try:
        payloads = split_messages(path.read_bytes())
    except (OSError, ValueError) as exc:
        fail(f"{path}: {exc}")
    if not payloads:
        fail(f"{path}: no MSH segment, not an HL7 v2 message")
    messages = []
    for number, payload in enumerate(payloads, 1):
        try:
            messages.append(parse(payload))
        except ParseError as exc:
            fail(f"{path} message {number}: {exc}")
    return messages


@routes_app.command("check")
def routes_check(
    ctx: typer.Context,
    message: Annotated[Path | None, typer.Option(
        help="an HL7 v2 message file: show where it would go and why", exists=True,
        dir_okay=False)] = None,
    source: Annotated[str, typer.Option(help="the inbound source it comes from")] = "default",
) -> None:
    """Validate the route files; with --message, explain the routing of that message."""
    settings = settings_of(ctx)
    engine = engine_of(settings)
    out.print(f"[green]{len(engine.routes)} route(s) OK[/green] in {settings.routes_dir}")
    if message is None:
        return
    known = {s.name for s in settings.sources} | {"default"}
    if source not in known:
        err.print(f"[yellow]warning:[/yellow] source {source!r} is not configured")
    for parsed in _parsed(message):
        out.print(f"\n[bold]{escape(repr(parsed))}[/bold]")
        _print_decision(engine.decide(source, "hl7v2", parsed))
        out.print(_explain_table(engine, source, parsed))


async def upgrade_database(url: str) -> str | None:
    """Migrate the database at ``url`` to the latest revision; return it."""
    db = await Database.open(url)
    try:
        await db.upgrade()
        return await db.current_revision()
    finally:
        await db.close()


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create or migrate the journal database to the latest schema."""
    settings = settings_of(ctx)
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.effective_database_url
    try:
        revision = asyncio.run(upgrade_database(url))
    except Exception as exc:  # any driver's error: report it, the operator fixes the URL
        fail(f"cannot upgrade {mask_url(url)}: {type(exc).__name__}: {exc}")
    out.print(f"database {escape(mask_url(url))} at revision {revision}")


def init_directory(
    directory: Annotated[Path, typer.Argument(help="where to write hub.yaml and routes/")] = Path(),
    force: Annotated[bool, typer.Option(help="overwrite files that exist")] = False,
) -> None:
    """Write the shipped ``hub.yaml`` and route files into DIRECTORY, to edit and run from."""
    shipped = [(SHIPPED_CONFIG, directory / "hub.yaml")] + [
        (path, directory / "routes" / path.name)
        for path in sorted(SHIPPED_ROUTES.iterdir()) if path.suffix in (".yaml", ".md")]
    existing = [str(target) for _, target in shipped if target.exists()]
    if existing and not force:
        fail(f"not overwriting {', '.join(existing)} (use --force)")
    (directory / "routes").mkdir(parents=True, exist_ok=True)
    for source, target in shipped:
        target.write_bytes(source.read_bytes())
    out.print(f"wrote {directory / 'hub.yaml'} and {len(shipped) - 1} files in "
              f"{directory / 'routes'}; start with: cd {directory} && hub run")
