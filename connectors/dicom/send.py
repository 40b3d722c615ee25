"""Sending files with C-STORE over one association (``hub send dicom``, tests, benchmark).

Contexts are proposed from the files themselves (their SOP class and
transfer syntax, PS3.8 9.3.2.2), at most 128, so one association carries a
whole directory of a study. Files that are not DICOM are reported, not sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from pynetdicom import AE, evt

from connectors.dicom.part10 import nodelay

__all__ = ["SendResult", "dicom_files", "send_files"]


@dataclass(frozen=True, slots=True)
class SendResult:
    """What became of one file."""

    file: str
    sop_instance_uid: str
    status: int | None
    error: str = ""

    @property
    def stored(self) -> bool:
        """Success or a warning status (PS3.4 Table B.2-1)."""
        return self.status is not None and (self.status == 0 or self.status >> 12 == 0xB)


def dicom_files(paths: Iterable[Path]) -> list[Path]:
    """Files given, and every file under the directories given, sorted."""
    found: list[Path] = []
    for path in paths:
        found.extend(sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir()
                     else [path])
    return found


def _on_open(event: Any) -> None:
    nodelay(event.assoc)


def _contexts(files: Sequence[Path]) -> tuple[dict[Path, Any], list[SendResult]]:
    headers: dict[Path, Any] = {}
    refused: list[SendResult] = []
    for path in files:
        try:
            headers[path] = dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, OSError, ValueError) as exc:
            refused.append(SendResult(str(path), "", None, f"not DICOM: {exc}"))
    return headers, refused


def send_files(files: Sequence[Path], host: str, port: int, *, called_ae: str = "HUB",
               calling_ae: str = "HUBCLI", timeout_s: float = 30.0,
               progress: Callable[[SendResult], None] | None = None) -> list[SendResult]:
    """C-STORE every file over one association; one result per file."""
    headers, results = _contexts(files)
    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_s
    pairs = {(str(h.SOPClassUID), str(h.file_meta.TransferSyntaxUID)) for h in headers.values()}
    for sop_class, syntax in sorted(pairs)[:128]:
        ae.add_requested_context(sop_class, syntax)
    assoc = ae.associate(host, port, ae_title=called_ae,
                         evt_handlers=[(evt.EVT_CONN_OPEN, _on_open)])
    if not assoc.is_established:
        raise ConnectionError(f"association with {called_ae}@{host}:{port} "
                              f"{'rejected' if assoc.is_rejected else 'failed'}")
    try:
        for path in headers:
            result = _send_one(assoc, path, str(headers[path].SOPInstanceUID))
            results.append(result)
            if progress is not None:
                progress(result)
    finally:
        assoc.release()
    return results


def _send_one(assoc: Any, path: Path, sop_uid: str) -> SendResult:
    try:
        response = assoc.send_c_store(path)
    except (ValueError, AttributeError, RuntimeError) as exc:
        return SendResult(str(path), sop_uid, None, str(exc))
    status = response.get("Status") if response else None
    return SendResult(str(path), sop_uid, None if status is None else int(status),
                      "" if status is not None else "no response")

