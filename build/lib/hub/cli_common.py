"""What every ``hub`` command shares: the settings, the consoles, failing cleanly.

Exit codes: 0 success; 1 the operation failed (invalid configuration, hub
not reachable, a negative ACK, a server error); 2 the request was refused
(bad option, unknown id or name, authentication).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.console import Console
from rich.markup import escape

from hub.config import Settings, load_settings
from hub.errors import ConfigError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

FAILED = 1
REFUSED = 2


@dataclass(frozen=True, slots=True)
class CliState:
    """The global options, kept in the root context's ``obj``."""

    config: Path | None = None


def fail(message: str, code: int = FAILED) -> NoReturn:
    """Print ``message`` on stderr and exit with ``code``."""
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


def state_of(ctx: typer.Context) -> CliState:
    """The global options of this invocation."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, CliState) else CliState()


def settings_of(ctx: typer.Context) -> Settings:
    """Load the settings named by ``--config`` (or the default); exit 1 when invalid."""
    path = state_of(ctx).config
    if path is not None and not path.is_file():
        fail(f"configuration file {path} not found")
    try:
        return load_settings(path)
    except ConfigError as exc:
        fail(str(exc))


def connect_host(host: str) -> str:
    """The address to reach a listener bound to ``host`` (wildcards mean this machine)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def http_base_url(host: str, port: int) -> str:
    """``http://host:port`` with IPv6 literals bracketed."""
    shown = connect_host(host)
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (safe to print)."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))


def print_json_line(value: Any) -> None:
    """One JSON document on one line of stdout (``--json`` output)."""
    typer.echo(json.dumps(value, ensure_ascii=False, sort_keys=True))
