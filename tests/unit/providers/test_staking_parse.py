"""Reading staking bodies strictly: the real shapes parse, anything else is one clear error."""

from __future__ import annotations

from typing import Any

import pytest

from walletsync.providers.errors import MalformedResponseError
from walletsync.providers.staking import (
    StakePosition,
    merge_stake_accounts,
    parse_rewards,
    parse_stake_accounts,
    parse_stake_address,
)

OWNER = "GExypwg7wmcdD3ZXKHxsqKPCoFosWk6qhKRhJRDLFBsr"


def _item(pubkey: str, lamports: Any, *, staker: str = OWNER, withdrawer: str = OWNER) -> dict[str, Any]:
    """One `getProgramAccounts` item as mainnet nodes send it (jsonParsed stake account)."""
    return {
        "account": {
            "data": {
                "parsed": {
                    "info": {
                        "meta": {
                            "authorized": {"staker": staker, "withdrawer": withdrawer},
                            "lockup": {"custodian": OWNER, "epoch": 0, "unixTimestamp": 0},
                            "rentExemptReserve": "2282880",
                        },
                        "stake": {
                            "creditsObserved": 128130707,
                            "delegation": {
                                "activationEpoch": "359",
                                "deactivationEpoch": "18446744073709551615",
                                "stake": "999849940",
                                "voter": "CertusDeBmqN8ZawdkxK5kFGMwBXdudvWHYwtNgNhvLu",
                                "warmupCooldownRate": 0.25,
                            },
                        },
                    },
                    "type": "delegated",
                },
                "program": "stake",
                "space": 200,
            },
            "executable": False,
            "lamports": lamports,
            "owner": "Stake11111111111111111111111111111111111111",
            "rentEpoch": 361,
        },
        "pubkey": pubkey,
    }


def test_stake_accounts_parse_and_merge_once_per_account() -> None:
    staker = parse_stake_accounts([_item("8nxg", 1002132820), _item("9abc", 5)], OWNER, provider="solana")
    withdrawer = parse_stake_accounts(
        {"context": {"slot": 1}, "value": [_item("8nxg", 1002132820)]}, OWNER, provider="solana"
    )
    assert merge_stake_accounts(staker, withdrawer) == [
        StakePosition("staked", "8nxg", 1002132820),
        StakePosition("staked", "9abc", 5),
    ]


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ([_item("8nxg", 1.5e30)], r"\[0\]\.account\.lamports must be an integer within u64"),
        ([_item("8nxg", True)], r"\[0\]\.account\.lamports must be an integer within u64"),
        ([_item("8nxg", 5, staker="X", withdrawer="Y")], "is not authorized to " + OWNER),
        ([{"pubkey": "8nxg"}], "item 0: bad stake account"),
        ({"jsonrpc": "2.0"}, "not a list"),
    ],
)
def test_bad_stake_listings_are_one_error(result: Any, message: str) -> None:
    with pytest.raises(MalformedResponseError, match=message) as caught:
        parse_stake_accounts(result, OWNER, provider="solana")
    assert "\n" not in str(caught.value)


def test_rewards_and_stake_address() -> None:
    stake = "stake1ux3g2c9dx2nhhehyrezyxpkstartcqmu9hk63qgfkccw5rqttygt7"
    body = {"stake_address": stake, "withdrawable_amount": "319154618165", "rewards_sum": "319154618165"}
    assert parse_rewards(stake, body, provider="blockfrost") == StakePosition("rewards", stake, 319154618165)
    assert parse_stake_address({"address": "addr1…", "stake_address": stake}, provider="blockfrost") == stake
    assert parse_stake_address({"address": "addr1…", "stake_address": None}, provider="blockfrost") is None
    for wrong in (12.5, 12, "-3", None):
        with pytest.raises(MalformedResponseError, match="withdrawable_amount must be a string of decimal"):
            parse_rewards(stake, {"withdrawable_amount": wrong}, provider="blockfrost")
