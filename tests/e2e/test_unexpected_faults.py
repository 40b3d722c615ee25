"""Faults nobody planned for get an answer: a parked delivery, a 500 on a live connection.

* The delivery runtime: a destination that raises an exception of no
  delivery type (a bug, a library error) parks the job with the reason
  instead of leaving it unsettled and ``pending`` for ever. Real SQLite
  journal, the embedded broker, the real :class:`hub.delivery.DeliveryWorker`;
  the destination stands for a faulty one.
* The HTTP error layer: an exception no handler takes is answered 500 and
  the server keeps the connection open; the next request on the same socket
  is answered. Real uvicorn on a port chosen at run time, a raw socket.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select

from hub.api.errors import install_error_handlers
from hub.broker.embedded import EmbeddedBroker
from hub.config import RetrySettings
from hub.db.engine import Database
from hub.db.tables import deliveries
from hub.delivery import DeliveryJob, DeliveryWorker, delivery_job, delivery_queue
from hub.journal import Journal, delivery_key
from hub.metrics import Metrics

pytestmark = pytest.mark.timeout(60)


class FaultyDestination:
    """A destination whose code fails with an exception of no delivery type."""

    name = "faulty"
    lanes = 1
    ordered = True
    retry = RetrySettings(max_attempts=3, initial_s=0.05, max_s=0.1)

    def __init__(self) -> None:
        self.calls = 0

    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to release."""

    async def deliver(self, job: DeliveryJob) -> str:
        """Fail the way a bug does."""
        self.calls += 1
        raise OverflowError("date value out of range")


async def test_an_unexpected_exception_in_a_destination_parks_the_job_with_the_reason(
        tmp_path: Path) -> None:
    db = await Database.open(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    await db.upgrade()
    broker = EmbeddedBroker(db)
    await broker.start()
    journal = Journal(db)
    destination = FaultyDestination()
    worker = DeliveryWorker(destination, broker, db, journal, Metrics())
    try:
        await db.committer.run(*journal.deliveries_planned("m1", ["faulty"]))
        await broker.publish(delivery_queue("faulty"), [
            delivery_job(b"payload", "m1", "faulty", patient_key="P1", source="test",
                         control_id="C1")])
        await worker.start()
        deadline = time.monotonic() + 10
        while await journal.delivery_status(delivery_key("m1", "faulty")) != "parked":
            assert time.monotonic() < deadline, "the job was never parked"
            await asyncio.sleep(0.05)
        rows = await db.fetch(select(deliveries.c.last_error))
        assert [tuple(r) for r in rows] == [("unexpected OverflowError in the destination: "
                                             "date value out of range",)]
        assert destination.calls == 1
    finally:
        await worker.close()
        await broker.close()
        await db.close()


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise KeyError("not a HubError")

    @app.get("/fine")
    async def fine() -> dict[str, bool]:
        return {"ok": True}

    return app


@pytest.fixture
def server() -> Iterator[int]:
    """uvicorn serving :func:`_app` on 127.0.0.1, port chosen at run time."""
    config = uvicorn.Config(_app(), host="127.0.0.1", port=0, log_level="critical",
                            lifespan="off")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port: int = running.servers[0].sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        running.should_exit = True
        thread.join(10)


def _exchange(sock: socket.socket, path: str) -> bytes:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def test_an_unhandled_exception_is_a_500_and_the_connection_stays_usable(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=5) as sock:
        first = _exchange(sock, "/boom")
        second = _exchange(sock, "/fine")
    assert first.startswith(b"HTTP/1.1 500 ")
    assert b'"error":"internal error"' in first and b"KeyError" not in first
    assert second.startswith(b"HTTP/1.1 200 "), second
    assert second.endswith(b'{"ok":true}')
