"""Outbox rows as public events: the envelope of `schemas.Event` around a versioned `data` object.

The wallet's label and group and each asset's symbol and decimals are read when the event is built
(one query each per batch), so the outbox keeps only what the writer knew. The body is serialized
once (orjson) and those exact bytes are what webhooks sign and streams send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import BigInteger, Select, Text, any_, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from walletsync.db.models import assets, outbox, wallets
from walletsync.events.schemas import (
    BALANCE_CHANGED,
    SYNC_COMPLETED,
    SYNC_FAILED,
    TX_INDEXED,
    TX_ROLLED_BACK,
    VERSION,
)

NATIVE = "native"
BUILD_SLICE = 100
_WALLET_KEYS = ("wallet_id", "chain", "address")


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    seq: int | None
    topic: str
    wallet_id: int
    group: str | None
    body: bytes  # the serialized envelope

    @property
    def envelope(self) -> dict[str, Any]:
        value: dict[str, Any] = orjson.loads(self.body)
        return value


def event_query() -> Select[Any]:
    """Outbox rows with their wallet's current label and group (the wallet may be gone: nulls)."""
    wallet_id = outbox.c.payload["wallet_id"].astext.cast(BigInteger)
    return select(
        outbox.c.id,
        outbox.c.seq,
        outbox.c.topic,
        outbox.c.payload,
        outbox.c.created_at,
        wallets.c.label,
        wallets.c.group_name,
    ).select_from(outbox.outerjoin(wallets, wallets.c.id == wallet_id))


def wallet_id_of(payload: dict[str, Any]) -> int:
    return int(payload.get("wallet_id") or 0)


async def build(conn: AsyncConnection, rows: Sequence[Any]) -> list[StoredEvent]:
    """Envelopes of `event_query()` rows, in the order given.

    A relay claim or a hub page is up to 1,000 rows (tens of ms of CPU on a busy host): the loop gets
    a turn every `BUILD_SLICE` rows, so the relay's publishing and the streams' writes sharing it are
    not held up for the whole of it."""
    metas = await _asset_meta(conn, rows)
    events: list[StoredEvent] = []
    for start in range(0, len(rows), BUILD_SLICE):
        if start:
            await asyncio.sleep(0)
        events.extend(_event(row, metas) for row in rows[start : start + BUILD_SLICE])
    return events


async def events_by_id(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, StoredEvent]:
    if not ids:
        return {}
    rows = (
        await conn.execute(event_query().where(outbox.c.id == any_(literal(list(ids), ARRAY(BigInteger)))))
    ).all()
    return {event.id: event for event in await build(conn, rows)}


async def _asset_meta(
    conn: AsyncConnection, rows: Sequence[Any]
) -> dict[tuple[str, str], tuple[str | None, int | None]]:
    chains: set[str] = set()
    keys: set[str] = set()
    for row in rows:
        payload = row.payload
        chains.add(str(payload.get("chain")))
        keys.add(NATIVE)
        if "asset" in payload:
            keys.add(str(payload["asset"]))
        keys.update(str(d.get("asset")) for d in payload.get("deltas") or ())
    if not rows:
        return {}
    found = await conn.execute(
        select(assets.c.chain, assets.c.asset_key, assets.c.symbol, assets.c.decimals)
        .where(assets.c.chain == any_(literal(sorted(chains), ARRAY(Text))))
        .where(assets.c.asset_key == any_(literal(sorted(keys), ARRAY(Text))))
    )
    return {(r.chain, r.asset_key): (r.symbol, r.decimals) for r in found}


def _amount(
    metas: dict[tuple[str, str], tuple[str | None, int | None]], chain: str, asset: str, amount: object
) -> dict[str, Any]:
    symbol, decimals = metas.get((chain, asset), (None, None))
    return {"asset": asset, "symbol": symbol, "decimals": decimals, "amount": str(amount)}


def _data(
    topic: str, payload: dict[str, Any], metas: dict[tuple[str, str], tuple[str | None, int | None]]
) -> dict[str, Any]:
    chain = str(payload.get("chain"))
    if topic in (TX_INDEXED, TX_ROLLED_BACK):
        fee = payload.get("fee")
        return {
            "tx_id": payload.get("tx_id"),
            "height": payload.get("height"),
            "block_time": payload.get("block_time"),
            "success": payload.get("success"),
            "fee": _amount(metas, chain, NATIVE, fee) if fee is not None else None,
            "deltas": [
                _amount(metas, chain, str(d["asset"]), d["amount"]) for d in payload.get("deltas") or ()
            ],
        }
    if topic == BALANCE_CHANGED:
        asset = str(payload["asset"])
        symbol, decimals = metas.get((chain, asset), (None, None))
        old, new = int(payload["old_amount"]), int(payload["new_amount"])
        return {
            "asset": asset,
            "symbol": symbol,
            "decimals": decimals,
            "old_amount": str(old),
            "new_amount": str(new),
            "change": str(new - old),
        }
    if topic in (SYNC_COMPLETED, SYNC_FAILED):
        return {k: v for k, v in payload.items() if k not in _WALLET_KEYS}
    # A topic newer than this code: passed through as written.
    return {k: v for k, v in payload.items() if k not in _WALLET_KEYS}


def _event(row: Any, metas: dict[tuple[str, str], tuple[str | None, int | None]]) -> StoredEvent:
    payload: dict[str, Any] = row.payload
    created: datetime = row.created_at
    envelope = {
        "id": str(row.id),
        "type": row.topic,
        "version": VERSION,
        "timestamp": created.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "wallet": {
            "id": wallet_id_of(payload),
            "chain": payload.get("chain"),
            "address": payload.get("address"),
            "label": row.label,
            "group": row.group_name,
        },
        "data": _data(row.topic, payload, metas),
    }
    return StoredEvent(
        id=row.id,
        seq=row.seq,
        topic=row.topic,
        wallet_id=wallet_id_of(payload),
        group=row.group_name,
        body=orjson.dumps(envelope),
    )
