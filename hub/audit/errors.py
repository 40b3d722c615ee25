"""Errors of the audit trail.

::

    StorageError
     └── AuditUnavailable   an audit record could not be stored: the access is refused
"""

from __future__ import annotations

from hub.errors import StorageError


class AuditUnavailable(StorageError):
    """The audit trail could not store a record (the access it records must not happen)."""
