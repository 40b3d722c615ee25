"""Sending files with C-STORE over one association (``hub send dicom``, tests, benchmark).

Contexts are proposed from the files themselves (their SOP class and
transfer syntax, PS3.8 9.3.2.2), at most 128, so one association carries a
whole directory of a study. Files that are not DICOM are reported, not sent;
a refused association says why (PS3.8 9.3.4).
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
from connectors.dicom.ul import rejection_reason

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


def _header(path: Path) -> Any:
    """The file's header; ValueError naming what makes it unsendable."""
    try:
        header = dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, EOFError, ValueError, TypeError) as exc:
        raise ValueError(f"not DICOM: {exc}") from exc
    missing = [k for k in ("SOPClassUID", "SOPInstanceUID") if k not in header]
    if "TransferSyntaxUID" not in header.file_meta:
        missing.append("TransferSyntaxUID (file meta, PS3.10 7.1)")
    if missing:
        raise ValueError(f"not a DICOM instance: {', '.join(missing)} missing")
    return header


def _contexts(files: Sequence[Path]) -> tuple[dict[Path, Any], list[SendResult]]:
    headers: dict[Path, Any] = {}
    refused: list[SendResult] = []
    for path in files:
        try:
            headers[path] = _header(path)
        except ValueError as exc:
            refused.append(SendResult(str(path), "", None, str(exc)))
    return headers, refused


def _not_established(assoc: Any, where: str) -> str:
    """Why an association was not established: the A-ASSOCIATE-RJ spelled out (PS3.8 9.3.4)."""
    if assoc.is_rejected:
        answer = assoc.acceptor.primitive
        return f"association with {where} rejected: " + rejection_reason(
            int(answer.result or 0), int(answer.result_source or 0),
            int(answer.diagnostic or 0))
    if assoc.is_aborted:
        return f"association with {where} aborted by the peer (A-ABORT or A-P-ABORT)"
    return f"association with {where} failed: no answer or connection refused"


def send_files(files: Sequence[Path], host: str, port: int, *, called_ae: str = "HUB",
               calling_ae: str = "HUBCLI", timeout_s: float = 30.0,
               progress: Callable[[SendResult], None] | None = None) -> list[SendResult]:
    """C-STORE every file over one association; one result per file."""
    headers, results = _contexts(files)
    if not headers:  # nothing to propose: no association
        for result in results:
            if progress is not None:
                progress(result)
        return results
    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_s
    pairs = {(str(h.SOPClassUID), str(h.file_meta.TransferSyntaxUID)) for h in headers.values()}
    for sop_class, syntax in sorted(pairs)[:128]:
        ae.add_requested_context(sop_class, syntax)
    assoc = ae.associate(host, port, ae_title=called_ae,
                         evt_handlers=[(evt.EVT_CONN_OPEN, _on_open)])
    if not assoc.is_established:
        raise ConnectionError(_not_established(assoc, f"{called_ae}@{host}:{port}"))
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

