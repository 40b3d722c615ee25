"""``hub bench documents``: CR-BIO documents filed end to end, then ITI-67 on a filled repository.

On a temporary directory (and the database of ``--database-url``, which must
hold no documents, else a SQLite file there):

1. **load**: the hub's migrations, then ``--search-documents`` M documents
   loaded in bulk (:mod:`hub.repository.bench_load` says exactly what);
2. **spawn** ``hub run`` with the ``identity`` and ``repository`` components
   and the default document route (ORU^R01 with DESTDMP to the
   ``repository`` destination, 4 lanes);
3. **HTTP**: N CR-BIO documents (:mod:`hub.repository.bench_data`, 12-35
   KB, patients with INS and IPP, about 3 documents each) posted to
   ``POST /documents`` by 4 concurrent clients; the 201 answer comes once the
   document, its index rows and the journal row are committed, so the
   document is then filed and searchable. ``ingest_per_s_http`` = N / time
   from the first request to the last answer;
4. **MLLP**: N other documents, each in a CI-SIS ORU^R01 (base64 in OBX-5,
   DESTDMP=Y, PID-32 VALI) over 4 MLLP connections; acknowledged at intake,
   then filed by the ``repository`` destination. ``ingest_per_s_mllp`` = N /
   time from the first frame to the moment the hub's ``hub_deliveries``
   counter shows all N filed (polled every 50 ms);
5. a check that the last documents of both channels are found by ITI-67;
6. **search**: ``--searches`` S ITI-67 ``GET /fhir/DocumentReference``, one
   at a time, each for a random patient of the loaded ones (INS as
   ``patient.identifier`` or IPP as ``patient=Patient/<OID>-<IPP>``,
   alternately; first page of 50, ``total`` counted), after 20 untimed
   ones. ``search_p50_ms`` / ``search_p95_ms`` are client-side times.

``documents`` is the size of the repository during the search phase (M + 2N);
``hub_cpu_ms_per_*`` are the CPU the hub process used per document or search.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

from connectors.mllp.client import MLLPClient
from hub.bench import _percentile, _wait_port, free_port
from hub.repository import bench_data as data
from hub.repository.bench_load import INS_SYSTEM, Loaded, load

TOKEN = "bench-documents-token-0123456789"
CONNECTIONS = 4
SENT_PATIENTS = 15_000_000
"""Patient numbers of the documents sent: apart from the loaded ones (0 .. M/20)."""
WARMUP = 20
POLL_S = 0.05
ROUTES = {"routes": [{
    "name": "documents-oru-repository", "action": "deliver", "to": ["repository"],
    "when": {"message_type": "ORU", "trigger": "R01",
             "fields": {"OBX[*]-3.1": {"equals": "DESTDMP"}}}}]}


class BenchError(RuntimeError):
    """The benchmark could not measure (a refused document, a hub that stopped)."""


@dataclass(frozen=True, slots=True)
class Sent:
    """One document to send: its bytes, uniqueId and patient."""

    uid: str
    patient: data.Patient
    content: bytes


@dataclass
class _Hub:
    process: subprocess.Popen[bytes]
    mllp_port: int
    http_url: str


def documents_to_send(count: int, run: int, offset: int) -> list[Sent]:
    """``count`` CR-BIO documents of run ``run`` (serials from ``offset``), ~3 per patient."""
    rng = random.Random(run + offset)
    patients = max(1, count // 3)
    found = []
    for serial in range(offset, offset + count):
        who = data.patient(SENT_PATIENTS + rng.randrange(patients))
        uid = data.unique_id(run, data.SENT, serial)
        found.append(Sent(uid, who, data.crbio(uid, who, serial)))
    return found


def _config(workdir: Path, url: str) -> dict[str, Any]:
    routes = workdir / "routes"
    routes.mkdir(parents=True, exist_ok=True)
    (routes / "documents.yaml").write_text(yaml.safe_dump(ROUTES))
    return {
        "data_dir": str(workdir / "var"), "routes_dir": str(routes), "database_url": url,
        "admin_token": TOKEN, "log_level": "WARNING", "ins_test_mode": True,
        "mllp": {"port": free_port()}, "http": {"port": free_port()},
        "components": ["identity", "repository"],
        "destinations": {"repository": {"type": "repository", "lanes": 4,
                                        "acknowledgements": False}},
    }


async def _spawn(workdir: Path, url: str) -> _Hub:
    config = _config(workdir, url)
    path = workdir / "hub.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    log = open(workdir / "hub.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen([sys.executable, "-m", "hub.cli", "--config", str(path), "run"],
                               stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    hub = _Hub(process, config["mllp"]["port"], f"http://127.0.0.1:{config['http']['port']}")
    await _wait_port("127.0.0.1", hub.mllp_port, process)
    await _wait_port("127.0.0.1", config["http"]["port"], process)
    return hub


def hub_cpu_s(hub: _Hub) -> float:
    """CPU seconds (user + system) the hub process has used so far."""
    times = psutil.Process(hub.process.pid).cpu_times()
    return float(times.user + times.system)


async def _stop(hub: _Hub) -> None:
    hub.process.terminate()
    try:
        await asyncio.to_thread(hub.process.wait, 30)
    except subprocess.TimeoutExpired:
        hub.process.kill()


# -- ingestion -------------------------------------------------------------------------


async def _post_worker(http: httpx.AsyncClient, queue: Iterator[Sent]) -> None:
    for sent in queue:
        answer = await http.post("/documents", content=sent.content,
                                 headers={"Content-Type": "application/xml"})
        if answer.status_code != 201:
            raise BenchError(f"POST /documents answered {answer.status_code}: "
                             f"{answer.text[:300]}")


async def ingest_http(http: httpx.AsyncClient, docs: Sequence[Sent]) -> float:
    """Post ``docs`` over :data:`CONNECTIONS` clients; documents filed per second."""
    queue = iter(docs)
    started = time.perf_counter()
    await asyncio.gather(*[_post_worker(http, queue) for _ in range(CONNECTIONS)])
    return len(docs) / (time.perf_counter() - started)


async def _mllp_worker(port: int, queue: Iterator[tuple[int, Sent]], run: int) -> None:
    async with MLLPClient("127.0.0.1", port, response_timeout_s=60) as client:
        for number, sent in queue:
            reply = await client.send(data.oru(sent.content, sent.patient, f"B{run}-{number}"))
            if b"MSA|AA|" not in reply and b"MSA|CA|" not in reply:
                raise BenchError(f"ORU^R01 not accepted: {reply[:200]!r}")


_DELIVERED = re.compile(r'^hub_deliveries_total\{destination="repository",outcome="(\w+)"\} '
                        r"([0-9.e+]+)$", re.MULTILINE)


async def repository_outcomes(http: httpx.AsyncClient) -> dict[str, float]:
    """The hub's ``hub_deliveries`` counters of the ``repository`` destination, by outcome."""
    answer = await http.get("/metrics")
    answer.raise_for_status()
    return {outcome: float(value) for outcome, value in _DELIVERED.findall(answer.text)}


async def _filed(http: httpx.AsyncClient, count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        outcomes = await repository_outcomes(http)
        if outcomes.get("parked"):
            raise BenchError(f"{outcomes['parked']:.0f} ORU^R01 parked by the repository")
        if outcomes.get("delivered", 0) >= count:
            return
        await asyncio.sleep(POLL_S)
    raise BenchError(f"the documents sent over MLLP were not all filed within {timeout_s} s")


async def ingest_mllp(port: int, http: httpx.AsyncClient, docs: Sequence[Sent],
                      run: int) -> float:
    """Send ``docs`` in ORU^R01 over :data:`CONNECTIONS` connections; filed per second."""
    queue = iter(enumerate(docs))
    started = time.perf_counter()
    await asyncio.gather(*[_mllp_worker(port, queue, run) for _ in range(CONNECTIONS)])
    await _filed(http, len(docs), timeout_s=60 + len(docs))
    return len(docs) / (time.perf_counter() - started)


# -- searching -------------------------------------------------------------------------


async def find(http: httpx.AsyncClient, params: dict[str, str]) -> dict[str, Any]:
    """One ITI-67 search; the searchset Bundle."""
    answer = await http.get("/fhir/DocumentReference", params=params)
    if answer.status_code != 200:
        raise BenchError(f"ITI-67 answered {answer.status_code}: {answer.text[:300]}")
    found: dict[str, Any] = answer.json()
    return found


async def check_searchable(http: httpx.AsyncClient, docs: Sequence[Sent]) -> None:
    """Each of ``docs`` is returned by ITI-67 on its patient's INS."""
    for sent in docs:
        bundle = await find(http, {"patient.identifier": f"{INS_SYSTEM}|{sent.patient.ins}",
                                   "_count": "500"})
        uids = {e["resource"]["masterIdentifier"]["value"] for e in bundle.get("entry", [])}
        if f"urn:oid:{sent.uid}" not in uids:
            raise BenchError(f"document {sent.uid} is not found by ITI-67 on its patient")


def search_params(number: int, by_ipp: bool) -> dict[str, str]:
    """ITI-67 parameters for patient ``number``: by IPP (Patient id) or by INS."""
    who = data.patient(number)
    if by_ipp:
        return {"patient": f"Patient/{data.IPP_OID}-{who.ipp}"}
    return {"patient.identifier": f"{INS_SYSTEM}|{who.ins}"}


async def searches(http: httpx.AsyncClient, patients: int, count: int) -> tuple[list[float],
                                                                                 int]:
    """``count`` timed ITI-67 on random loaded patients; the times (s) and documents found."""
    rng = random.Random(11)
    times: list[float] = []
    found = 0
    for n in range(WARMUP + count):
        params = search_params(rng.randrange(patients), by_ipp=n % 2 == 1)
        started = time.perf_counter()
        bundle = await find(http, params)
        if n >= WARMUP:
            times.append(time.perf_counter() - started)
            found += int(bundle.get("total", 0))
    return times, found


# -- the run ---------------------------------------------------------------------------


def _sqlite_url(workdir: Path) -> str:
    return f"sqlite+aiosqlite:///{(workdir / 'var' / 'hub.db').as_posix()}"


async def _measure(hub: _Hub, options: dict[str, Any], loaded: Loaded,
                   run: int) -> dict[str, Any]:
    n = options["documents"]
    over_http = documents_to_send(n, run, 0)
    over_mllp = documents_to_send(n, run, n)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=hub.http_url, headers=headers, timeout=60,
                                 limits=limits) as http:
        cpu = [hub_cpu_s(hub)]
        http_rate = await ingest_http(http, over_http)
        cpu.append(hub_cpu_s(hub))
        mllp_rate = await ingest_mllp(hub.mllp_port, http, over_mllp, run)
        cpu.append(hub_cpu_s(hub))
        await check_searchable(http, [*over_http[-3:], *over_mllp[-3:]])
        cpu.append(hub_cpu_s(hub))
        times, found = await searches(http, loaded.patients, options["searches"])
        cpu.append(hub_cpu_s(hub))
    return {
        "ingest_per_s_http": round(http_rate, 1),
        "ingest_per_s_mllp": round(mllp_rate, 1),
        "search_p50_ms": round(statistics.median(times) * 1000, 2),
        "search_p95_ms": round(_percentile(times, 0.95) * 1000, 2),
        "documents": loaded.documents + 2 * n,
        "documents_sent_per_channel": n,
        "document_kb_mean": round(statistics.mean(
            len(s.content) for s in itertools.chain(over_http, over_mllp)) / 1024, 1),
        "loaded": loaded.documents,
        "load_s": round(loaded.seconds, 1),
        "searches": len(times),
        "search_mean_results": round(found / len(times), 1),
        "hub_cpu_ms_per_document_http": round((cpu[1] - cpu[0]) * 1000 / n, 2),
        "hub_cpu_ms_per_document_mllp": round((cpu[2] - cpu[1]) * 1000 / n, 2),
        "hub_cpu_ms_per_search": round((cpu[4] - cpu[3]) * 1000 / (WARMUP + len(times)), 2),
    }


async def _run(options: dict[str, Any]) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="hub-bench-documents-"))
    (workdir / "var").mkdir()
    url = options.get("database_url") or _sqlite_url(workdir)
    run = int(time.time()) % 1_000_000
    try:
        loaded = await load(url, workdir / "var" / "blobs", options["search_documents"], run)
        hub = await _spawn(workdir, url)
        try:
            result = await _measure(hub, options, loaded, run)
        finally:
            await _stop(hub)
    finally:
        if not options.get("keep"):
            shutil.rmtree(workdir, ignore_errors=True)
    return {**result, "database": url.split(":", 1)[0].split("+", 1)[0]}


def run_bench(**options: Any) -> dict[str, Any]:
    """Run the benchmark with the CLI's options (module docstring); return the figures."""
    defaults = {"documents": 1000, "search_documents": 100_000, "searches": 1000,
                "database_url": None, "keep": False}
    merged = {**defaults, **{k: v for k, v in options.items() if v is not None}}
    return asyncio.run(_run(merged))
