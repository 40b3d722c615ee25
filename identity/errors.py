"""Errors of the identity server (SRRI).

::

    hub.errors.HubError
    └── IdentityError           anything the identity core refuses
        ├── InsError            an INS fails its format, key or OID check (names the value)
        ├── TraitsError         identity traits that cannot be used (names the trait)
        └── SearchTooBroad      a patient search that would read too much (names the parameter)
"""

from __future__ import annotations

from hub.errors import HubError


class IdentityError(HubError):
    """Root of the identity core's errors."""


class InsError(IdentityError):
    """An INS (NIR or NIA) is malformed, has a wrong key or an unaccepted OID.

    ``value`` is the offending identifier, ``oid`` its assigning authority.
    """

    def __init__(self, message: str, *, value: str, oid: str | None = None) -> None:
        super().__init__(f"INS {value!r}: {message}")
        self.value = value
        self.oid = oid


class TraitsError(IdentityError):
    """A trait of an identity cannot be used (``trait`` names it, e.g. ``birth_date``)."""

    def __init__(self, message: str, *, trait: str) -> None:
        super().__init__(f"{trait}: {message}")
        self.trait = trait


class SearchTooBroad(IdentityError):
    """A patient search the store cannot answer without reading a crowd of records
    (``parameter`` names the search parameter to narrow)."""

    def __init__(self, message: str, *, parameter: str) -> None:
        super().__init__(message)
        self.parameter = parameter
