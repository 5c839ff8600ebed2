"""A wallet's transactions as the dashboard lists them: pages of `PAGE_SIZE`, newest first, each with
its fee, success, per-asset deltas in whole units, and a block explorer link (per-chain template from
the settings, `WALLETSYNC_EXPLORER_TX_URL_<CHAIN>`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.config import Chain, Settings
from walletsync.portfolio.balances import format_units
from walletsync.wallets.repository import TxRow, WalletRow, list_transactions

PAGE_SIZE = 25
NATIVE_DECIMALS = {Chain.SOLANA: 9, Chain.CARDANO: 6}


@dataclass(frozen=True, slots=True)
class TxLine:
    tx: TxRow
    fee: str  # whole units of the native asset
    deltas: list[tuple[str, str, bool]]  # (symbol, signed whole units, incoming)
    explorer_url: str | None


def explorer_url(settings: Settings, chain: Chain, tx_id: str) -> str | None:
    template = settings.explorer_tx_url_solana if chain is Chain.SOLANA else settings.explorer_tx_url_cardano
    return template.replace("{tx_id}", quote(tx_id, safe="")) if template else None


def encode_position(tx: TxRow) -> str | None:
    return f"{tx.height}:{tx.tx_id}" if tx.height is not None else None


def decode_position(cursor: str | None) -> tuple[int, str] | None:
    """The (height, tx_id) of a page cursor; None (the first page) for anything malformed."""
    if not cursor:
        return None
    height, _, tx_id = cursor.partition(":")
    if not height.isdigit() or not tx_id:
        return None
    return int(height), tx_id


def _line(settings: Settings, tx: TxRow) -> TxLine:
    deltas = []
    for d in tx.deltas:
        amount = format_units(d.amount, d.decimals) if d.decimals is not None else str(d.amount)
        deltas.append((d.symbol or d.asset_key[:10], amount if d.amount < 0 else f"+{amount}", d.amount > 0))
    fee = format_units(tx.fee, NATIVE_DECIMALS[tx.chain])
    return TxLine(tx, fee, deltas, explorer_url(settings, tx.chain, tx.tx_id))


async def transactions_context(
    conn: AsyncConnection, settings: Settings, wallet: WalletRow, *, cursor: str | None
) -> dict[str, Any]:
    rows = await list_transactions(conn, wallet.id, before=decode_position(cursor), limit=PAGE_SIZE + 1)
    page, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
    return {
        "wallet": wallet,
        "txs": [_line(settings, tx) for tx in page],
        "next_cursor": encode_position(page[-1]) if more and page else None,
        "first_page": cursor is None,
    }
