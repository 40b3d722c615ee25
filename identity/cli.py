"""``hub identity``: the SRRI's review queue and identities, through the running hub's API.

::

    hub identity review list [--status open|linked|separated|all] [--json]
    hub identity review show ID [--json]
    hub identity review decide ID --link|--apart --by WHO --reason WHY
    hub identity show IDENTITY_ID [--json]
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from hub.cli_admin import JsonOption, UrlOption, client_for
from hub.cli_common import REFUSED, fail, out, print_json_line

app = typer.Typer(help="The regional identity server: review queue and identities.",
                  no_args_is_help=True)
review_app = typer.Typer(help="Pairs of records waiting for a person's decision.",
                         no_args_is_help=True)
app.add_typer(review_app, name="review")


def _side(side: dict[str, Any] | None) -> str:
    if not side:
        return "(unknown)"
    given = " ".join(side.get("given_names") or [])
    ins = f" INS {side['ins']}" if side.get("ins") else ""
    return (f"{side['authority']} / {side['ipp']}: {side.get('birth_name') or '?'} {given}, "
            f"{side.get('birth_date') or '?'} {side.get('sex')}, "
            f"{side.get('birthplace') or '-'} [{side.get('status')}]{ins}")


@review_app.command("list")
def review_list(
    ctx: typer.Context,
    status: Annotated[str, typer.Option(help="open, linked, separated or all")] = "open",
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """The review queue, oldest first."""
    rows = client_for(ctx, url).json("GET", "/api/identity/reviews", params={"status": status})
    if as_json:
        for row in rows:
            print_json_line(row)
        return
    table = Table(title=f"{len(rows)} review(s), {status}", title_justify="left")
    for column in ("id", "kind", "score", "incoming", "stored"):
        table.add_column(column, no_wrap=column == "id", overflow="fold")
    for row in rows:
        score = "" if row["score"] is None else f"{row['score']:.1f}"
        table.add_row(row["id"], row["kind"], score, escape(_side(row["incoming"])),
                      escape(_side(row["stored"])))
    out.print(table)


@review_app.command("show")
def review_show(ctx: typer.Context, review_id: str, as_json: JsonOption = False,
                url: UrlOption = None) -> None:
    """One review: both records and the score field by field."""
    row = client_for(ctx, url).json("GET", f"/api/identity/reviews/{review_id}")
    if as_json:
        print_json_line(row)
        return
    out.print(f"[bold]review {row['id']}[/bold] ({row['kind']}, {row['status']})")
    out.print(f"incoming: {escape(_side(row['incoming']))}")
    out.print(f"stored:   {escape(_side(row['stored']))}")
    explanation = row["explanation"]
    table = Table(title=f"score {explanation.get('score')} ({explanation.get('rule')})",
                  title_justify="left")
    for column in ("field", "level", "weight"):
        table.add_column(column)
    for item in explanation.get("fields", []):
        table.add_row(item["field"], str(item["level"]), str(item["weight"]))
    out.print(table)
    if explanation.get("vetoes"):
        out.print(f"vetoes: {', '.join(explanation['vetoes'])}")


@review_app.command("decide")
def review_decide(
    ctx: typer.Context,
    review_id: str,
    by: Annotated[str, typer.Option(help="who decides")],
    reason: Annotated[str, typer.Option(help="why")],
    link: Annotated[bool, typer.Option("--link", help="same person: link them")] = False,
    apart: Annotated[bool, typer.Option("--apart", help="different people")] = False,
    url: UrlOption = None,
) -> None:
    """Link the pair or keep it apart (never undone by the matcher)."""
    if link == apart:
        fail("say --link or --apart (exactly one)", REFUSED)
    body = {"decision": "link" if link else "apart", "by": by, "reason": reason}
    result = client_for(ctx, url).json("POST", f"/api/identity/reviews/{review_id}/decision",
                                       json=body)
    out.print(f"review {review_id}: {body['decision']}; identity {result['identity_id']}")


@app.command("show")
def identity_show(ctx: typer.Context, identity_id: str, as_json: JsonOption = False,
                  url: UrlOption = None) -> None:
    """A regional identity: its records and its history."""
    body = client_for(ctx, url).json("GET", f"/api/identity/identities/{identity_id}")
    if as_json:
        print_json_line(body)
        return
    out.print(f"[bold]identity {identity_id}[/bold]")
    for record in body["records"]:
        state = "" if record["active"] else " (merged away)"
        out.print(f"  {escape(_side(record))} via {record['provenance']}{state}")
    for entry in body["log"]:
        detail = json.dumps(entry["detail"])[1:-1] if entry["detail"] else ""
        out.print(f"  {entry['kind']:<18} {entry['record'] or '':<40} {escape(detail)}")
