"""Revision 0006 fills `wallet_transactions.fee` for rows indexed before it, from the stored raw
transaction: the payer's wallet gets the fee, the other wallet 0, an unreadable row stays NULL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, pool, text

from walletsync.db import migrate
from walletsync.db.engine import psycopg_url

PAYER = "PayerWa11et1111111111111111111111111111111"
OTHER = "OtherWa11et1111111111111111111111111111111"
ADA_PAYER = "addr1qpayer000000000000000000000000000000"
ADA_OTHER = "addr1qother000000000000000000000000000000"
SCRIPT = "addr1wscript0000000000000000000000000000"


@pytest.fixture
def engine(empty_database_url: str) -> Iterator[Engine]:
    eng = create_engine(psycopg_url(empty_database_url), poolclass=pool.NullPool)
    yield eng
    eng.dispose()


def _solana_raw(payer: str, other: str) -> str:
    keys = [{"pubkey": payer, "signer": True}, {"pubkey": other, "signer": False}]
    return json.dumps({"transaction": {"message": {"accountKeys": keys}, "signatures": ["s1"]}})


def _utxo(
    address: str, lovelace: int, *, collateral: bool = False, reference: bool = False
) -> dict[str, Any]:
    amount = [{"unit": "lovelace", "quantity": str(lovelace)}]
    return {"address": address, "amount": amount, "collateral": collateral, "reference": reference}


def test_backfill_charges_only_the_payer(empty_database_url: str, engine: Engine) -> None:
    migrate.upgrade(empty_database_url, "0005")
    at = datetime(2025, 1, 1, tzinfo=UTC)
    # A script purchase: the pool's input (listed first) gets its ADA back plus the price; the buyer
    # pays the price and the fee. A reference input and the collateral are not spent.
    cardano_raw = json.dumps(
        {
            "tx": {"valid_contract": True},
            "utxos": {
                "inputs": [
                    _utxo(SCRIPT, 5_000_000_000),
                    _utxo(ADA_OTHER, 20_000_000, reference=True),
                    _utxo(ADA_PAYER, 9_000_000, collateral=True),
                    _utxo(ADA_PAYER, 100_000_000),
                ],
                "outputs": [
                    _utxo(SCRIPT, 5_030_000_000),
                    _utxo(ADA_PAYER, 100_000_000 - 30_000_000 - 180_000),
                ],
            },
        }
    )
    with engine.begin() as conn:
        for n, (chain, address) in enumerate(
            [("solana", PAYER), ("solana", OTHER), ("cardano", ADA_PAYER), ("cardano", ADA_OTHER)], start=1
        ):
            conn.execute(
                text("INSERT INTO wallets (id, chain, address) OVERRIDING SYSTEM VALUE VALUES (:id, :c, :a)"),
                {"id": n, "c": chain, "a": address},
            )
        rows = [
            ("solana", "s1", 5000, _solana_raw(PAYER, OTHER)),
            ("solana", "s2", 7000, None),  # raw not stored: payer unknown
            ("cardano", "c1", 180000, cardano_raw),
        ]
        for chain, tx_id, fee, raw in rows:
            conn.execute(
                text(
                    "INSERT INTO transactions (chain, tx_id, height, block_time, fee, success, raw)"
                    " VALUES (:c, :t, 1, :at, :fee, true, CAST(:raw AS jsonb))"
                ),
                {"c": chain, "t": tx_id, "at": at, "fee": fee, "raw": raw},
            )
        for wallet_id, chain, tx_id in [
            (1, "solana", "s1"),
            (2, "solana", "s1"),
            (2, "solana", "s2"),
            (3, "cardano", "c1"),
            (4, "cardano", "c1"),
        ]:
            conn.execute(
                text(
                    "INSERT INTO wallet_transactions (wallet_id, chain, tx_id, height, block_time)"
                    " VALUES (:w, :c, :t, 1, :at)"
                ),
                {"w": wallet_id, "c": chain, "t": tx_id, "at": at},
            )
    migrate.upgrade(empty_database_url, "0006")
    with engine.connect() as conn:
        fees = {
            (row.wallet_id, row.tx_id): row.fee
            for row in conn.execute(text("SELECT wallet_id, tx_id, fee FROM wallet_transactions"))
        }
    assert fees == {(1, "s1"): 5000, (2, "s1"): 0, (2, "s2"): None, (3, "c1"): 180000, (4, "c1"): 0}
    migrate.downgrade(empty_database_url, "0005")
    migrate.upgrade(empty_database_url)
