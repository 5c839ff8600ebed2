"""The wallet's native staking, read from the chain at each sync and stored as a snapshot.

Staking is state, not a fact: no transaction records a Solana epoch reward compounding into a stake
account, or a Cardano reward accruing to a stake address, so there are no deltas to index. Each
successful sync reads what is staked now (`providers.staking`: Solana stake accounts whose staker or
withdrawer is the wallet, as `staked` lines; the Cardano stake address's unwithdrawn rewards, as a
`rewards` line) and `replace_staking` makes `staking_balances` equal to it in one database
transaction: lines that changed are upserted, lines of accounts that disappeared (a closed stake
account, rewards withdrawn to zero) are deleted; `observed_at` stays when the line was first seen
(an amount that changes keeps it: values at earlier times then use the current amount rather than
dropping the line, so a reward does not make the history dip to nothing before it). The table
holds one row per live stake account or stake address, so it is bounded by construction.

The read runs beside the transaction listing (one more round trip or two, not after the pages). If
it fails, the sync fails with that one error and the previous snapshot stays whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.config import Chain
from walletsync.db.models import staking_balances
from walletsync.indexing.store import AssetIds
from walletsync.providers import cardano as cardano_provider
from walletsync.providers import solana_parse
from walletsync.providers.cardano import CardanoAdapter
from walletsync.providers.errors import ProviderError
from walletsync.providers.solana import SolanaAdapter
from walletsync.providers.staking import StakePosition
from walletsync.providers.types import NATIVE
from walletsync.wallets.bech32 import bech32_decode, bech32_encode


async def read_staking(
    chain: Chain, address: str, *, solana: SolanaAdapter | None, cardano: CardanoAdapter | None
) -> list[StakePosition]:
    """The wallet's staking lines now (non-zero ones), or raise the provider's error, its detail
    saying it was the staking read that failed."""
    try:
        if chain is Chain.SOLANA:
            assert solana is not None  # make_source refused the sync already otherwise
            found = await solana.stake_accounts(address)
        else:
            assert cardano is not None
            stake = await _stake_address(cardano, address)
            rewards = await cardano.rewards(stake) if stake is not None else None
            found = [rewards] if rewards is not None else []
    except ProviderError as exc:
        what = "stake accounts" if chain is Chain.SOLANA else "staking rewards"
        exc.detail = f"reading {what} of {address}: {exc.detail}"
        exc.args = (exc.detail,)
        raise
    return [p for p in found if p.amount > 0]


def derived_stake_address(address: str) -> str | None:
    """The reward (stake) address a Shelley base address carries in itself (CIP-19), else None.

    A base address (header types 0-3) is header, 28-byte payment credential, 28-byte stake
    credential; its reward address is that stake credential under header 0xe0 (a key hash) or 0xf0
    (a script hash) with the same network id. Worked out here, it costs no request per sync.
    """
    try:
        hrp, payload = bech32_decode(address)
    except ValueError:
        return None
    header_type, network = payload[0] >> 4, payload[0] & 0x0F
    if not hrp.startswith("addr") or header_type > 3 or len(payload) != 57:
        return None
    header = (0xE0 if header_type in (0, 1) else 0xF0) | network
    return bech32_encode("stake" if network == 1 else "stake_test", bytes([header]) + payload[29:])


async def _stake_address(cardano: CardanoAdapter, address: str) -> str | None:
    """A `stake1…` wallet is its own; a base address names its own; a pointer address (types 4, 5)
    is resolved by Blockfrost (`/addresses/{address}` `stake_address`); others have none."""
    if address.startswith("stake"):
        return address
    derived = derived_stake_address(address)
    if derived is not None:
        return derived
    try:
        header_type = bech32_decode(address)[1][0] >> 4
    except (ValueError, IndexError):
        return None
    return await cardano.stake_address(address) if header_type in (4, 5) else None


async def native_asset_id(conn: AsyncConnection, chain: Chain, asset_ids: AssetIds) -> int:
    """`assets.id` of the chain's native coin, inserted if no transaction has named it yet."""
    if await asset_ids.load(conn, chain, [NATIVE]):
        info = solana_parse.native_asset() if chain is Chain.SOLANA else cardano_provider.native_asset()
        await asset_ids.insert(conn, [info])
    return asset_ids[(chain, NATIVE)]


async def replace_staking(
    conn: AsyncConnection,
    *,
    wallet_id: int,
    asset_id: int,
    positions: Sequence[StakePosition],
    now: datetime | None = None,
) -> bool:
    """Make the wallet's `staking_balances` rows equal `positions`; True when anything changed.

    Run it inside the caller's transaction: the deletes and upserts commit together or not at all.
    """
    observed_at = now or datetime.now(UTC)
    table = staking_balances.c
    stored = {
        (row.kind, row.source): (int(row.amount), row.asset_id)
        for row in await conn.execute(
            select(table.kind, table.source, table.amount, table.asset_id)
            .where(table.wallet_id == wallet_id)
            .order_by(table.kind, table.source)
            .with_for_update()
        )
    }
    wanted = {(p.kind, p.source): p.amount for p in positions if p.amount > 0}
    gone = sorted(stored.keys() - wanted.keys())
    if gone:
        await conn.execute(
            delete(staking_balances).where(
                table.wallet_id == wallet_id, tuple_(table.kind, table.source).in_(gone)
            )
        )
    changed = sorted(key for key, amount in wanted.items() if stored.get(key) != (amount, asset_id))
    if changed:
        rows = pg_insert(staking_balances).values(
            [
                {
                    "wallet_id": wallet_id,
                    "kind": kind,
                    "source": source,
                    "asset_id": asset_id,
                    "amount": wanted[(kind, source)],
                    "observed_at": observed_at,
                }
                for kind, source in changed
            ]
        )
        await conn.execute(
            rows.on_conflict_do_update(
                index_elements=[table.wallet_id, table.kind, table.source],
                set_={"asset_id": rows.excluded.asset_id, "amount": rows.excluded.amount},
            )
        )
    return bool(gone or changed)
