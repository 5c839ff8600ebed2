"""Native staking as the providers report it: Solana stake accounts, Cardano unwithdrawn rewards.

Staking is state, not a transaction fact (no transaction moves Solana epoch rewards or Cardano
reward accruals), so these readers return what is staked *now*; the indexer stores it as a snapshot.

- Solana: `getProgramAccounts` on the stake program, `jsonParsed`, filtered (`memcmp`) on the staker
  authority (offset 12 of the account data: the 4-byte state tag, then `Meta.rent_exempt_reserve`
  u64) and, in a second call, on the withdrawer authority (offset 44). An account the wallet is
  both is listed by both calls and counted once. The line's amount is the account's `lamports`:
  everything the account holds (delegated stake, its rent-exempt reserve, rewards compounded into it
  at each epoch, and any undelegated lamports), i.e. what withdrawing it would return.
- Cardano: `/accounts/{stake_address}` `withdrawable_amount`, the rewards earned and not yet
  withdrawn. The ADA delegated with the stake key stays in the payment addresses (already counted
  as liquid), so Cardano has no `staked` line: that would count it twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from walletsync.providers.amounts import AmountError, digits_u64, u64
from walletsync.providers.errors import MalformedResponseError

STAKE_PROGRAM = "Stake11111111111111111111111111111111111111"
STAKER_OFFSET = 12
WITHDRAWER_OFFSET = 44
STAKE_ACCOUNT_SIZE = 200

StakeKind = Literal["staked", "rewards"]


@dataclass(frozen=True, slots=True)
class StakePosition:
    """One staking balance line: `amount` base units of the chain's native asset, read from `source`
    (a Solana stake account, a Cardano stake address)."""

    kind: StakeKind
    source: str
    amount: int


def stake_account_filters(authority: str, offset: int) -> list[dict[str, Any]]:
    """`getProgramAccounts` filters: stake-account-sized data whose authority at `offset` is `authority`."""
    return [{"dataSize": STAKE_ACCOUNT_SIZE}, {"memcmp": {"offset": offset, "bytes": authority}}]


def parse_stake_accounts(result: Any, authority: str, *, provider: str) -> list[StakePosition]:
    """A `getProgramAccounts` (stake program, `jsonParsed`) result as `staked` lines.

    Strict: the result is a list of `{pubkey, account}`, each account owned by the stake program with
    integer lamports within u64 and `authority` as its staker or withdrawer (a node ignoring the
    filter must not make someone else's stake ours); anything else is one `MalformedResponseError`.
    """
    # Some nodes wrap the list in `{context, value}` (when asked `withContext`); accept both.
    if isinstance(result, Mapping) and "value" in result:
        result = result["value"]
    if not isinstance(result, list):
        raise MalformedResponseError("getProgramAccounts result is not a list", provider=provider)
    positions: list[StakePosition] = []
    for position, item in enumerate(result):
        try:
            pubkey = item["pubkey"]
            account = item["account"]
            if not isinstance(pubkey, str) or not pubkey:
                raise ValueError("pubkey is not a string")
            if account["owner"] != STAKE_PROGRAM:
                raise ValueError(f"owner is {account['owner']!r}, not the stake program")
            lamports = u64(account["lamports"], f"[{position}].account.lamports")
            authorized = account["data"]["parsed"]["info"]["meta"]["authorized"]
            if authority not in (authorized["staker"], authorized["withdrawer"]):
                raise ValueError(f"stake account {pubkey} is not authorized to {authority}")
        except AmountError as exc:
            raise MalformedResponseError(f"getProgramAccounts: {exc}", provider=provider) from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedResponseError(
                f"getProgramAccounts item {position}: bad stake account ({type(exc).__name__}: {exc})",
                provider=provider,
            ) from exc
        positions.append(StakePosition("staked", pubkey, lamports))
    return positions


def merge_stake_accounts(*listings: Sequence[StakePosition]) -> list[StakePosition]:
    """The union of several listings by stake account (the staker and withdrawer calls overlap)."""
    by_account: dict[str, StakePosition] = {}
    for listing in listings:
        for stake in listing:
            by_account.setdefault(stake.source, stake)
    return [by_account[key] for key in sorted(by_account)]


def parse_stake_address(body: Any, *, provider: str) -> str | None:
    """The `stake_address` of a Blockfrost `/addresses/{address}` body (None: an enterprise or
    script address, which has no stake key)."""
    if not isinstance(body, Mapping):
        raise MalformedResponseError("address body is not an object", provider=provider)
    stake = body.get("stake_address")
    if stake is None:
        return None
    if not isinstance(stake, str) or not stake.startswith("stake"):
        raise MalformedResponseError(f"address body: bad stake_address {stake!r}", provider=provider)
    return stake


def parse_rewards(stake_address: str, body: Any, *, provider: str) -> StakePosition:
    """A Blockfrost `/accounts/{stake_address}` body as the `rewards` line (`withdrawable_amount`)."""
    if not isinstance(body, Mapping):
        raise MalformedResponseError(f"account {stake_address}: body is not an object", provider=provider)
    try:
        amount = digits_u64(body.get("withdrawable_amount"), "withdrawable_amount")
    except AmountError as exc:
        raise MalformedResponseError(f"account {stake_address}: {exc}", provider=provider) from exc
    return StakePosition("rewards", stake_address, amount)
