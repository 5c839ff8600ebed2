"""The simulator's stake accounts: real byte layout (authorities where memcmp filters look), filters
and encodings as a node applies them, and the ledger's truth."""

from __future__ import annotations

import base64

from walletsync.simulator.encoding import b58decode
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.solana_rpc import SolanaRpc
from walletsync.simulator.staking import STAKE_PROGRAM


def _call(rpc: SolanaRpc, config: dict[str, object]) -> dict[str, object]:
    return rpc.call(
        {"jsonrpc": "2.0", "id": 1, "method": "getProgramAccounts", "params": [STAKE_PROGRAM, config]}
    )


def test_memcmp_filters_select_by_authority_bytes() -> None:
    ledger = Ledger(5, solana_wallets=3, cardano_wallets=0)
    rpc = SolanaRpc(ledger.solana)
    wallet = ledger.solana_wallets[0]
    by_staker = _call(
        rpc,
        {"encoding": "base64", "filters": [{"dataSize": 200}, {"memcmp": {"offset": 12, "bytes": wallet}}]},
    )
    accounts = by_staker["result"]
    assert isinstance(accounts, list)
    assert len(accounts) == 2  # its own, and the one it stakes for a custodian
    for item in accounts:
        data = base64.b64decode(item["account"]["data"][0])
        assert len(data) == 200
        assert data[12:44] == b58decode(wallet)
        assert int.from_bytes(data[0:4], "little") == 2  # StakeStateV2::Stake
    by_withdrawer = _call(
        rpc, {"encoding": "jsonParsed", "filters": [{"memcmp": {"offset": 44, "bytes": wallet}}]}
    )
    assert len(by_withdrawer["result"]) == 1  # the custodian withdraws the other
    everything = _call(rpc, {"encoding": "base64"})["result"]
    assert isinstance(everything, list)
    assert len(everything) == 2 + 1 + 1  # wallets 0 and 1, and nobody's
    expected = ledger.staking("solana", wallet)
    assert {("staked", a["pubkey"]): a["account"]["lamports"] for a in accounts} == expected


def test_base58_is_refused_and_closed_accounts_vanish() -> None:
    ledger = Ledger(5, solana_wallets=1, cardano_wallets=0)
    rpc = SolanaRpc(ledger.solana)
    assert _call(rpc, {})["error"]["code"] == -32600  # type: ignore[index]
    wallet = ledger.solana_wallets[0]
    first = sorted(ledger.staking("solana", wallet))[0][1]
    ledger.solana_stakes.close(first)
    left = {source for _, source in ledger.staking("solana", wallet)}
    assert left
    assert first not in left
