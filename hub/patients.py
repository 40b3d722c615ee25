"""What the rest of the hub asks of the identity service, as a contract.

The repository indexes documents by the identifiers they carry (IPP with its
assigning authority, INS); a search by one identifier must find the
documents filed under every identifier of the same regional identity, and a
merge or link made later must be seen at once without re-indexing. So the
repository asks :class:`PatientDirectory` at query time. The identity
component (``identity/``) installs the real directory on the running hub;
without it, :class:`SelfOnlyDirectory` knows each identifier as itself only.

Identifiers are ``(system, value)`` pairs where ``system`` is a URI
(``urn:oid:1.2.250.1.213.1.4.8`` for the INS-NIR, ``urn:oid:<authority>`` for
an IPP).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

Identifier = tuple[str, str]
"""(system URI, value)."""


@dataclass(frozen=True, slots=True)
class PatientView:
    """What the directory knows of one patient, for routing and indexing."""

    regional_id: str | None
    identifiers: tuple[Identifier, ...]
    qualified_ins: Identifier | None
    """The INS, only when some establishment sent it qualified (PID-32 VALI)."""


class PatientDirectory(Protocol):
    """Cross-references between identifiers of the same patient."""

    async def lookup(self, identifier: Identifier) -> PatientView | None:
        """The patient an identifier belongs to, None when the directory has never seen it."""
        ...

    async def equivalents(self, identifier: Identifier) -> tuple[Identifier, ...]:
        """Every identifier of the same regional identity, ``identifier`` included."""
        ...


class SelfOnlyDirectory:
    """The directory of a hub without the identity component: no cross-references."""

    async def lookup(self, identifier: Identifier) -> PatientView | None:
        """Nothing is known."""
        return None

    async def equivalents(self, identifier: Identifier) -> tuple[Identifier, ...]:
        """Only the identifier itself."""
        return (identifier,)
