"""Market data: exchange and instrument catalogs, OHLCV candles, asset-to-instrument links, prices.

Ingestion (`sync.sync_prices`) reads Twelve Data (or the simulator) through the provider adapter and
writes idempotent upserts; reads (`candles`, `links`) serve valuation and the API. Candles are a
hypertable where TimescaleDB exists, but nothing here depends on it.
"""
