"""``hub bench mllp``: throughput and latency through intake, pipeline and delivery.

By default it spawns a hub (``hub run``) on a temporary data directory whose
single route sends everything to an ``mllp`` destination: the sink that this
process runs. Then K connections send N realistic messages (PAM France ADT and
CI-SIS-shaped ORU, about 1-2 KB each) and the figures are:

- ``acked_per_s``: messages acknowledged AA per second over the send phase;
- ``ack_p50_ms`` / ``ack_p99_ms``: time from frame written to ACK read;
- ``delivered_per_s``: messages received by the sink per second, from the
  first send to the last arrival;
- ``rss_mb``: the hub process's peak resident memory during the run.

``--rate R`` paces the senders (R messages per second over all connections) to
measure latency at a given load; ``--sink-down`` leaves the destination
stopped so that every message waits in the hub (memory under backlog).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml

from connectors.mllp.client import MLLPClient
from connectors.mllp.server import MLLPServer, PeerInfo

ADT = (
    "MSH|^~\\&|GAM|CHU-BENCH|DPI|CHU-BENCH|{ts}||ADT^{event}^ADT_A01|{cid}|P|2.5^FRA^2.11|||||FRA|"
    "UNICODE UTF-8|FR||2.11^IHE_FRANCE-2.11-PAM\r"
    "EVN||{ts}||||{ts}\r"
    "PID|1||{ipp}^^^CHU-BENCH&1.2.250.1.999.1.1&ISO^PI~1{nir}^^^ASIP-SANTE-INS-NIR&"
    "1.2.250.1.213.1.4.10&ISO^INS^^20101207||MARTIN^CLAIRE^CLAIRE ANNE^^^^L~DURAND^CLAIRE^^^^^D||"
    "19820411|F|||12 rue des Lilas^^LYON^^69003^FRA^H~^^^^^^BDL^^69123|||||M||{visit}^^^CHU-BENCH&"
    "1.2.250.1.999.1.1&ISO^AN|||||||1|||||N||VALI|{ts}\r"
    "PV1|1|I|CARDIO^101^1^CHU-BENCH&1.2.250.1.999.1.1&ISO||||123456^MEDECIN^PAUL^^^^^^"
    "ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^RPPS|||||||||||{visit}^^^CHU-BENCH&1.2.250.1.999.1.1"
    "&ISO^VN|||||||||||||||||||||||||{ts}\r"
    "ZBE|{cid}^CHU-BENCH^1.2.250.1.999.1.1^ISO|{ts}||INSERT|N||CARDIO^^^^^CHU-BENCH&1.2.250.1.999"
    ".1.1&ISO^UF^^^4101|CARDIO^^^^^CHU-BENCH&1.2.250.1.999.1.1&ISO^UF^^^4101|HMS\r"
)

ORU = (
    "MSH|^~\\&|SIL|LABO-BENCH|DPI|CHU-BENCH|{ts}||ORU^R01^ORU_R01|{cid}|P|2.5|||||FRA|"
    "UNICODE UTF-8\r"
    "PID|1||{ipp}^^^CHU-BENCH&1.2.250.1.999.1.1&ISO^PI||MARTIN^CLAIRE^^^^^L||19820411|F\r"
    "PV1|1|O\r"
    "ORC|RE|{cid}^SIL||||||||||123456^MEDECIN^PAUL\r"
    "OBR|1|{cid}^SIL|{cid}^LAB|24331-1^Bilan lipidique^LN|||{ts}|||||||||123456^MEDECIN^PAUL"
    "||||||{ts}||CH|F\r"
    "OBX|1|NM|2093-3^Cholesterol total^LN||5.2|mmol/L|3.5-5.0|H|||F|||{ts}\r"
    "OBX|2|NM|2085-9^Cholesterol HDL^LN||1.4|mmol/L|>1.0|N|||F|||{ts}\r"
    "OBX|3|NM|13457-7^Cholesterol LDL^LN||3.1|mmol/L|<3.4|N|||F|||{ts}\r"
    "OBX|4|NM|2571-8^Triglycerides^LN||1.5|mmol/L|0.5-1.7|N|||F|||{ts}\r"
    "OBX|5|ST|8251-1^Commentaire^LN||Prelevement a jeun||||||F|||{ts}\r"
)


def make_message(index: int, run_id: str) -> bytes:
    """Message ``index`` of a run: ADT A01/A08 and ORU alternate, 500 patients."""
    patient = index % 500
    fields = {
        "ts": time.strftime("%Y%m%d%H%M%S"),
        "cid": f"{run_id}{index:08d}",
        "ipp": f"IPP{patient:06d}",
        "nir": f"{820469123000 + patient:012d}11",
        "visit": f"V{index:09d}",
        "event": "A01" if index % 4 == 0 else "A08",
    }
    template = ORU if index % 3 == 2 else ADT
    return template.format(**fields).encode("utf-8")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Sink:
    """The downstream system: answers AA and counts distinct control ids."""

    def __init__(self) -> None:
        self.seen: set[bytes] = set()
        self.last_arrival = 0.0
        self.done = asyncio.Event()
        self.expected = 0

    async def on_frame(self, payload: bytes, peer: PeerInfo) -> bytes | None:
        control_id = payload.split(b"\r", 1)[0].split(b"|")[9]
        self.seen.add(control_id)
        self.last_arrival = time.perf_counter()
        if len(self.seen) >= self.expected:
            self.done.set()
        return b"MSH|^~\\&|SINK|SINK|HUB|HUB|20260101000000||ACK|" + control_id + \
            b"|P|2.5\rMSA|AA|" + control_id + b"\r"

    async def on_reject(self, event: object, peer: PeerInfo) -> bytes | None:
        return None


@dataclass
class _Hub:
    process: subprocess.Popen[bytes] | None
    host: str
    port: int
    workdir: Path | None
    peak_rss: int = 0
    cpu_s: float = 0.0
    samples: list[int] = field(default_factory=list)


def _hub_config(workdir: Path, sink_port: int, options: dict[str, Any]) -> dict[str, Any]:
    routes = workdir / "routes"
    routes.mkdir(parents=True, exist_ok=True)
    (routes / "bench.yaml").write_text(yaml.safe_dump({"routes": [{
        "name": "bench-all", "when": {"source": "*"}, "action": "deliver", "to": ["sink"],
    }]}))
    config: dict[str, Any] = {
        "data_dir": str(workdir / "var"),
        "routes_dir": str(routes),
        "admin_token": "bench-token-0123456789abcdef",
        "mllp": {"port": options["hub_port"]},
        "http": {"port": free_port()},
        "destinations": {"sink": {
            "type": "mllp", "host": "127.0.0.1", "port": sink_port, "connections": 8,
            "timeout_s": 10, "retry": {"max_attempts": 1000, "initial_s": 0.5, "max_s": 5},
        }},
    }
    if options.get("broker_url"):
        config["broker_url"] = options["broker_url"]
        config["broker_prefix"] = f"bench-{workdir.name}"
    if options.get("database_url"):
        config["database_url"] = options["database_url"]
    return config


async def _wait_port(host: str, port: int, process: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the hub exited with code {process.returncode} while starting")
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError(f"the hub did not listen on {host}:{port} within 60 s")


async def _spawn_hub(sink_port: int, options: dict[str, Any]) -> _Hub:
    workdir = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    options = {**options, "hub_port": free_port()}
    config = workdir / "hub.yaml"
    config.write_text(yaml.safe_dump(_hub_config(workdir, sink_port, options)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    log = open(workdir / "hub.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "--config", str(config), "run"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir,
    )
    hub = _Hub(process, "127.0.0.1", options["hub_port"], workdir)
    await _wait_port(hub.host, hub.port, process)
    return hub


async def _sample_rss(hub: _Hub, stop: asyncio.Event) -> None:
    if hub.process is None:
        return
    proc = psutil.Process(hub.process.pid)
    while not stop.is_set():
        try:
            rss = proc.memory_info().rss
        except psutil.Error:
            return
        hub.peak_rss = max(hub.peak_rss, rss)
        try:
            times = proc.cpu_times()
            hub.cpu_s = times.user + times.system
        except psutil.Error:
            return
        hub.samples.append(rss)
        try:
            await asyncio.wait_for(stop.wait(), 0.25)
        except TimeoutError:
            pass


async def _sender(host: str, port: int, indexes: range, run_id: str, interval: float,
                  latencies: list[float], failures: list[str]) -> None:
    async with MLLPClient(host, port, response_timeout_s=60) as client:
        next_at = time.perf_counter()
        for index in indexes:
            if interval:
                next_at += interval
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            started = time.perf_counter()
            reply = await client.send(make_message(index, run_id))
            latencies.append(time.perf_counter() - started)
            if b"MSA|AA|" not in reply and b"MSA|CA|" not in reply:
                failures.append(reply[:200].decode("utf-8", "replace"))


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _run(options: dict[str, Any]) -> dict[str, Any]:
    messages, connections = options["messages"], options["connections"]
    sink = _Sink()
    sink.expected = messages
    sink_server: MLLPServer | None = None
    sink_port = options.get("sink_port") or free_port()
    if not options.get("sink_down"):
        sink_server = MLLPServer(sink, port=sink_port, name="bench-sink")
        await sink_server.start()
    hub = (await _spawn_hub(sink_port, options) if options.get("spawn", True)
           else _Hub(None, options["host"], options["port"], None))
    stop = asyncio.Event()
    sampler = asyncio.create_task(_sample_rss(hub, stop))
    run_id = f"B{int(time.time()) % 100000:05d}"
    latencies: list[float] = []
    failures: list[str] = []
    interval = connections / options["rate"] if options.get("rate") else 0.0
    try:
        started = time.perf_counter()
        await asyncio.gather(*[
            _sender(hub.host, hub.port, range(k, messages, connections), run_id, interval,
                    latencies, failures)
            for k in range(connections)
        ])
        send_s = time.perf_counter() - started
        delivered_s = None
        if sink_server is not None:
            try:
                await asyncio.wait_for(sink.done.wait(), options.get("drain_timeout_s", 600))
                delivered_s = sink.last_arrival - started
            except TimeoutError:
                delivered_s = None
        else:
            await asyncio.sleep(options.get("settle_s", 5))
    finally:
        stop.set()
        await sampler
        await _stop_hub(hub, options)
        if sink_server is not None:
            await sink_server.close()
    return {
        "messages": messages,
        "connections": connections,
        "seconds": round(send_s, 3),
        "acked_per_s": round(messages / send_s, 1),
        "ack_p50_ms": round(statistics.median(latencies) * 1000, 2) if latencies else 0.0,
        "ack_p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
        "delivered_per_s": round(messages / delivered_s, 1) if delivered_s else None,
        "delivered": len(sink.seen),
        "rss_mb": round(hub.peak_rss / 1_048_576, 1) if hub.peak_rss else None,
        "failures": len(failures),
        "hub_cpu_ms_per_message": round(hub.cpu_s * 1000 / messages, 3) if hub.cpu_s else None,
        "broker": options.get("broker_url") or "embedded",
        "database": (options.get("database_url") or "sqlite").split(":", 1)[0],
    }


async def _stop_hub(hub: _Hub, options: dict[str, Any]) -> None:
    if hub.process is None:
        return
    hub.process.terminate()
    try:
        await asyncio.to_thread(hub.process.wait, 30)
    except subprocess.TimeoutExpired:
        hub.process.kill()
    if hub.workdir is not None and options.get("broker_url"):
        await _delete_bench_queues(options["broker_url"], f"bench-{hub.workdir.name}")
    if hub.workdir is not None and not options.get("keep"):
        shutil.rmtree(hub.workdir, ignore_errors=True)


async def _delete_bench_queues(url: str, prefix: str) -> None:
    """Remove the RabbitMQ queues the spawned hub declared under its own prefix."""
    import aio_pika

    from hub.broker.rabbitmq import RabbitMQBroker

    names = [
        name
        for queue in ("ingress", "deliver.sink")
        for name in RabbitMQBroker(url, prefix=prefix).physical_queues(queue)
    ]
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        for name in names:
            await channel.queue_delete(name)
    finally:
        await connection.close()


def run_bench(**options: Any) -> dict[str, Any]:
    """Run the benchmark with the CLI's options; return the figures."""
    defaults = {"messages": 20000, "connections": 8, "host": "127.0.0.1", "port": 2575,
                "rate": 0.0, "spawn": True, "sink_port": None, "sink_down": False,
                "broker_url": None, "database_url": None}
    merged = {**defaults, **{k: v for k, v in options.items() if v is not None}}
    try:  # the senders and the sink share the machine with the hub: keep them light
        import uvloop

        return uvloop.run(_run(merged))
    except ImportError:
        return asyncio.run(_run(merged))
