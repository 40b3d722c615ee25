"""A requestor's association for C-STORE on one blocking socket (PS3.8 upper layer).

pynetdicom's :class:`~pynetdicom.association.Association` runs two threads
per association that poll their socket and queues every millisecond; with a
lane's association open, those wake-ups and the queue hand-offs of every
PDU cost more CPU than coercing and sending the instance (about 5 of 7 ms per
small instance, measured). This is the part of the upper layer protocol a
storage SCU needs, run by the calling thread on a plain socket: A-ASSOCIATE
(PS3.8 9.3.2-9.3.4), P-DATA-TF (9.3.5), A-RELEASE (9.3.6-9.3.7) and A-ABORT
(9.3.8), with one request outstanding (asynchronous operations, PS3.7
D.3.3.3, are not negotiated). The association PDUs and the presentation
context negotiation are pynetdicom's encoders and decoders; the C-STORE-RQ
command set and the response's are the few fixed elements of PS3.7 9.3.1,
written and read here.

Anything unexpected from the peer (an A-ABORT, an A-RELEASE request, a PDU
out of place, the connection closing) raises :class:`AssociationLost` and
leaves the association closed.
"""

from __future__ import annotations

import select
import socket
import ssl
import struct
from collections.abc import Sequence

from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION
from pynetdicom.dsutils import encode
from pynetdicom.pdu import A_ABORT_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ, A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    ImplementationClassUIDNotification,
    ImplementationVersionNameNotification,
    MaximumLengthNotification,
)
from pynetdicom.presentation import PresentationContext, negotiate_as_requestor

from connectors.dicom.part10 import quickack_socket

__all__ = ["AssociationLost", "AssociationRefused", "StoreAssociation", "encode_whole",
           "rejection_reason", "valid_context"]

APPLICATION_CONTEXT = UID("1.2.840.10008.3.1.1.1")  # PS3.7 Annex A.2.1
A_ASSOCIATE_AC_TYPE, A_ASSOCIATE_RJ_TYPE, P_DATA_TF_TYPE = 0x02, 0x03, 0x04
A_RELEASE_RQ_TYPE, A_RELEASE_RP_TYPE, A_ABORT_TYPE = 0x05, 0x06, 0x07
A_RELEASE_RQ_PDU = b"\x05\x00\x00\x00\x00\x04\x00\x00\x00\x00"  # PS3.8 9.3.6
_PDU_HEAD = struct.Struct(">BxL")
_PDV_HEAD = struct.Struct(">LBB")
_COMMAND_ELEMENT = struct.Struct("<HHL")
_US, _UL = struct.Struct("<H"), struct.Struct("<L")
C_STORE_RQ, C_STORE_RSP, NO_DATA_SET = 0x0001, 0x8001, 0x0101  # PS3.7 E.1
COMMAND_FIELD, MESSAGE_ID_RESPONDED, COMMAND_DATA_SET_TYPE, STATUS = 0x0100, 0x0120, 0x0800, \
    0x0900
PDV_OVERHEAD = 6  # PDV item length (4), context id (1), message control header (1)
SEND_BATCH = 1 << 20  # PDUs are written in runs of about this many bytes
MAX_INCOMING_PDU = 64 << 20
"""A response is a few hundred bytes: a peer announcing more is not speaking DICOM."""


REJECT_RESULTS = {1: "rejected-permanent", 2: "rejected-transient"}
"""A-ASSOCIATE-RJ Result (PS3.8 9.3.4, Table 9-21)."""
REJECT_SOURCES = {1: "DICOM UL service-user",
                  2: "DICOM UL service-provider (ACSE related function)",
                  3: "DICOM UL service-provider (Presentation related function)"}
"""A-ASSOCIATE-RJ Source (PS3.8 9.3.4, Table 9-21)."""
REJECT_REASONS = {
    1: {1: "no-reason-given", 2: "application-context-name-not-supported",
        3: "calling-AE-title-not-recognized", 7: "called-AE-title-not-recognized"},
    2: {1: "no-reason-given", 2: "protocol-version-not-supported"},
    3: {1: "temporary-congestion", 2: "local-limit-exceeded"},
}
"""A-ASSOCIATE-RJ Reason/Diag. by Source (PS3.8 9.3.4, Table 9-21); other values are reserved."""


def rejection_reason(result: int, source: int, diagnostic: int) -> str:
    """An A-ASSOCIATE-RJ in words, as PS3.8 9.3.4 names its Result, Source and Reason/Diag."""
    reason = REJECT_REASONS.get(source, {}).get(diagnostic, f"reserved reason {diagnostic}")
    return (f"{REJECT_RESULTS.get(result, f'result {result}')} by the "
            f"{REJECT_SOURCES.get(source, f'source {source}')}: {reason}")


class AssociationRefused(Exception):
    """The peer rejected the association, aborted it during negotiation, or cannot be reached."""


class AssociationLost(Exception):
    """The association ended or the peer answered out of protocol; the socket is closed."""


def valid_context(contexts: Sequence[PresentationContext], sop_class: str,
                  syntax: UID) -> PresentationContext | None:
    """The accepted context to send ``syntax`` data of ``sop_class`` in, as pynetdicom's.

    The context with the same transfer syntax, else (both uncompressed, same
    byte order) one pynetdicom's encoder converts to; None when there is none.
    """
    matches = []
    for cx in contexts:
        if cx.abstract_syntax != sop_class or cx.as_scu is not True or not cx.transfer_syntax:
            continue
        cx_syntax = UID(cx.transfer_syntax[0])
        if cx_syntax == syntax:
            return cx
        if syntax.is_compressed or cx_syntax.is_compressed or \
                syntax.is_little_endian != cx_syntax.is_little_endian:
            continue
        matches.append(cx)
    return matches[0] if matches else None


class StoreAssociation:
    """An established association on which this process is the SCU."""

    def __init__(self, sock: socket.socket, accepted: list[PresentationContext],
                 peer_max_pdu: int) -> None:
        self._sock: socket.socket | None = sock
        self.accepted_contexts = accepted
        self._fragment = peer_max_pdu - PDV_OVERHEAD if peer_max_pdu > PDV_OVERHEAD else 0

    @classmethod
    def request(cls, host: str, port: int, *, calling_ae: str, called_ae: str,
                contexts: Sequence[tuple[str, Sequence[str]]], timeout_s: float,
                ssl_context: ssl.SSLContext | None = None,
                max_pdu: int = 0) -> StoreAssociation:
        """Connect and negotiate ``contexts`` (abstract syntax, transfer syntaxes)."""
        requested = []
        for n, (abstract, syntaxes) in enumerate(contexts):
            cx = PresentationContext()
            cx.context_id = 2 * n + 1
            cx.abstract_syntax = UID(abstract)
            cx.transfer_syntax = [UID(s) for s in syntaxes]
            requested.append(cx)
        try:
            sock = socket.create_connection((host, port), timeout=timeout_s)
        except OSError as exc:
            raise AssociationRefused(f"cannot connect: {exc}") from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if ssl_context is not None:
                sock = ssl_context.wrap_socket(sock, server_hostname=host)
            primitive = A_ASSOCIATE()
            primitive.application_context_name = APPLICATION_CONTEXT
            primitive.calling_ae_title = calling_ae
            primitive.called_ae_title = called_ae
            primitive.presentation_context_definition_list = requested
            length = MaximumLengthNotification()
            length.maximum_length_received = max_pdu
            implementation = ImplementationClassUIDNotification()
            implementation.implementation_class_uid = PYNETDICOM_IMPLEMENTATION_UID
            version = ImplementationVersionNameNotification()
            version.implementation_version_name = PYNETDICOM_IMPLEMENTATION_VERSION
            primitive.user_information = [length, implementation, version]
            request = A_ASSOCIATE_RQ()
            request.from_primitive(primitive)
            sock.sendall(request.encode())
            kind, body = _read_pdu(sock)
        except (OSError, AssociationLost) as exc:
            sock.close()
            raise AssociationRefused(f"association request failed: {exc}") from exc
        if kind == A_ASSOCIATE_RJ_TYPE:
            sock.close()
            rejected = A_ASSOCIATE_RJ()
            rejected.decode(body)
            answer = rejected.to_primitive()
            raise AssociationRefused(rejection_reason(
                int(answer.result or 0), int(answer.result_source or 0),
                int(answer.diagnostic or 0)))
        if kind != A_ASSOCIATE_AC_TYPE:
            _abort(sock)
            raise AssociationRefused("aborted" if kind == A_ABORT_TYPE else
                                     f"unexpected PDU 0x{kind:02X} instead of A-ASSOCIATE-AC")
        accept = A_ASSOCIATE_AC()
        accept.decode(body)
        answer = accept.to_primitive()
        results = answer.presentation_context_definition_results_list
        accepted = [cx for cx in negotiate_as_requestor(requested, results)
                    if cx.result == 0x00]
        peer_max = next((int(item.maximum_length_received or 0)
                         for item in answer.user_information
                         if isinstance(item, MaximumLengthNotification)), 0)
        return cls(sock, accepted, peer_max)

    @property
    def is_established(self) -> bool:
        """Open, and nothing arrived while idle (a peer only speaks when asked, or to end)."""
        if self._sock is None:
            return False
        try:
            ready = bool(select.select([self._sock], [], [], 0)[0]) or \
                (isinstance(self._sock, ssl.SSLSocket) and self._sock.pending() > 0)
        except (OSError, ValueError):
            ready = True
        if ready:  # an A-RELEASE-RQ, an A-ABORT or the connection closing
            self.abort()
        return self._sock is not None

    def send_c_store(self, context_id: int, message_id: int, sop_class: str,
                     sop_instance: str, priority: int, data: bytes) -> int:
        """Send one C-STORE-RQ with ``data`` (already in the context's syntax); its status.

        Raises :class:`AssociationLost` (socket closed) when no valid
        C-STORE-RSP answers it, and OSError (``TimeoutError`` among them)
        when the network fails; the association is then aborted.
        """
        sock = self._sock
        if sock is None:
            raise AssociationLost("the association is closed")
        command = c_store_rq(message_id, sop_class, sop_instance, priority)
        try:
            self._send_pdvs(sock, context_id, command, 0x03)  # command, last fragment
            self._send_pdvs(sock, context_id, data, 0x02)  # data set, last fragment
            response = self._receive_command(sock)
        except (OSError, AssociationLost):
            self.abort()
            raise
        status = response.get(STATUS)
        if response.get(COMMAND_FIELD) != C_STORE_RSP or status is None or \
                response.get(MESSAGE_ID_RESPONDED) != message_id:
            self.abort()
            raise AssociationLost("the peer answered with something else than the "
                                  "C-STORE-RSP")
        return status

    def _send_pdvs(self, sock: socket.socket, context_id: int, data: bytes,
                   last_header: int) -> None:
        """``data`` as P-DATA-TF PDUs of one PDV each (PS3.8 9.3.5, E.2), within the peer's max."""
        view = memoryview(data)
        size = self._fragment or max(len(view), 1)
        parts: list[bytes | memoryview] = []
        pending = 0
        for start in range(0, max(len(view), 1), size):
            chunk = view[start:start + size]
            header = last_header if start + size >= len(view) else last_header & 0x01
            parts.append(_PDU_HEAD.pack(P_DATA_TF_TYPE, len(chunk) + PDV_OVERHEAD) +
                         _PDV_HEAD.pack(len(chunk) + 2, context_id, header))
            parts.append(chunk)
            pending += len(chunk)
            if pending >= SEND_BATCH:
                sock.sendall(b"".join(parts))
                parts, pending = [], 0
        if parts:
            sock.sendall(b"".join(parts))

    def _receive_command(self, sock: socket.socket) -> dict[int, int]:
        """The next DIMSE message's command set: its US/UL values by element (PS3.7 E.1).

        A data set following the command (none does for a C-STORE-RSP) is read
        and dropped.
        """
        command = bytearray()
        command_done = data_done = False
        while not (command_done and data_done):
            quickack_socket(sock)
            kind, body = _read_pdu(sock)
            if kind != P_DATA_TF_TYPE:
                what = {A_ABORT_TYPE: "the peer aborted the association",
                        A_RELEASE_RQ_TYPE: "the peer released the association"}
                raise AssociationLost(what.get(kind, f"unexpected PDU 0x{kind:02X}"))
            for header, fragment in _pdvs(body):
                if header & 0x01:
                    if command_done:
                        raise AssociationLost("a second command set in one message")
                    command += fragment
                    if header & 0x02:
                        command_done = True
                        values = command_values(bytes(command))
                        data_done = values.get(COMMAND_DATA_SET_TYPE) == NO_DATA_SET
                elif not command_done:
                    raise AssociationLost("a data set before its command set")
                elif header & 0x02:
                    data_done = True
        return values

    def release(self) -> None:
        """A-RELEASE (PS3.8 7.2): request, wait for the reply, close; abort if that fails."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            sock.sendall(A_RELEASE_RQ_PDU)
            while True:
                kind, _ = _read_pdu(sock)
                if kind in (A_RELEASE_RP_TYPE, A_ABORT_TYPE):
                    break
                if kind != P_DATA_TF_TYPE:  # a late response may still come first
                    _abort(sock)
                    return
        except (OSError, AssociationLost):
            pass
        finally:
            _close(sock)

    def abort(self) -> None:
        """A-ABORT (PS3.8 7.3.1) and close."""
        sock, self._sock = self._sock, None
        if sock is not None:
            _abort(sock)


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            raise AssociationLost("the peer closed the connection")
        got += n
    return bytes(buffer)


def _read_pdu(sock: socket.socket) -> tuple[int, bytes]:
    """(PDU type, the whole PDU, its 6-byte header included: what pynetdicom decodes)."""
    head = _read_exactly(sock, 6)
    kind, length = _PDU_HEAD.unpack(head)
    if length > MAX_INCOMING_PDU:
        raise AssociationLost(f"a PDU of {length} bytes announced")
    return kind, head + _read_exactly(sock, length)


def _pdvs(pdu: bytes) -> list[tuple[int, bytes]]:
    """The PDV items of a P-DATA-TF PDU (header included): (message control header, data)."""
    items = []
    offset, end = 6, len(pdu)
    while offset < end:
        length, _, header = _PDV_HEAD.unpack_from(pdu, offset)
        if length < 2 or offset + 4 + length > end:
            raise AssociationLost("a malformed P-DATA-TF PDU")
        items.append((header, pdu[offset + 6:offset + 4 + length]))
        offset += 4 + length
    return items


def _element(element: int, value: bytes) -> bytes:
    return _COMMAND_ELEMENT.pack(0x0000, element, len(value)) + value


def _ui(uid: str) -> bytes:
    data = uid.encode("ascii")
    return data + b"\x00" if len(data) % 2 else data  # PS3.5 6.2: UI padded with NUL


def c_store_rq(message_id: int, sop_class: str, sop_instance: str, priority: int) -> bytes:
    """The C-STORE-RQ command set (PS3.7 9.3.1.1), Implicit VR Little Endian (PS3.7 6.3.1).

    The elements pynetdicom writes for its C-STORE-RQ, without the optional
    move originator: a data set follows (``CommandDataSetType`` 0x0001).
    """
    body = b"".join((
        _element(0x0002, _ui(sop_class)),
        _element(0x0100, _US.pack(C_STORE_RQ)),
        _element(0x0110, _US.pack(message_id)),
        _element(0x0700, _US.pack(priority)),
        _element(0x0800, _US.pack(0x0001)),
        _element(0x1000, _ui(sop_instance)),
    ))
    return _element(0x0000, _UL.pack(len(body))) + body


def command_values(command: bytes) -> dict[int, int]:
    """The US and UL elements of an Implicit VR Little Endian command set, by element number."""
    values: dict[int, int] = {}
    offset, end = 0, len(command)
    while offset + 8 <= end:
        group, element, length = _COMMAND_ELEMENT.unpack_from(command, offset)
        offset += 8
        if group != 0x0000 or offset + length > end:
            raise AssociationLost("a malformed command set")
        if length == 2:
            values[element] = _US.unpack_from(command, offset)[0]
        elif length == 4:
            values[element] = _UL.unpack_from(command, offset)[0]
        offset += length
    return values


def _abort(sock: socket.socket) -> None:
    try:
        abort = A_ABORT_RQ()
        abort.source = 0x00
        abort.reason_diagnostic = 0x00
        sock.sendall(abort.encode())
    except OSError:
        pass
    finally:
        _close(sock)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def encode_whole(dataset: Dataset, syntax: UID) -> bytes:
    """``dataset`` written in ``syntax`` (pynetdicom's encoder, as its send_c_store)."""
    data = encode(dataset, syntax.is_implicit_VR, syntax.is_little_endian, syntax.is_deflated)
    if data is None:
        raise ValueError("the dataset cannot be encoded")
    return data
