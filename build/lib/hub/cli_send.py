"""``hub send hl7``: send message files over MLLP and show each ACK.

A file holds one message or several: a new message starts at every line
beginning with ``MSH``; ``\\r\\n`` and ``\\n`` line ends become ``\\r`` (HL7
v2.5 2.5.4), blank lines are dropped, MLLP framing bytes are ignored. The
MLLP client lives in ``connectors`` and is resolved by name, as the hub
does (dependencies point inward).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Protocol

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from hub.cli_common import connect_host, err, fail, out, print_json_line, settings_of
from hub.errors import ParseError
from hub.hl7.ack import fallback_control_id, parse_ack
from hub.registry import resolve

CLIENT_REF = "connectors.mllp.client:MLLPClient"
ERROR_REF = "connectors.mllp.client:MLLPError"
TLS_REF = "connectors.mllp.tls:client_context"

send_app = typer.Typer(help="Send messages to a hub (or any MLLP listener).",
                       no_args_is_help=True)


class Sender(Protocol):
    """What ``hub send`` needs from the MLLP client."""

    async def send(self, payload: bytes) -> bytes: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message read from a file."""

    file: str
    index: int
    payload: bytes

    @property
    def control_id(self) -> str:
        """MSH-10, read without a full parse."""
        return fallback_control_id(self.payload)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the receiver answered to one message."""

    file: str
    index: int
    control_id: str
    ack_code: str
    text: str
    error_code: str

    @property
    def accepted(self) -> bool:
        """AA or CA."""
        return self.ack_code in ("AA", "CA")


def split_messages(data: bytes) -> list[bytes]:
    """The messages of one file, each a run of ``\\r``-terminated segments from MSH.

    Raises ValueError when something other than blank lines comes before the
    first ``MSH``.
    """
    text = data.removeprefix(b"\xef\xbb\xbf").replace(b"\x0b", b"").replace(b"\x1c", b"")
    lines = text.replace(b"\r\n", b"\r").replace(b"\n", b"\r").split(b"\r")
    messages: list[list[bytes]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if line.startswith(b"MSH"):
            messages.append([])
        elif not messages:
            raise ValueError(f"line {number} comes before the first MSH segment: {line[:20]!r}")
        messages[-1].append(line)
    return [b"\r".join(segments) + b"\r" for segments in messages]


def read_messages(files: Sequence[Path]) -> list[Outgoing]:
    """Every message of every file, in order; exit 1 naming a file that cannot be used."""
    found: list[Outgoing] = []
    for path in files:
        try:
            payloads = split_messages(path.read_bytes())
        except (OSError, ValueError) as exc:
            fail(f"{path}: {exc}")
        if not payloads:
            fail(f"{path}: no MSH segment, not an HL7 v2 message")
        found.extend(Outgoing(path.name, n, p) for n, p in enumerate(payloads, 1))
    return found


def outcome_of(message: Outgoing, reply: bytes) -> Outcome:
    """Read the ACK (MSA-1, MSA-3 or ERR-8, ERR-3.1)."""
    try:
        ack = parse_ack(reply)
    except ParseError as exc:
        return Outcome(message.file, message.index, message.control_id, "?",
                       f"unreadable reply: {exc}", "")
    return Outcome(message.file, message.index, message.control_id, ack.code, ack.text,
                   ack.error_code)


def _tls_context(cafile: Path | None, insecure: bool) -> ssl.SSLContext:
    context: ssl.SSLContext = resolve(TLS_REF)(
        cafile=str(cafile) if cafile else None, verify=not insecure
    )
    return context


async def exchange(
    sender: Sender, messages: Sequence[Outgoing], progress: Progress
) -> tuple[list[Outcome], str | None]:
    """Send each message in turn (HL7 original mode), advancing ``progress``.

    Returns the outcomes so far and, when the connection failed, why.
    """
    transport_errors = (OSError, TimeoutError, resolve(ERROR_REF))
    task = progress.add_task("sending", total=len(messages))
    outcomes: list[Outcome] = []
    try:
        for message in messages:
            outcomes.append(outcome_of(message, await sender.send(message.payload)))
            progress.advance(task)
    except transport_errors as exc:
        return outcomes, str(exc) or type(exc).__name__
    finally:
        await sender.close()
    return outcomes, None


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    console=err, transient=True)


def _show(outcomes: Sequence[Outcome], as_json: bool) -> None:
    if as_json:
        for outcome in outcomes:
            print_json_line(asdict(outcome))
        return
    table = Table("file", "#", "MSH-10", "ACK", "text")
    for o in outcomes:
        style = "green" if o.accepted else "red"
        note = o.text + (f" ({o.error_code})" if o.error_code else "")
        table.add_row(escape(o.file), str(o.index), escape(o.control_id),
                      f"[{style}]{escape(o.ack_code)}[/{style}]", escape(note))
    out.print(table)


def _target(ctx: typer.Context, host: str | None, port: int | None) -> tuple[str, int]:
    if host is not None and port is not None:
        return host, port
    settings = settings_of(ctx)
    return (host if host is not None else connect_host(settings.mllp.host),
            port if port is not None else settings.mllp.port)


@send_app.command("hl7")
def send_hl7(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="files of one or more HL7 v2 messages",
                                                exists=True, dir_okay=False)],
    host: Annotated[str | None, typer.Option(help="MLLP host (default: mllp.host)")] = None,
    port: Annotated[int | None, typer.Option(help="MLLP port (default: mllp.port)")] = None,
    tls: Annotated[bool, typer.Option("--tls", help="connect over TLS")] = False,
    cafile: Annotated[Path | None, typer.Option(help="CA bundle to verify the server")] = None,
    insecure: Annotated[bool, typer.Option("--insecure",
                                           help="TLS without certificate checks")] = False,
    timeout: Annotated[float, typer.Option(help="seconds to wait for each ACK")] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON line per message")] = False,
) -> None:
    """Send every message and print its MSH-10 and ACK; exit 1 unless all are AA/CA."""
    messages = read_messages(files)
    where_host, where_port = _target(ctx, host, port)
    context = _tls_context(cafile, insecure) if tls or cafile or insecure else None
    client: Sender = resolve(CLIENT_REF)(where_host, where_port, ssl=context,
                                         response_timeout_s=timeout)
    with _progress() as progress:
        outcomes, broken = asyncio.run(exchange(client, messages, progress))
    _show(outcomes, as_json)
    if broken is not None:
        fail(f"MLLP {where_host}:{where_port}: {broken} "
             f"({len(outcomes)} of {len(messages)} message(s) answered)")
    refused = [o for o in outcomes if not o.accepted]
    if refused:
        err.print(f"{len(refused)} of {len(outcomes)} message(s) not accepted")
        raise typer.Exit(1)

