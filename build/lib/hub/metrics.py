"""Prometheus metrics of one hub instance (its own registry, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

ACK_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """Counters, gauges and histograms the hub exposes on ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("hub_messages_received", "Frames received, per source",
                                ["source"], registry=r)
        self.acknowledged = Counter("hub_messages_acknowledged",
                                    "Messages stored and acknowledged positively, per source",
                                    ["source"], registry=r)
        self.rejected = Counter("hub_messages_rejected",
                                "Messages answered AE/AR and kept as rejected, per source",
                                ["source"], registry=r)
        self.duplicates = Counter("hub_messages_duplicate",
                                  "Resent messages answered with their original ACK", registry=r)
        self.storage_failures = Counter("hub_storage_failures",
                                        "Frames answered AR because storage failed", registry=r)
        self.ack_latency = Histogram("hub_ack_latency_seconds",
                                     "From frame received to ACK released", buckets=ACK_BUCKETS,
                                     registry=r)
        self.routed = Counter("hub_messages_routed", "Pipeline outcomes", ["outcome"], registry=r)
        self.deliveries = Counter("hub_deliveries", "Delivery attempts by destination and outcome",
                                  ["destination", "outcome"], registry=r)
        self.queue_depth = Gauge("hub_queue_depth", "Messages waiting per queue",
                                 ["queue"], registry=r)
        self.queue_parked = Gauge("hub_queue_parked", "Messages parked per queue",
                                  ["queue"], registry=r)
        self.queue_oldest = Gauge("hub_queue_oldest_age_seconds",
                                  "Age of the oldest waiting message per queue", ["queue"],
                                  registry=r)
        self.connections = Gauge("hub_mllp_connections", "Open MLLP connections", registry=r)

    def observe_intake(self, source: str, accepted: bool, latency_s: float) -> None:
        """Count one answered frame."""
        self.received.labels(source).inc()
        (self.acknowledged if accepted else self.rejected).labels(source).inc()
        self.ack_latency.observe(latency_s)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
