"""Per-wallet sync: cursor, paging, bounded parallel fetch, idempotent bulk store, outbox events."""
