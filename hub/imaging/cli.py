"""``hub send dicom`` and ``hub studies list``.

``hub send dicom FILE|DIR... [--host --port --aet --calling-aet]`` sends
every DICOM file over one association with a progress bar and prints the
C-STORE status of each; ``hub studies list`` reads the studies the running
hub holds through its admin API.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from hub.cli_admin import UrlOption, client_for
from hub.cli_common import connect_host, err, fail, out, print_json_line, settings_of
from hub.cli_send import send_app

studies_app = typer.Typer(help="Imaging studies held by the router.", no_args_is_help=True)
SEND_REF = "connectors.dicom.send"


@send_app.command("dicom")
def send_dicom(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="DICOM files or directories",
                                                exists=True)],
    host: Annotated[str | None, typer.Option(help="DICOM host (default: dicom.host)")] = None,
    port: Annotated[int | None, typer.Option(help="DICOM port (default: dicom.port)")] = None,
    aet: Annotated[str | None, typer.Option(help="called AE title (default: dicom.ae_title)")
                   ] = None,
    calling_aet: Annotated[str, typer.Option(help="our AE title")] = "HUBCLI",
    as_json: Annotated[bool, typer.Option("--json", help="one JSON line per file")] = False,
) -> None:
    """C-STORE files over one association; exit 1 unless every one is stored."""
    sender = importlib.import_module(SEND_REF)
    files = sender.dicom_files(paths)
    settings = settings_of(ctx) if None in (host, port, aet) else None
    where = host or connect_host(settings.dicom.host if settings else "127.0.0.1")
    where_port = port or (settings.dicom.port if settings else 11112)
    called = aet or (settings.dicom.ae_title if settings else "HUB")
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        console=err, transient=True)
    with progress:
        task = progress.add_task("C-STORE", total=len(files))
        try:
            results = sender.send_files(files, where, where_port, called_ae=called,
                                        calling_ae=calling_aet,
                                        progress=lambda _: progress.advance(task))
        except ConnectionError as exc:
            fail(str(exc))
    _show(results, as_json)
    refused = [r for r in results if not r.stored]
    if refused:
        err.print(f"{len(refused)} of {len(results)} file(s) not stored")
        raise typer.Exit(1)


def _show(results: list[Any], as_json: bool) -> None:
    if as_json:
        for r in results:
            print_json_line({"file": r.file, "sop_instance_uid": r.sop_instance_uid,
                             "status": r.status, "error": r.error})
        return
    table = Table("file", "SOP Instance UID", "status", "error")
    for r in results:
        status = "-" if r.status is None else f"0x{r.status:04X}"
        style = "green" if r.stored else "red"
        table.add_row(escape(r.file), escape(r.sop_instance_uid),
                      f"[{style}]{status}[/{style}]", escape(r.error))
    out.print(table)


@studies_app.command("list")
def list_studies(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="at most this many")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON line per study")] = False,
    url: UrlOption = None,
) -> None:
    """Studies held, newest first: complete (indexed) or still arriving."""
    client = client_for(ctx, url)
    rows: list[dict[str, Any]] = client.request(
        "GET", "/api/imaging/studies", params={"limit": str(limit)},
        not_found=f"the hub at {client.base_url} does not run the imaging component "
        "('imaging' is not in its components)").json()
    if as_json:
        for row in rows:
            print_json_line(row)
        return
    table = Table("StudyInstanceUID", "date", "modality", "description", "source",
                  "instances", "state", "last instance")
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["last_received_at"]))
        table.add_row(*(escape(str(v or "")) for v in (
            r["study_uid"], r["study_date"], r["modalities"], r["description"], r["source"],
            r["instances"], "complete" if r["complete"] else "receiving", when)))
    out.print(table)
    err.print(f"{len(rows)} study(ies)")
