"""``hub messages``, ``hub parked``, ``hub queues``: the admin API of a running hub.

The base URL comes from ``--url`` (or ``$HUB_URL``), else from the settings'
``http.host``/``http.port``. The token is ``$HUB_ADMIN_TOKEN`` or the
settings' ``admin_token``, else the ``<data_dir>/admin.token`` file the hub
wrote; the CLI only reads it, never creates one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import quote

import httpx
import typer
from rich.markup import escape
from rich.table import Table

from hub.cli_common import (
    FAILED,
    REFUSED,
    err,
    fail,
    http_base_url,
    out,
    print_json_line,
    settings_of,
)
from hub.config import Settings

UrlOption = Annotated[str | None, typer.Option(
    "--url", envvar="HUB_URL", help="base URL of the hub's HTTP API (default: from settings)")]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")]

messages_app = typer.Typer(help="Search, show and replay journaled messages.",
                           no_args_is_help=True)
parked_app = typer.Typer(help="Parked deliveries: list and redrive.", no_args_is_help=True)


def token_file(settings: Settings) -> Path:
    """Where the hub writes the token it generates: ``<data_dir>/admin.token``, absolute."""
    return (settings.data_dir / "admin.token").resolve()


def read_token(settings: Settings) -> str | None:
    """The admin token from the settings (``$HUB_ADMIN_TOKEN``) or the hub's token file."""
    if settings.admin_token:
        return settings.admin_token
    path = token_file(settings)
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None
    except OSError as exc:
        fail(f"cannot read {path}: {exc}")


class AdminClient:
    """A thin synchronous client of the admin API that exits cleanly on errors."""

    def __init__(self, base_url: str, token: str, timeout_s: float = 30.0) -> None:
        self.base_url = base_url
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout_s = timeout_s

    def request(self, method: str, path: str, *, not_found: str | None = None,
                **kwargs: Any) -> httpx.Response:
        """Send one request; exit 1 when the hub cannot be reached, 1/2 on errors.

        ``not_found``: the sentence to exit with (2) when the path is not served.
        """
        try:
            with httpx.Client(base_url=self.base_url, headers=self._headers,
                              timeout=self._timeout_s) as http:
                response = http.request(method, path, **kwargs)
        except httpx.ConnectError:
            fail(f"the hub is not running at {self.base_url} (connection refused)")
        except httpx.TimeoutException:
            fail(f"the hub at {self.base_url} did not answer in time")
        except httpx.HTTPError as exc:
            fail(f"{self.base_url}: {exc}")
        if response.status_code == 404 and not_found is not None:
            fail(not_found, REFUSED)
        if response.status_code >= 400:
            _refuse(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON body of a successful request."""
        return self.request(method, path, **kwargs).json()


def _refuse(response: httpx.Response) -> NoReturn:
    """Exit with the API's error sentence: 2 for 4xx (refused), 1 for 5xx."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message = body.get("error") if isinstance(body, dict) else None
    text = str(message or response.text.strip() or response.reason_phrase)
    if response.status_code == 401:
        text += " (check HUB_ADMIN_TOKEN or <data_dir>/admin.token)"
    fail(f"HTTP {response.status_code}: {text}", REFUSED if response.status_code < 500 else FAILED)


def client_for(ctx: typer.Context, url: str | None) -> AdminClient:
    """An admin client for ``--url`` or the configured HTTP listener."""
    settings = settings_of(ctx)
    token = read_token(settings)
    if token is None:
        fail(f"no admin token: {token_file(settings)} does not exist and neither "
             "HUB_ADMIN_TOKEN nor admin_token is set; run this command where the hub runs "
             "(its hub.yaml and data_dir), or pass --config, or set HUB_ADMIN_TOKEN", REFUSED)
    return AdminClient(url or http_base_url(settings.http.host, settings.http.port), token)


def _message_path(message_id: str, suffix: str = "") -> str:
    return f"/api/messages/{quote(message_id, safe='')}{suffix}"


def _short_time(iso: str | None) -> str:
    """``2024-05-01T08:30:00.123Z`` -> ``2024-05-01 08:30:00``."""
    return (iso or "")[:19].replace("T", " ")


def _cells(row: Mapping[str, Any], keys: Sequence[str]) -> list[str]:
    return [escape("" if row.get(k) is None else str(row[k])) for k in keys]


_WHOLE = frozenset({"id", "key"})
_FOLDED = frozenset({"detail", "reason", "last error"})
_SHORT = {"status": 9, "ack": 3, "attempts": 8}
"""Short values never cut, with their width: the longest status, ``delivered``, has 9."""


def _table(title: str | None, columns: Sequence[str]) -> Table:
    """A table where ids and keys are never cut and long free text folds."""
    table = Table(title=title, title_justify="left")
    for name in columns:
        if name in _WHOLE:
            table.add_column(name, no_wrap=True, min_width=20)
        elif name in _FOLDED:
            table.add_column(name, overflow="fold")
        elif name in _SHORT:
            table.add_column(name, no_wrap=True, min_width=_SHORT[name])
        else:
            table.add_column(name)
    return table


# -- messages -----------------------------------------------------------------


@messages_app.command("list")
def list_messages(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="received, rejected, routed, ...")] = None,
    source: Annotated[str | None, typer.Option(help="inbound source name")] = None,
    control_id: Annotated[str | None, typer.Option(help="MSH-10")] = None,
    patient: Annotated[str | None, typer.Option(help="IPP@authority, or IPP alone")] = None,
    since: Annotated[str | None, typer.Option(help="ISO-8601 or epoch seconds")] = None,
    until: Annotated[str | None, typer.Option(help="ISO-8601 or epoch seconds")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="at most this many")] = 50,
    before: Annotated[str | None, typer.Option(help="older than this id (next page)")] = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Journaled messages, newest first."""
    criteria = {"status": status, "source": source, "control_id": control_id,
                "patient": patient, "since": since, "until": until, "limit": limit,
                "before": before}
    params = {k: v for k, v in criteria.items() if v is not None}
    page = client_for(ctx, url).json("GET", "/api/messages", params=params)
    items: list[dict[str, Any]] = page["items"]
    if as_json:
        for item in items:
            print_json_line(item)
        return
    table = _table(None, ["id", "received (UTC)", "source", "type", "MSH-10", "status", "ack"])
    for item in items:
        row = {**item, "received_at": _short_time(item.get("received_at"))}
        table.add_row(*_cells(row, ["id", "received_at", "source", "message_type",
                                    "control_id", "status", "ack_code"]))
    out.print(table)
    if page.get("next"):
        err.print(f"next page: --before {page['next']}")


@messages_app.command("show")
def show_message(
    ctx: typer.Context,
    message_id: Annotated[str, typer.Argument(help="the message id")],
    raw: Annotated[bool, typer.Option("--raw", help="write the exact bytes received")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="the record as JSON")] = False,
    url: UrlOption = None,
) -> None:
    """One message: its record, events and deliveries (``--raw``: the bytes only)."""
    client = client_for(ctx, url)
    if raw:
        payload = client.request("GET", _message_path(message_id, "/raw")).content
        typer.get_binary_stream("stdout").write(payload)
        return
    record = client.json("GET", _message_path(message_id))
    if as_json:
        print_json_line(record)
        return
    _print_record(record)


def _print_record(record: Mapping[str, Any]) -> None:
    summary = Table.grid(padding=(0, 2))
    for key in ("id", "received_at", "source", "protocol", "peer", "sender", "control_id",
                "message_type", "status", "ack_code", "error", "replay_of", "size", "sha256"):
        if record.get(key) not in (None, ""):
            summary.add_row(f"[bold]{key}[/bold]", escape(str(record[key])))
    out.print(summary)
    events = _table("events", ["at (UTC)", "stage", "destination", "detail", "ms"])
    for e in record.get("events", []):
        ms = "" if e.get("duration_ms") is None else f"{e['duration_ms']:.1f}"
        events.add_row(*_cells({**e, "at": _short_time(e.get("at")), "ms": ms},
                               ["at", "stage", "destination", "detail", "ms"]))
    out.print(events)
    deliveries = _table("deliveries", ["destination", "status", "attempts", "last error"])
    for d in record.get("deliveries", []):
        deliveries.add_row(*_cells(d, ["destination", "status", "attempts", "last_error"]))
    out.print(deliveries)


@messages_app.command("replay")
def replay_message(
    ctx: typer.Context,
    message_id: Annotated[str, typer.Argument(help="the message id")],
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Run a stored message through the pipeline again, as a new message."""
    result = client_for(ctx, url).json("POST", _message_path(message_id, "/replay"))
    if as_json:
        print_json_line(result)
    else:
        out.print(f"replayed {escape(result['replayed'])} as {escape(result['new_id'])}")


@messages_app.command("resend")
def resend_message(
    ctx: typer.Context,
    message_id: Annotated[str, typer.Argument(help="the message id")],
    destination: Annotated[str, typer.Option(help="the destination to deliver to again")],
    url: UrlOption = None,
) -> None:
    """Deliver one message to one destination again."""
    client_for(ctx, url).json("POST", _message_path(message_id, "/resend"),
                              params={"destination": destination})
    out.print(f"resend of {escape(message_id)} to {escape(destination)} queued")


# -- parked deliveries and queues ----------------------------------------------


@parked_app.command("list")
def list_parked(
    ctx: typer.Context,
    destination: Annotated[str | None, typer.Option(help="one destination, or all")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many")] = 100,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Deliveries that gave up, with the reason."""
    params: dict[str, Any] = {"limit": limit}
    if destination:
        params["destination"] = destination
    items: list[dict[str, Any]] = client_for(ctx, url).json("GET", "/api/parked", params=params)
    if as_json:
        for item in items:
            print_json_line(item)
        return
    table = _table(None, ["key", "destination", "parked at (UTC)", "reason"])
    for item in items:
        row = {**item, "parked_at": _short_time(item.get("parked_at"))}
        table.add_row(*_cells(row, ["key", "destination", "parked_at", "reason"]))
    out.print(table)


@parked_app.command("redrive")
def redrive_parked(
    ctx: typer.Context,
    destination: Annotated[str | None, typer.Option(help="one destination, or all")] = None,
    key: Annotated[list[str] | None, typer.Option(
        "--key", help="a delivery key from 'hub parked list' (repeatable); default all")] = None,
    url: UrlOption = None,
) -> None:
    """Put parked deliveries back in their queue."""
    body = {"destination": destination, "keys": key or None}
    result = client_for(ctx, url).json("POST", "/api/parked/redrive", json=body)
    out.print(f"redriven: {result['redriven']}")
    missing = result.get("not_parked") or []
    if missing:
        where = f" of destination {destination}" if destination else ""
        fail(f"no parked delivery{where} has the key {', '.join(missing)} "
             "(see 'hub parked list')", REFUSED)


def list_queues(
    ctx: typer.Context,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Depth of every queue: ready, parked, age of the oldest waiting message."""
    items: list[dict[str, Any]] = client_for(ctx, url).json("GET", "/api/queues")
    if as_json:
        for item in items:
            print_json_line(item)
        return
    table = _table(None, ["queue", "ready", "parked", "oldest (s)"])
    for item in items:
        table.add_row(*_cells(item, ["queue", "ready", "parked", "oldest_age_s"]))
    out.print(table)
