"""``hub bench mssante``: CI-SIS documents to MSSanté mails through a local SMTP server.

What is timed is the ``mssante`` destination's whole job, in process: parse
and map the ORU^R01 (CI-SIS, one level 1 CDA of about 2.5 KB, DESTMSSANTEPS=Y,
one PRT recipient), map the CDA header, resolve the recipients (directory
query), build the IHE XDM package and the MIME mail, record the delivery and
its recipient in SQLite, and submit over SMTP to an aiosmtpd server on
127.0.0.1 with STARTTLS, a client certificate (mutual TLS, certificates made
with ``openssl``) and AUTH, on reused connections. ``concurrency`` jobs run at
once, as the destination's lanes would.

Figures: ``mails_per_s`` (mails accepted by the server over the run) and
``p95_ms_document_to_mail`` (from the start of a job to the server's
acceptance of its mail, 95th percentile). The broker hop and the MLLP intake
in front are measured by ``hub bench mllp``.
"""

from __future__ import annotations

import asyncio
import base64
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from connectors.mllp.tls import server_context
from hub.bench import free_port
from hub.config import Settings
from hub.db.engine import Database
from hub.delivery import DeliveryJob
from hub.journal import Journal

USER, PASSWORD = "bench@hub.bench", "bench-password"
CDA = """<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3"><realmCode code="FR"/>
<typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
<templateId root="2.16.840.1.113883.2.8.2.1"/><templateId root="1.2.250.1.213.1.1.1.1"/>
<id root="1.2.250.1.999.77.{n}"/>
<code code="11502-2" codeSystem="2.16.840.1.113883.6.1" displayName="CR d'examens biologiques"/>
<title>Compte rendu de biologie</title><effectiveTime value="20250301101500+0100"/>
<confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/><languageCode code="fr-FR"/>
<setId root="1.2.250.1.999.78.{n}"/><versionNumber value="1"/>
<recordTarget><patientRole><id root="1.2.250.1.213.1.4.10" extension="{ins}"/>
<id root="1.2.250.1.999.42.1" extension="IPP{n}"/><patient><name>
<family qualifier="BR">BENCH</family><given>CLAIRE</given></name>
<administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/>
<birthTime value="19840512"/></patient></patientRole></recordTarget>
<author><time value="20250301101500+0100"/><assignedAuthor>
<id root="1.2.250.1.71.4.2.1" extension="810000000012"/><assignedPerson><name><given>Paul</given>
<family>MARCHAND</family></name></assignedPerson><representedOrganization>
<id root="1.2.250.1.71.4.2.2" extension="1630000042"/><name>Laboratoire</name>
</representedOrganization></assignedAuthor></author>
<custodian><assignedCustodian><representedCustodianOrganization>
<id root="1.2.250.1.71.4.2.2" extension="1630000042"/></representedCustodianOrganization>
</assignedCustodian></custodian>
<componentOf><encompassingEncounter><effectiveTime value="20250301"/><location>
<healthCareFacility><code code="SA01" codeSystem="1.2.250.1.71.4.2.4"/></healthCareFacility>
</location></encompassingEncounter></componentOf>
<component><nonXMLBody><text mediaType="text/plain">{text}</text></nonXMLBody></component>
</ClinicalDocument>
"""


def _ins(n: int) -> str:
    body = f"2840663{n:06d}"
    return body + f"{97 - int(body) % 97:02d}"


def oru(n: int) -> bytes:
    """One CI-SIS ORU^R01 carrying a level 1 CDA, DESTMSSANTEPS=Y, one PRT recipient."""
    ins = _ins(n)
    text = "Glycémie à jeun : 5.2 mmol/L. " * 40
    document = base64.b64encode(CDA.format(n=n, ins=ins, text=text).encode()).decode()
    segments = [
        f"MSH|^~\\&|SIL|LABO|HUB|GRADES|20250301101500||ORU^R01^ORU_R01|B{n}|P|2.5|||||FRA|"
        "UNICODE UTF-8|||2.1^CISIS_CDA_HL7_V2",
        f"PID|||{ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS||BENCH^CLAIRE^^^^^L||"
        "19840512|F|||||||||||||||||||||||VALI",
        "PV1|1|O", "ORC|NW|CMD-1^HUB", "OBR|1|CMD-1^HUB|EX-1^LABO|11502-2^CR^LN",
        f"OBX|1|ED|11502-2^CR d'examens biologiques^LN||^TEXT^XML^Base64^{document}||||||F",
        "PRT||UC||RCT^^participation|10001234567^PETIT^Sophie^^^^^^ASIP-SANTE-PS&1.2.250.1.71."
        f"4.2.1&ISO^D^^^RPPS||||||||||^^X.400^dr{n % 50}@bench{n % 5}.mssante.fr",
        "OBX|2|CE|DESTMSSANTEPS^dest^MetaDMPMSS||Y^^expandedYes-NoIndicator||||||F",
    ]
    return ("\r".join(segments) + "\r").encode()


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _certificates(directory: Path) -> dict[str, Path]:
    """A CA, a server and a client certificate (openssl), as the test suite makes them."""
    paths = {k: directory / f"{k}.pem" for k in ("ca", "ca_key", "server", "server_key",
                                                 "client", "client_key")}
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-days", "1", "-subj", "/CN=bench CA", "-keyout",
             str(paths["ca_key"]), "-out", str(paths["ca"]))
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "")):
        csr = directory / f"{name}.csr"
        _openssl("req", *ec, "-subj", f"/CN={name}", "-keyout", str(paths[f"{name}_key"]),
                 "-out", str(csr))
        extfile = directory / f"{name}.ext"
        extfile.write_text(ext + "\n")
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(paths["ca"]), "-CAkey",
                 str(paths["ca_key"]), "-CAcreateserial", "-days", "1", "-extfile",
                 str(extfile), "-out", str(paths[name]))
    return paths


class _Server:
    """aiosmtpd with STARTTLS + client certificate + AUTH; records acceptance times."""

    def __init__(self, certs: dict[str, Path], port: int) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        context = server_context(certs["server"], certs["server_key"], certs["ca"],
                                 require_client_cert=True)
        self.accepted: dict[str, float] = {}
        self._lock = threading.Lock()

        def authenticate(*args: Any) -> Any:
            return AuthResult(success=True, handled=False)

        self.controller = Controller(self, hostname="127.0.0.1", port=port,
                                     tls_context=context, require_starttls=True,
                                     auth_required=True, authenticator=authenticate)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        head = bytes(envelope.content[:4096]).decode("latin-1")
        key = next((line[11:].strip() for line in head.splitlines()
                    if line.startswith("Message-ID:")), "")
        with self._lock:
            self.accepted[key] = time.perf_counter()
        return "250 OK"


def _serve(certs: dict[str, Path], port: int, ready: Any, stop: Any, results: Any) -> None:
    """Child process: run the SMTP server until ``stop``, then send the acceptance times."""
    server = _Server(certs, port)
    server.controller.start()
    ready.set()
    stop.wait()
    server.controller.stop()
    results.send(server.accepted)


class _ServerProcess:
    """The SMTP server in its own process: its CPU is not the hub's (as in production)."""

    def __init__(self, certs: dict[str, Path], port: int) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._ready, self._stop = context.Event(), context.Event()
        self._results, child = context.Pipe(duplex=False)
        self._process = context.Process(target=_serve, args=(certs, port, self._ready,
                                                             self._stop, child), daemon=True)
        self.accepted: dict[str, float] = {}

    def start(self) -> None:
        self._process.start()
        if not self._ready.wait(30):
            raise RuntimeError("the benchmark's SMTP server did not start")

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if self._results.poll(30):
            self.accepted = self._results.recv()
        self._process.join(10)


def _settings(directory: Path, certs: dict[str, Path], port: int) -> Settings:
    tls = {"cafile": str(certs["ca"]), "certfile": str(certs["client"]),
           "keyfile": str(certs["client_key"])}
    return Settings.model_validate({
        "data_dir": str(directory), "destinations": {"mssante": {"type": "mssante"}},
        "mssante": {"address": USER, "smtp": {
            "host": "127.0.0.1", "port": port, "tls": tls, "username": USER,
            "password": PASSWORD, "connections": 8, "per_domain": 8}}})


async def _run(directory: Path, documents: int, concurrency: int) -> dict[str, Any]:
    from connectors.mssante.component import MssanteComponent

    certs = _certificates(directory)
    port = free_port()
    server = _ServerProcess(certs, port)
    server.start()
    db = await Database.open(f"sqlite+aiosqlite:///{(directory / 'bench.db').as_posix()}")
    await db.upgrade()
    settings = _settings(directory, certs, port)
    hub = SimpleNamespace(settings=settings, db=db, journal=Journal(db), intake=None,
                          components=[])
    component = MssanteComponent(hub)
    await component.start()
    destination = component._destination("mssante", settings.destinations["mssante"], directory)
    try:
        return await _measure(destination, server, documents, concurrency)
    finally:
        await component.close()
        await db.close()
        server.stop()


async def _measure(destination: Any, server: _ServerProcess, documents: int,
                   concurrency: int) -> dict[str, Any]:
    payloads = [oru(n) for n in range(1, documents + 1)]
    await destination.deliver(_job(0, oru(documents + 1)))  # warm: connections, parsers
    started: dict[str, float] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(documents):
        queue.put_nowait(n)

    async def lane() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            job = _job(n + 1, payloads[n])
            started[job.key] = time.perf_counter()
            await destination.deliver(job)

    begin = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    elapsed = time.perf_counter() - begin
    server.stop()  # perf_counter is CLOCK_MONOTONIC: comparable across processes
    latencies = _latencies(server, started)
    return {"documents": documents, "concurrency": concurrency,
            "mails_per_s": round(len(latencies) / elapsed, 1),
            "p50_ms_document_to_mail": round(statistics.median(latencies), 1),
            "p95_ms_document_to_mail": round(statistics.quantiles(latencies, n=20)[18], 1),
            "smtp_connections_opened": destination._component.sender.opened}


def _latencies(server: _ServerProcess, started: dict[str, float]) -> list[float]:
    """Per job: start -> acceptance of the mail whose Message-ID carries its delivery key."""
    by_key: dict[str, float] = {}
    for mail_id, accepted_at in server.accepted.items():
        local = mail_id.strip("<>").partition("@")[0]
        # make_msgid: <time>.<pid>.<random>.<idstring>; our idstring is the delivery key.
        by_key[".".join(local.split(".")[3:])] = accepted_at
    found = []
    for key, begin in started.items():
        end = by_key.get(key.replace(":", "."))
        if end is not None:
            found.append((end - begin) * 1000)
    return found


def _job(n: int, payload: bytes) -> DeliveryJob:
    message_id = f"bench{n:08d}"
    return DeliveryJob(f"{message_id}:mssante", message_id, "mssante", payload,
                       {"source": "bench"}, 0)


def run(documents: int = 1000, concurrency: int = 4) -> dict[str, Any]:
    """Run the benchmark in a temporary directory; the figures (module docstring)."""
    if shutil.which("openssl") is None:
        raise RuntimeError("the openssl command is needed to make the benchmark's certificates")
    directory = Path(tempfile.mkdtemp(prefix="hub-bench-mssante-"))
    try:
        return asyncio.run(_run(directory, documents, concurrency))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
