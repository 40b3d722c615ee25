"""The DICOM listener: C-ECHO, C-STORE and study-level C-FIND on pynetdicom.

- Association (PS3.8 7.1.1.9): a calling AE title that no source accepts is
  rejected (rejected-permanent, "calling-AE-title-not-recognized"); an
  accepted title calling from an address its source does not allow is
  aborted as soon as the association is established. TCP_NODELAY is set on
  every connection.
- Client certificates (DICOM TLS, PS3.15 B.1): an association whose client
  certificate does not fit its calling AE title (a certificate bound to one
  source calling as another, a bound source's title without its
  certificate) is rejected as soon as its A-ASSOCIATE-RQ is read, before any
  DIMSE: A-ASSOCIATE-RJ rejected-permanent, source DICOM UL service-user,
  reason calling-AE-title-not-recognized (PS3.8 Table 9-21): the title is
  not recognised as this peer's.
- C-STORE (PS3.4 B.2.3): every storage SOP class pynetdicom knows, every
  transfer syntax it knows, compressed ones kept as they come. The handler
  hands the instance to the hub's loop and answers the status the hub gives
  (success only once stored).
- C-FIND (PS3.4 C.4.1, Study Root, STUDY level): pending responses
  (``0xFF00``) for each match, then success.

Handlers run in pynetdicom's threads; they never touch the hub directly but
wait for coroutines run on the loop (CONVENTIONS 10).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)

from connectors.dicom.part10 import nodelay, part10_bytes, read_header
from connectors.mllp.tls import peer_certificate
from hub.auth.model import PeerCertificate
from hub.imaging.intake import OUT_OF_RESOURCES, StoreAnswer, StoreRequest

log = logging.getLogger(__name__)

NOT_AUTHORIZED = 0x0124  # PS3.7 Annex C: Refused, Not Authorized
FIND_PENDING = 0xFF00
FIND_UNABLE = 0xC000
FIND_CANCELLED = 0xFE00
NO_SOURCE_AE = "NO-SOURCE-SET"

StoreSink = Callable[[StoreRequest], Coroutine[Any, Any, StoreAnswer]]
FindSink = Callable[[Dataset], Coroutine[Any, Any, list[Dataset]]]
SourceOf = Callable[[str, str], str | None]
CertificateCheck = Callable[[str, PeerCertificate | None], str | None]
"""(calling AE title, client certificate) -> why the association is refused, or None."""
REJECTED_PERMANENT, SERVICE_USER, CALLING_AE_NOT_RECOGNIZED = 0x01, 0x01, 0x03  # PS3.8 9.3.4


class DicomListener:
    """An SCP bound to ``host:port`` serving ``ae_title``."""

    def __init__(
        self,
        store: StoreSink,
        find: FindSink | None,
        source_of: SourceOf,
        ae_titles: list[str],
        *,
        ae_title: str = "HUB",
        host: str = "127.0.0.1",
        port: int = 11112,
        max_pdu: int = 1048576,
        max_associations: int = 64,
        store_timeout_s: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
        certificate_check: CertificateCheck | None = None,
    ) -> None:
        self._store = store
        self._certificate_check = certificate_check
        self._find = find
        self._source_of = source_of
        self._ae_titles = ae_titles
        self._ae_title = ae_title
        self._address = (host, port)
        self._max_pdu = max_pdu
        self._max_associations = max_associations
        self._timeout = store_timeout_s
        self._ssl = ssl_context
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None

    @property
    def port(self) -> int:
        """The bound port."""
        assert self._server is not None
        port: int = self._server.server_address[1]
        return port

    def _application_entity(self) -> AE:
        ae = AE(ae_title=self._ae_title)
        ae.maximum_pdu_size = self._max_pdu
        ae.maximum_associations = self._max_associations
        # No calling AE configured means nobody may associate, not everybody: a title
        # no source has (one calling with it is aborted once established, no source).
        ae.require_calling_aet = self._ae_titles or [NO_SOURCE_AE]
        ae.require_called_aet = True
        for context in AllStoragePresentationContexts:
            if context.abstract_syntax is not None:
                ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        if self._find is not None:
            ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        return ae

    async def start(self) -> None:
        """Bind and serve in pynetdicom's threads."""
        self._loop = asyncio.get_running_loop()
        handlers: list[Any] = [(evt.EVT_CONN_OPEN, self._on_open),
                    (evt.EVT_REQUESTED, self._on_requested),
                    (evt.EVT_ESTABLISHED, self._on_established),
                    (evt.EVT_C_ECHO, self._on_echo),
                    (evt.EVT_C_STORE, self._on_store),
                    (evt.EVT_C_FIND, self._on_find)]
        ae = self._application_entity()
        self._server = await asyncio.to_thread(
            ae.start_server, self._address, block=False, evt_handlers=handlers,
            ssl_context=self._ssl)
        log.info("DICOM listener %s on %s:%d", self._ae_title, self._address[0], self.port)

    async def close(self) -> None:
        """Stop accepting and end the associations."""
        if self._server is not None:
            await asyncio.to_thread(self._server.shutdown)
            self._server = None

    # -- handlers (pynetdicom threads) ----------------------------------------

    @staticmethod
    def _on_open(event: Any) -> None:
        nodelay(event.assoc)

    def _on_requested(self, event: Any) -> None:
        """A-ASSOCIATE-RQ read: reject a calling AE title the client certificate may not use."""
        if self._certificate_check is None:
            return
        assoc = event.assoc
        sock = getattr(assoc.dul.socket, "socket", None)
        certificate = peer_certificate(sock) if isinstance(sock, ssl.SSLSocket) else None
        title = assoc.requestor.primitive.calling_ae_title
        reason = self._certificate_check(str(title), certificate)
        if reason is not None:
            log.warning("DICOM association from %s rejected: %s",
                        assoc.requestor.address, reason)
            assoc.acse.send_reject(REJECTED_PERMANENT, SERVICE_USER, CALLING_AE_NOT_RECOGNIZED)
            # As pynetdicom's own rejections do: the DUL sends the PDU before it stops.
            evt.trigger(assoc, evt.EVT_REJECTED, {})
            assoc.kill()

    def _source(self, assoc: Any) -> str | None:
        return self._source_of(assoc.requestor.ae_title, assoc.requestor.address)

    def _on_established(self, event: Any) -> None:
        if self._source(event.assoc) is None:
            log.warning("DICOM association from %s as %r aborted: address not allowed",
                        event.assoc.requestor.address, event.assoc.requestor.ae_title)
            event.assoc.abort()

    def _on_echo(self, event: Any) -> int:
        """C-ECHO (PS3.7 9.1.5): success for a known source."""
        return 0x0000 if self._source(event.assoc) is not None else NOT_AUTHORIZED

    def _wait(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coroutine`` on the hub's loop and wait (in this pynetdicom thread)."""
        assert self._loop is not None
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout=self._timeout)
        except FutureTimeout:
            future.cancel()
            raise

    def _on_store(self, event: Any) -> int | Dataset:
        """C-STORE: build the PS3.10 bytes, read the header, wait for the hub's status.

        A failure the hub explains is answered with its Error Comment
        (0000,0902), at most 64 characters (LO, PS3.7 C.4.2).
        """
        assoc = event.assoc
        source = self._source(assoc)
        if source is None:
            return NOT_AUTHORIZED
        file_meta = event.file_meta
        part10 = part10_bytes(file_meta, event.request.DataSet.getvalue())
        header, error = read_header(part10)
        request = StoreRequest(
            part10=part10, header=header, error=error, calling_ae=assoc.requestor.ae_title,
            called_ae=assoc.acceptor.ae_title, peer=assoc.requestor.address, source=source,
            transfer_syntax=str(file_meta.TransferSyntaxUID))
        try:
            answer: StoreAnswer = self._wait(self._store(request))
        except Exception as exc:
            log.error("C-STORE from %s not stored: %s", request.calling_ae,
                      type(exc).__name__)
            return OUT_OF_RESOURCES
        if not answer.error_comment:
            return answer.status
        response = Dataset()
        response.Status = answer.status
        response.ErrorComment = answer.error_comment[:64]
        return response

    def _on_find(self, event: Any) -> Iterator[tuple[int, Dataset | None]]:
        """C-FIND: one pending response per matching study, then success."""
        if self._find is None or self._source(event.assoc) is None:
            yield NOT_AUTHORIZED, None
            return
        try:
            query = event.identifier
            matches: list[Dataset] = self._wait(self._find(query))
        except Exception as exc:
            log.warning("C-FIND failed: %s", type(exc).__name__)
            yield FIND_UNABLE, None
            return
        for match in matches:
            if event.is_cancelled:
                yield FIND_CANCELLED, None
                return
            yield FIND_PENDING, match
        yield 0x0000, None
