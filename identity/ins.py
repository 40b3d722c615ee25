"""The INS (Identifiant National de Santé): NIR and NIA checks, OIDs, CX-5.

The INS matricule is the NIR (registered in the national register) or the NIA
(temporary number, people born abroad waiting for a NIR). Both have the same
shape: 13 characters then a 2-digit key, 15 in all. The key is
``97 - (first 13 digits mod 97)``; the department of birth may be ``2A`` or
``2B`` (Corsica, born from 1976), counted as ``19`` and ``18`` for the key.

Assigning authorities (IHE France ITI data types N.1, table of OIDs):
``1.2.250.1.213.1.4.8`` INS-NIR, ``.9`` INS-NIA, ``.10`` INS-NIR of test,
``.11`` INS-NIR of demonstration. The last two only exist in the agency's
test platforms and published samples, so they are accepted in test mode only.

In PID-3 an INS is typed ``INS`` (CX-5); the same NIR typed ``NH`` is the
billing number read from the Carte Vitale, which is not a verified identity
and must never be used as an INS (PAM France 6.6.x, PID-3 notes). PAM France
6.6.15: an INS is kept only when PID-32 carries ``VALI``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from identity.errors import InsError

NIR_OID = "1.2.250.1.213.1.4.8"
NIA_OID = "1.2.250.1.213.1.4.9"
TEST_OID = "1.2.250.1.213.1.4.10"
DEMO_OID = "1.2.250.1.213.1.4.11"

PRODUCTION_OIDS = frozenset({NIR_OID, NIA_OID})
TEST_MODE_OIDS = frozenset({TEST_OID, DEMO_OID})

CX5_INS = "INS"
CX5_BILLING_NIR = "NH"

# sex digit, year, month, department (2 digits, or 2A/2B), commune (3), order (3), key (2)
_SHAPE = re.compile(r"^[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{8}$")
_CORSICA = {"2A": "19", "2B": "18"}


class InsKind(StrEnum):
    """Which register an INS comes from."""

    NIR = "NIR"
    NIA = "NIA"


@dataclass(frozen=True, slots=True)
class Ins:
    """A checked INS: 15-character matricule plus the OID of its authority."""

    value: str
    oid: str

    @property
    def kind(self) -> InsKind:
        """NIR or NIA, from the OID (test and demo OIDs are NIR spaces)."""
        return InsKind.NIA if self.oid == NIA_OID else InsKind.NIR


def ins_key(first13: str) -> int:
    """The 2-digit key of a 13-character NIR/NIA body (Corsica 2A -> 19, 2B -> 18)."""
    department = first13[5:7]
    digits = first13[:5] + _CORSICA.get(department, department) + first13[7:]
    if not digits.isdigit() or len(digits) != 13:
        raise InsError("body must be 13 digits (2A/2B allowed as department)", value=first13)
    return 97 - int(digits) % 97


def normalize_ins_value(value: str) -> str:
    """Upper case, spaces removed: NIRs are often written ``1 80 03 75 ...``."""
    return value.replace(" ", "").upper()


def check_ins_value(value: str) -> str:
    """Return the normalised matricule, or raise :class:`InsError` on shape or key."""
    compact = normalize_ins_value(value)
    if len(compact) != 15:
        raise InsError(f"has {len(compact)} characters, expected 15", value=value)
    if not _SHAPE.match(compact):
        raise InsError("expected 13 digits (2A/2B department allowed) and a 2-digit key",
                       value=value)
    expected = ins_key(compact[:13])
    if int(compact[13:]) != expected:
        raise InsError(f"key {compact[13:]} is wrong, expected {expected:02d}", value=value)
    return compact


def is_valid_ins_value(value: str) -> bool:
    """True when ``value`` has the NIR/NIA shape and a correct key."""
    try:
        check_ins_value(value)
    except InsError:
        return False
    return True


def accepted_oids(test_mode: bool) -> frozenset[str]:
    """OIDs accepted as INS authorities (test and demo only in test mode)."""
    return PRODUCTION_OIDS | TEST_MODE_OIDS if test_mode else PRODUCTION_OIDS


def parse_ins(value: str, oid: str, *, test_mode: bool = False) -> Ins:
    """Check an INS matricule and its OID; raise :class:`InsError` when refused."""
    if oid not in accepted_oids(test_mode):
        hint = " (test/demo OID: only in test mode)" if oid in TEST_MODE_OIDS else ""
        raise InsError(f"OID {oid!r} is not an INS authority{hint}", value=value, oid=oid)
    return Ins(check_ins_value(value), oid)


def ins_from_cx(value: str, cx5: str, oid: str, *, test_mode: bool = False) -> Ins | None:
    """The INS carried by one PID-3 repetition, or None when it is not an INS.

    Only CX-5 ``INS`` carries an INS; ``NH`` (billing NIR) and every other type
    give None. A repetition typed ``INS`` that fails the checks raises.
    """
    if cx5.strip().upper() != CX5_INS:
        return None
    return parse_ins(value, oid, test_mode=test_mode)


def usable_ins(ins: Ins | None, pid32: str | None) -> Ins | None:
    """PAM France 6.6.15: keep the INS only when the identity status is VALI."""
    if ins is None or (pid32 or "").strip().upper() != "VALI":
        return None
    return ins
