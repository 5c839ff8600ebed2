"""Provider adapters: one resilient HTTP client and one adapter per upstream API. Knows nothing of the database."""
