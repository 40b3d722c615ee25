"""The ``hub`` command line.

::

    hub [--config hub.yaml] run
    hub init [DIR] [--force]
    hub config check
    hub routes check [--message FILE] [--source NAME]
    hub db upgrade
    hub send hl7 FILE... [--host --port --tls --cafile --insecure --json]
    hub messages list|show|replay|resend ...     (through the running hub's API)
    hub parked list|redrive ...
    hub queues
    hub bench mllp [--messages N --connections K --rate R --spawn/--no-spawn --json]
    hub bench mappings [--json --repeat N]
    hub bench dicom [--json --small N --large N]
    hub send dicom FILE|DIR... [--host --port --aet]
    hub studies list
    hub bench mssante [--json --documents N --concurrency K]
    hub bench documents [--documents N --search-documents M --database-url URL --json]

Exit codes: 0 success, 1 failure, 2 refused (usage, unknown id, authentication);
see :mod:`hub.cli_common`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from hub.app import Hub
from hub.cli_admin import list_queues, messages_app, parked_app
from hub.cli_checks import config_app, db_app, init_directory, routes_app
from hub.cli_common import CliState, err, fail, out, print_json_line, settings_of
from hub.cli_documents import documents_app  # also adds `hub send cda`
from hub.cli_principals import clients_app, users_app
from hub.cli_send import send_app
from hub.config import Settings
from hub.errors import HubError
from hub.registry import CLI_COMMANDS, resolve

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s %(message)s"
READY_POLL_S = 0.05

app = typer.Typer(
    help="Regional health-data interoperability hub.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(help="Load tests.", no_args_is_help=True)

app.add_typer(config_app, name="config")
app.add_typer(routes_app, name="routes")
app.add_typer(db_app, name="db")
app.add_typer(send_app, name="send")
app.add_typer(messages_app, name="messages")
app.add_typer(parked_app, name="parked")
app.add_typer(documents_app, name="documents")
app.add_typer(users_app, name="users")
app.add_typer(clients_app, name="clients")
app.add_typer(bench_app, name="bench")
# Components' commands, imported by name: hub does not depend on them statically.
for _name, _ref in CLI_COMMANDS.items():
    app.add_typer(resolve(_ref), name=_name)
app.command("queues")(list_queues)
app.command("init")(init_directory)


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", envvar="HUB_CONFIG",
        help="settings file (default: hub.yaml, when present)")] = None,
) -> None:
    """Regional health-data interoperability hub."""
    ctx.obj = CliState(config=config)


# -- run ----------------------------------------------------------------------


def configure_logging(level: str) -> None:
    """Root logging on stderr: time, level, logger, message."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        fail(f"log_level: unknown level {level!r}, expected DEBUG, INFO, WARNING or ERROR")
    logging.basicConfig(level=numeric, format=LOG_FORMAT, stream=sys.stderr, force=True)


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when it is installed, else asyncio's default."""
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def started_line(hub: Hub) -> str:
    """The one line ``hub run`` prints once every listener is up."""
    s = hub.settings
    mllp = f"{s.mllp.host}:{hub.mllp_port}" if hub.mllp_port is not None else "off"
    http = f"{s.http.host}:{hub.http_port}" if hub.http_port is not None else "off"
    return f"hub started: mllp {mllp}, http {http}"


async def _until_ready(hub: Hub, serving: asyncio.Task[None]) -> None:
    while not hub.ready:
        if serving.done():
            serving.result()
            raise HubError("the hub stopped while starting")
        await asyncio.sleep(READY_POLL_S)


async def serve(settings: Settings, announce: Callable[[Hub], None]) -> None:
    """Run a hub until SIGINT or SIGTERM, then stop it cleanly."""
    hub = Hub(settings)
    main_task = asyncio.current_task()
    assert main_task is not None
    loop = asyncio.get_running_loop()
    signalled: list[int] = []

    def on_signal(number: int) -> None:
        if signalled:
            err.print("already stopping, please wait")
            return
        signalled.append(number)
        main_task.cancel()

    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, on_signal, number)
    serving = asyncio.create_task(hub.serve_forever(), name="hub")
    try:
        await _until_ready(hub, serving)
        announce(hub)
        await serving
    except asyncio.CancelledError:
        if not signalled:
            raise
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
    finally:
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)


@app.command()
def run(ctx: typer.Context) -> None:
    """Start the hub and serve until SIGINT/SIGTERM."""
    settings = settings_of(ctx)
    configure_logging(settings.log_level)

    def announce(hub: Hub) -> None:
        typer.echo(started_line(hub), err=True)

    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(serve(settings, announce))
    except HubError as exc:
        fail(str(exc))
    err.print("hub stopped")


# -- bench --------------------------------------------------------------------


def _flatten(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in values.items():
        if isinstance(value, Mapping):
            rows.extend(_flatten(value, f"{prefix}{key}."))
        else:
            rows.append((f"{prefix}{key}", str(value)))
    return rows


def print_result(result: Mapping[str, Any], as_json: bool) -> None:
    """A benchmark's figures: one JSON line, or a two-column table."""
    if as_json:
        print_json_line(result)
        return
    table = Table("measure", "value")
    for key, value in _flatten(result):
        table.add_row(escape(key), escape(value))
    out.print(table)


@bench_app.command("mllp")
def bench_mllp(
    messages: Annotated[int, typer.Option(min=1, help="messages to send")] = 20000,
    connections: Annotated[int, typer.Option(min=1, help="parallel MLLP connections")] = 8,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    host: Annotated[str | None, typer.Option(help="hub MLLP host (with --no-spawn)")] = None,
    port: Annotated[int | None, typer.Option(help="hub MLLP port (with --no-spawn)")] = None,
    sink_port: Annotated[int | None, typer.Option(
        help="port of the MLLP sink that receives the deliveries")] = None,
    rate: Annotated[float, typer.Option(min=0, help="messages per second, 0 = flat out")] = 0,
    spawn: Annotated[bool, typer.Option(
        "--spawn/--no-spawn", help="start a hub subprocess on a temporary directory")] = True,
    sink_down: Annotated[bool, typer.Option(
        "--sink-down", help="leave the destination stopped: measure memory under backlog")] = False,
    broker_url: Annotated[str | None, typer.Option(
        help="broker of the spawned hub (default embedded)")] = None,
    database_url: Annotated[str | None, typer.Option(
        help="database of the spawned hub (default SQLite)")] = None,
) -> None:
    """Measure MLLP intake throughput, ACK latency, delivery rate and hub memory."""
    from hub.bench import run_bench

    result = run_bench(messages=messages, connections=connections, host=host, port=port,
                       sink_port=sink_port, rate=rate, spawn=spawn, sink_down=sink_down,
                       broker_url=broker_url, database_url=database_url)
    print_result(result, as_json)


@bench_app.command("mappings")
def bench_mappings(
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    repeat: Annotated[int | None, typer.Option(
        min=1, help="timed calls per mapping (default: per mapping)")] = None,
) -> None:
    """Measure microseconds per message of each mapping (median)."""
    # hub must not import mappings statically: dependencies point inward.
    bench = importlib.import_module("mappings.bench")
    result: dict[str, float] = bench.run(json_output=as_json, repeat=repeat)
    if as_json:
        print_json_line(result)
        return
    table = Table("mapping", "µs per message (median)")
    for key, value in result.items():
        table.add_row(escape(key), f"{value:,.1f}")
    out.print(table)


@bench_app.command("mssante")
def bench_mssante(
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    documents: Annotated[int, typer.Option(min=20, help="documents to mail")] = 1000,
    concurrency: Annotated[int, typer.Option(min=1, help="jobs at once (lanes)")] = 4,
) -> None:
    """Measure CI-SIS documents to MSSanté mails (XDM, SMTP with mutual TLS): mails/s, p95."""
    # hub must not import connectors statically: dependencies point inward.
    bench = importlib.import_module("connectors.mssante.bench")
    result: dict[str, Any] = bench.run(documents=documents, concurrency=concurrency)
    print_result(result, as_json)


@bench_app.command("identity")
def bench_identity(
    dataset: Annotated[str, typer.Option(help="febrl4 or synthetic-fr")] = "febrl4",
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    size: Annotated[int | None, typer.Option(
        min=100, help="persons generated for synthetic-fr (default 100,000; "
        "532,000 with --store postgresql, about 1,000,000 records)")] = None,
    store: Annotated[str, typer.Option(
        help="memory (matching quality) or postgresql (speed on the SQL store)")] = "memory",
    database_url: Annotated[str | None, typer.Option(
        help="fresh PostgreSQL database for --store postgresql")] = None,
    probes: Annotated[int | None, typer.Option(
        min=1, help="incoming records timed with --store postgresql (default 1,000)")] = None,
) -> None:
    """Measure identity matching: precision, recall and review rate, identities/s."""
    # hub must not import identity statically: dependencies point inward.
    bench = importlib.import_module("identity.bench")
    if dataset not in bench.DATASETS:
        fail(f"--dataset is {dataset!r}, expected one of {', '.join(bench.DATASETS)}", 2)
    if store == "postgresql":
        if dataset != "synthetic-fr" or not database_url:
            fail("--store postgresql needs --dataset synthetic-fr and --database-url", 2)
        bench_sql = importlib.import_module("identity.bench_sql")
        result: dict[str, Any] = bench_sql.run_sql(database_url, size, probes)
    elif store == "memory":
        result = bench.run(dataset, json_output=as_json, size=size)
    else:
        fail(f"--store is {store!r}, expected memory or postgresql", 2)
    print_result(result, as_json)


@bench_app.command("documents")
def bench_documents(
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    documents: Annotated[int, typer.Option(
        min=1, help="CR-BIO documents sent over HTTP, and as many over MLLP")] = 1000,
    search_documents: Annotated[int, typer.Option(
        min=1, help="documents bulk-loaded before the run, searched by ITI-67")] = 100_000,
    searches: Annotated[int, typer.Option(min=1, help="timed ITI-67 searches")] = 1000,
    database_url: Annotated[str | None, typer.Option(
        help="fresh database of the spawned hub (default: SQLite, temporary)")] = None,
) -> None:
    """Measure documents filed per second (HTTP, MLLP) and ITI-67 latency on a filled repository."""
    from hub.repository.bench import run_bench as run_documents_bench

    result = run_documents_bench(documents=documents, search_documents=search_documents,
                                 searches=searches, database_url=database_url)
    print_result(result, as_json)


@bench_app.command("dicom")
def bench_dicom(
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    small: Annotated[int, typer.Option(min=1, help="small CT instances (40-520 KB)")] = 300,
    large: Annotated[int, typer.Option(min=1, help="large instances (2-8 MB)")] = 40,
) -> None:
    """storescu to the hub and to Orthanc side by side; the hub's forwarding rate."""
    from hub.imaging.bench import BenchError, run

    try:
        result = run(small=small, large=large)
    except BenchError as exc:
        fail(str(exc))
    print_result(result, as_json)


def main() -> None:
    """Console script entry point (``hub = "hub.cli:main"``)."""
    app()


if __name__ == "__main__":
    main()
