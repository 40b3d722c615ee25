"""``hub mssante``: the RPPS -> MSSanté directory and the mailbox, through the running hub's API.

::

    hub mssante directory import FILE.csv
    hub mssante directory show RPPS [--json]
    hub mssante directory set RPPS ADDRESS [--family F --given G]
    hub mssante poll
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hub.cli_admin import JsonOption, UrlOption, client_for
from hub.cli_common import fail, out, print_json_line

app = typer.Typer(help="MSSanté: directory of professionals' mailboxes, inbound mailbox.",
                  no_args_is_help=True)
directory_app = typer.Typer(help="RPPS -> MSSanté address directory.", no_args_is_help=True)
app.add_typer(directory_app, name="directory")


@directory_app.command("import")
def directory_import(ctx: typer.Context, path: Path, url: UrlOption = None) -> None:
    """Import a CSV (rpps, address[, family, given]; ANS extraction headers accepted)."""
    if not path.is_file():
        fail(f"{path} not found")
    result = client_for(ctx, url).json("POST", "/api/mssante/directory",
                                       content=path.read_bytes(),
                                       headers={"Content-Type": "text/csv"})
    out.print(f"{result['imported']} entries imported")


@directory_app.command("show")
def directory_show(ctx: typer.Context, rpps: str, as_json: JsonOption = False,
                   url: UrlOption = None) -> None:
    """The MSSanté address of one professional."""
    entry = client_for(ctx, url).json("GET", f"/api/mssante/directory/{rpps}")
    if as_json:
        print_json_line(entry)
        return
    out.print(f"{entry['rpps']}  {entry['address']}  {entry.get('family') or ''} "
              f"{entry.get('given') or ''}".rstrip())


@directory_app.command("set")
def directory_set(ctx: typer.Context, rpps: str, address: str,
                  family: Annotated[str | None, typer.Option()] = None,
                  given: Annotated[str | None, typer.Option()] = None,
                  url: UrlOption = None) -> None:
    """Set the MSSanté address of one professional."""
    entry = client_for(ctx, url).json("PUT", f"/api/mssante/directory/{rpps}",
                                      json={"address": address, "family": family,
                                            "given": given})
    out.print(f"{entry['rpps']}  {entry['address']}")


@app.command("poll")
def poll(ctx: typer.Context, url: UrlOption = None) -> None:
    """Poll the applicative mailbox now; one line per mail handled."""
    for outcome in client_for(ctx, url).json("POST", "/api/mssante/poll")["outcomes"]:
        out.print(outcome)
