"""Events: the outbox relay, Standard Webhooks delivery, live streams (SSE, WebSocket) and retention.

Facts and the `outbox` rows describing them commit together (`indexing/`); everything here reads the
outbox afterwards. `emit` writes the events the indexer does not write itself, `relay` publishes and
delivers, `streams` serves live clients, `retention` prunes. `schemas` is the public contract.
"""
