"""``hub send cda`` and ``hub documents``: the document repository through the HTTP API.

``hub send cda FILE...`` uploads CDA documents (``POST /documents``) with a
progress bar and prints what became of each. ``hub documents list``,
``show`` and ``get`` read through MHD (ITI-67, read, ITI-68) with the admin
token: the requests say ``X-Hub-Reader: admin``, which only a credential
with the ``admin`` role may ask for, so masked documents are listed too
(and every read is in the audit trail). Both say whether a document may be shared with national
services (``national``: the patient's INS is qualified).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from hub.cli_admin import UrlOption, client_for, read_token
from hub.cli_common import FAILED, err, fail, out, print_json_line, settings_of
from hub.cli_send import send_app
from hub.repository.resources import is_shareable

documents_app = typer.Typer(help="Documents in the repository: list, show, get.",
                            no_args_is_help=True)
ADMIN_READER = {"X-Hub-Reader": "admin"}


def _upload(http: httpx.Client, path: Path) -> dict[str, Any]:
    """POST one file; the summary, or ``{"error": ...}`` (the run goes on)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return {"file": str(path), "error": f"cannot read: {exc.strerror or exc}"}
    try:
        response = http.post("/documents", content=data,
                             headers={"Content-Type": "application/xml"})
    except httpx.ConnectError:
        fail(f"the hub is not running at {http.base_url} (connection refused)")
    except httpx.HTTPError as exc:
        return {"file": str(path), "error": f"{type(exc).__name__}: {exc}"}
    try:
        body = response.json()
    except ValueError:
        body = {"error": response.text[:300]}
    if response.status_code >= 400:
        return {"file": str(path), "error": f"HTTP {response.status_code}: "
                f"{body.get('error', body)}"}
    return {"file": str(path), **body}


@send_app.command("cda")
def send_cda(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="CDA R2 documents (XML)")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table")] = False,
    url: UrlOption = None,
) -> None:
    """Upload CDA documents to the hub's repository; print what became of each."""
    client = client_for(ctx, url)
    token = read_token(settings_of(ctx))
    results = []
    with httpx.Client(base_url=client.base_url, timeout=60.0,
                      headers={"Authorization": f"Bearer {token}"}) as http, \
            Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                     console=err, transient=True) as progress:
        task = progress.add_task("sending", total=len(files))
        for path in files:
            results.append(_upload(http, path))
            progress.advance(task)
    _show_uploads(results, as_json)
    if any("error" in r for r in results):
        raise typer.Exit(FAILED)


def _show_uploads(results: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        for result in results:
            print_json_line(result)
        return
    table = Table(title=None)
    for name in ("file", "outcome", "id", "status", "detail"):
        table.add_column(name, overflow="fold")
    for r in results:
        detail = r.get("error") or r.get("note") or r.get("unique_id", "")
        table.add_row(*(escape(str(v or "")) for v in (
            r["file"], "refused" if "error" in r else r.get("outcome"), r.get("id"),
            r.get("status"), detail)))
    out.print(table)


@documents_app.command("list")
def list_documents(
    ctx: typer.Context,
    patient: Annotated[str, typer.Option(help="SYSTEM|VALUE, e.g. urn:oid:1.2.250.1.213.1.4.8|"
                                         "<INS>")],
    status: Annotated[str | None, typer.Option(help="current, superseded, entered-in-error")
                      ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="at most this many")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="DocumentReferences as JSON lines")
                       ] = False,
    url: UrlOption = None,
) -> None:
    """Documents of a patient (ITI-67, every identifier of the same identity), newest first."""
    params = {"patient.identifier": patient, "_count": str(limit)}
    if status:
        params["status"] = status
    page = client_for(ctx, url).json("GET", "/fhir/DocumentReference", params=params,
                                     headers=ADMIN_READER)
    resources = [e["resource"] for e in page.get("entry", [])]
    if as_json:
        for resource in resources:
            print_json_line(resource)
        return
    table = Table(title=None)
    for name in ("id", "status", "type", "created", "title", "bytes", "national"):
        table.add_column(name, no_wrap=name == "id", overflow="fold")
    for r in resources:
        attachment = r["content"][0]["attachment"]
        kind = r.get("type", {}).get("coding", [{}])[0]
        table.add_row(*(escape(str(v or "")) for v in (
            r["id"], r["status"], kind.get("display") or kind.get("code"),
            attachment.get("creation"), attachment.get("title"), attachment.get("size"),
            _national(r))))
    out.print(table)
    err.print(f"{page.get('total', len(resources))} document(s)")


@documents_app.command("show")
def show_document(
    ctx: typer.Context,
    doc_id: Annotated[str, typer.Argument(help="the DocumentReference id")],
    url: UrlOption = None,
) -> None:
    """The DocumentReference of one document, as JSON."""
    resource = client_for(ctx, url).json(
        "GET", f"/fhir/DocumentReference/{quote(doc_id, safe='')}", headers=ADMIN_READER)
    typer.echo(json.dumps(resource, ensure_ascii=False, indent=2))
    err.print(f"shareable nationally: {_national(resource)}")


def _national(resource: dict[str, Any]) -> str:
    """``yes``, or ``no`` with the reason (the repository's shareable mark)."""
    shareable = is_shareable(resource)
    if shareable is None:
        return "unknown"
    return "yes" if shareable else "no (no qualified INS)"


@documents_app.command("get")
def get_document(
    ctx: typer.Context,
    doc_id: Annotated[str, typer.Argument(help="the DocumentReference id")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="file to write "
                                                "(default: standard output)")] = None,
    url: UrlOption = None,
) -> None:
    """The exact bytes of one document (ITI-68)."""
    response = client_for(ctx, url).request(
        "GET", f"/fhir/Binary/{quote(doc_id, safe='')}", headers=ADMIN_READER)
    if output is None:
        sys.stdout.buffer.write(response.content)
        sys.stdout.buffer.flush()
        return
    try:
        output.write_bytes(response.content)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    err.print(f"{len(response.content)} bytes written to {escape(str(output))}")
