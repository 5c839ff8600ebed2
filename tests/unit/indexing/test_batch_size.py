"""Solana batches no larger than the rate limit can send with slack (`indexing.sync.batch_size`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from walletsync.config import Chain, load_settings
from walletsync.indexing.sources import SolanaSource
from walletsync.indexing.sync import batch_size, make_source
from walletsync.providers.clients import build_provider_clients
from walletsync.services import build_adapters
from walletsync.wallets.repository import WalletRow


def test_the_configured_size_is_lowered_to_the_cap_only() -> None:
    assert batch_size(100, 97) == 97
    assert batch_size(50, 97) == 50
    assert batch_size(10, None) == 10


async def test_a_worker_batches_within_its_rate_limit(tmp_path: Path) -> None:
    """50 calls/s, burst 10, batches of 10 asked for: 5 per batch (100 ms of tokens kept back)."""
    settings = load_settings(
        data_dir=tmp_path,
        solana_rpc_urls="http://rpc.test",
        solana_rate=50.0,
        solana_burst=10,
        sync_batch_size=10,
    )
    async with build_provider_clients(settings) as clients:
        adapters, _ = build_adapters(settings, clients)
        wallet = WalletRow(1, Chain.SOLANA, "So1ana", None, None, datetime.now(UTC))
        source = make_source(wallet, adapters, settings)
        assert isinstance(source, SolanaSource)
        assert source._batch_size == 5
