"""What the ``mssante`` component keeps: the RPPS directory and the mails it sent.

* ``mssante_directory``: RPPS number -> MSSanté address, imported from a CSV
  (the ANS "annuaire santé" extraction has one line per professional; the
  columns the hub reads are named in :data:`CSV_COLUMNS`) or set through
  the admin API;
* ``mssante_deliveries``: one row per delivery key with the attempts made
  and the RFC 5322 Message-ID sent, stable across retries;
* ``mssante_recipients``: one row per recipient of a delivery: ``sent``,
  ``refused`` (with the SMTP code) or ``read``. A retry skips the recipients
  already ``sent`` (nothing is mailed twice to one person), and an MDN finds
  the journal message it acknowledges by Message-ID and reporter address.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from hub.db.committer import Write
from hub.db.engine import Database
from hub.db.tables import mssante_deliveries, mssante_directory, mssante_recipients
from hub.errors import MappingError

CSV_COLUMNS = ("rpps", "address", "family", "given")
"""Columns read from a directory CSV (header row required; ``;`` or ``,`` separated).

The ANS extraction's spellings are accepted too: ``Identification nationale PP``
(rpps), ``Adresse BAL MSSanté`` (address), ``Nom d'exercice`` (family),
``Prénom d'exercice`` (given)."""
_ALIASES = {
    "identification nationale pp": "rpps", "identifiant pp": "rpps", "rpps": "rpps",
    "adresse bal mssanté": "address", "adresse bal mssante": "address", "address": "address",
    "mail": "address", "nom d'exercice": "family", "family": "family",
    "prénom d'exercice": "given", "given": "given",
}


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One professional of the directory."""

    rpps: str
    address: str
    family: str | None = None
    given: str | None = None


@dataclass(frozen=True, slots=True)
class SentRecipient:
    """A recipient of a mail the hub sent, as the MDN handling needs it."""

    delivery_key: str
    message_id: str
    address: str
    recipient_id: str
    read_asked: bool
    status: str


def _upsert(db: Database, table: Any, keys: Sequence[str], columns: Sequence[str]) -> Insert:
    dialect = postgresql if db.dialect == "postgresql" else sqlite
    statement = dialect.insert(table)
    upsert: Insert = statement.on_conflict_do_update(
        index_elements=list(keys), set_={c: statement.excluded[c] for c in columns})
    return upsert


def check_rpps(value: str) -> str:
    """An RPPS number: 11 digits (an IDNPS ``8`` + RPPS is accepted and reduced)."""
    text = value.strip()
    if len(text) == 12 and text.startswith("8"):
        text = text[1:]
    if len(text) != 11 or not text.isdigit():
        raise MappingError(f"RPPS {value!r} is not 11 digits", location="rpps")
    return text


def check_address(value: str) -> str:
    """A mailbox ``local@domain`` (refused when it has spaces or no domain)."""
    text = value.strip()
    local, _, domain = text.rpartition("@")
    if not local or "." not in domain or any(c.isspace() for c in text):
        raise MappingError(f"address {value!r} is not a mailbox", location="address")
    return text


def read_directory_csv(data: str) -> list[DirectoryEntry]:
    """Parse a directory CSV (see :data:`CSV_COLUMNS`); MappingError names the line."""
    dialect = ";" if data.partition("\n")[0].count(";") > data.partition("\n")[0].count(",") \
        else ","
    reader = csv.DictReader(io.StringIO(data), delimiter=dialect)
    fields = {name: _ALIASES.get(name.strip().lower().lstrip("\ufeff"), "")
              for name in reader.fieldnames or []}
    if not {"rpps", "address"} <= set(fields.values()):
        raise MappingError(f"header {list(fields)} lacks an RPPS and an address column",
                           location="line 1")
    entries = []
    for line, row in enumerate(reader, 2):
        values = {fields[k]: (v or "").strip() for k, v in row.items() if k in fields}
        if not values.get("address"):
            continue
        try:
            entries.append(DirectoryEntry(check_rpps(values.get("rpps", "")),
                                          check_address(values["address"]),
                                          values.get("family") or None,
                                          values.get("given") or None))
        except MappingError as exc:
            raise MappingError(str(exc), location=f"line {line}") from None
    return entries


class MailStore:
    """The component's tables (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._directory = _upsert(db, mssante_directory, ["rpps"],
                                  ["address", "family", "given", "origin", "updated_at"])
        self._delivery = _upsert(db, mssante_deliveries, ["delivery_key"],
                                 ["attempts", "updated_at"])
        self._recipient = _upsert(db, mssante_recipients, ["delivery_key", "address"],
                                  ["status", "smtp_code", "updated_at"])
        r = mssante_recipients.c
        self._read = update(mssante_recipients).where(
            r.delivery_key == bindparam("b_key"), r.address == bindparam("b_address")).values(
            status="read", updated_at=bindparam("b_at"))

    # -- directory ----------------------------------------------------------------

    async def put_directory(self, entries: Iterable[DirectoryEntry], origin: str) -> int:
        """Insert or replace ``entries``; return how many."""
        now = time.time()
        ops = [Write(self._directory, {"rpps": e.rpps, "address": e.address,
                                       "family": e.family, "given": e.given,
                                       "origin": origin, "updated_at": now}) for e in entries]
        if ops:
            await self.db.committer.run(*ops, urgent=True)
        return len(ops)

    async def lookup(self, rpps_numbers: Sequence[str]) -> dict[str, DirectoryEntry]:
        """The directory entries of ``rpps_numbers`` that are known."""
        if not rpps_numbers:
            return {}
        d = mssante_directory.c
        rows = await self.db.fetch(select(mssante_directory).where(d.rpps.in_(rpps_numbers)))
        return {r.rpps: DirectoryEntry(r.rpps, r.address, r.family, r.given) for r in rows}

    # -- deliveries ---------------------------------------------------------------

    async def begin_attempt(self, key: str, mail_id: str) -> tuple[int, str]:
        """Count one more attempt of delivery ``key``; return it and the Message-ID to use."""
        rows = await self.db.fetch(select(mssante_deliveries).where(
            mssante_deliveries.c.delivery_key == key))
        attempts = (rows[0].attempts if rows else 0) + 1
        mail_id = rows[0].mail_id if rows else mail_id
        await self.db.committer.run(Write(self._delivery, {
            "delivery_key": key, "mail_id": mail_id, "attempts": attempts,
            "updated_at": time.time()}), urgent=True)
        return attempts, mail_id

    async def done_recipients(self, key: str) -> set[str]:
        """Addresses of delivery ``key`` already accepted by the server."""
        r = mssante_recipients.c
        rows = await self.db.fetch(select(r.address).where(
            r.delivery_key == key, r.status.in_(("sent", "read"))))
        return {row.address for row in rows}

    def recipient_write(self, sent: SentRecipient, mail_id: str,
                        smtp_code: int | None) -> Write:
        """The row of one recipient's outcome."""
        return Write(self._recipient, {
            "delivery_key": sent.delivery_key, "address": sent.address, "mail_id": mail_id,
            "message_id": sent.message_id, "recipient_id": sent.recipient_id,
            "status": sent.status, "smtp_code": smtp_code, "read_asked": sent.read_asked,
            "updated_at": time.time()})

    async def by_mail_id(self, mail_id: str) -> list[SentRecipient]:
        """The recipients of the mail sent with Message-ID ``mail_id``."""
        r = mssante_recipients.c
        rows = await self.db.fetch(select(mssante_recipients).where(r.mail_id == mail_id))
        return [SentRecipient(x.delivery_key, x.message_id, x.address, x.recipient_id,
                              bool(x.read_asked), x.status) for x in rows]

    def mark_read(self, sent: SentRecipient) -> Write:
        """The update recording an MDN ``displayed`` from ``sent``."""
        return Write(self._read, {"b_key": sent.delivery_key, "b_address": sent.address,
                                  "b_at": time.time()})
