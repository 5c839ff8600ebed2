"""Prometheus metrics of event publishing, webhook delivery and live streams (labels are bounded)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PUBLISHED = Counter("walletsync_events_published_total", "Outbox events published by the relay.", ["topic"])
DELIVERIES = Counter(
    "walletsync_webhook_deliveries_total",
    "Webhook delivery attempts by result (delivered, retry, dead, gone).",
    ["result"],
)
ATTEMPT_SECONDS = Histogram(
    "walletsync_webhook_attempt_seconds",
    "Duration of one webhook POST, from sending to the receiver's answer.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OLDEST_UNDELIVERED = Gauge(
    "walletsync_events_oldest_undelivered_seconds",
    "Age of the oldest event not yet published or with a webhook delivery still pending.",
)
DEAD_DELIVERIES = Gauge(
    "walletsync_webhook_dead_deliveries", "Webhook deliveries that gave up (redeliverable)."
)
STREAM_CLIENTS = Gauge("walletsync_event_stream_clients", "Connected live-stream clients.", ["kind"])
STREAM_DROPPED = Counter(
    "walletsync_event_stream_dropped_total", "Live-stream clients disconnected by the server.", ["reason"]
)
PRUNED = Counter("walletsync_events_pruned_total", "Rows removed by event retention.", ["table"])
