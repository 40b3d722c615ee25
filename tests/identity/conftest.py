"""Helpers for identity tests: records built from a few traits."""

from __future__ import annotations

from typing import Any

from identity.ins import NIR_OID, Ins, ins_key
from identity.model import Attribute, LocalRecord, Sex, Status, Traits, make_record


def nir(body: str) -> str:
    """A NIR with its correct key."""
    return f"{body}{ins_key(body):02d}"


INS_A = nir("1800375056123")
INS_B = nir("2850613201045")


def person(authority: str = "1.2.250.1.999.1", ipp: str = "1", *,
           status: Status = Status.PROV, ins: str | None = None,
           attributes: frozenset[Attribute] = frozenset(), **traits: Any) -> LocalRecord:
    """A local record of Jean-Pierre MARTIN, born 1980-03-14 in Paris 5e, unless overridden."""
    values: dict[str, Any] = {
        "birth_name": "MARTIN", "given_names": ("JEAN-PIERRE", "PAUL"),
        "birth_date": "19800314", "sex": Sex.MALE, "birthplace": "75105", "postcode": "75005",
    }
    values.update(traits)
    return make_record(authority, ipp, Traits(**values), status=status,
                       attributes=attributes, ins=Ins(ins, NIR_OID) if ins else None)
