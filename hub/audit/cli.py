"""``hub audit verify|list``: the audit trail of the configured database, offline."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer

from hub.audit.store import AuditQuery, AuditTrail
from hub.cli_common import err, fail, out, print_json_line, settings_of
from hub.db.engine import Database

app = typer.Typer(help="The audit trail.", no_args_is_help=True)


async def _open(ctx: typer.Context) -> Database:
    db = await Database.open(settings_of(ctx).effective_database_url)
    await db.upgrade()
    return db


@app.command("verify")
def verify(ctx: typer.Context) -> None:
    """Recompute the hash chain; exit 1 naming the first record that breaks it."""

    async def run() -> tuple[int, tuple[int, str] | None]:
        db = await _open(ctx)
        try:
            return await AuditTrail(db).verify()
        finally:
            await db.close()

    checked, broken = asyncio.run(run())
    if broken is not None:
        fail(f"audit chain broken at record {broken[0]}: {broken[1]} "
             f"({checked} records before it verified)")
    out.print(f"audit chain intact: {checked} records")


@app.command("list")
def list_records(
    ctx: typer.Context,
    patient: Annotated[str | None, typer.Option(help="system|value")] = None,
    principal: Annotated[str | None, typer.Option(help="principal id")] = None,
    since_s: Annotated[float | None, typer.Option(help="only the last N seconds")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Records newest first (JSON lines): who did what, to which patients."""

    async def run() -> None:
        db = await _open(ctx)
        try:
            since = time.time() - since_s if since_s else None
            total, records = await AuditTrail(db).search(
                AuditQuery(patient=patient, principal=principal, since=since, limit=limit))
        finally:
            await db.close()
        for record in records:
            print_json_line({"seq": record.seq, **record.content})
        err.print(f"{len(records)} of {total} record(s)")

    asyncio.run(run())
