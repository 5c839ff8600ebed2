"""Native staking in the synthetic world: Solana stake accounts and Cardano reward accounts.

Deterministic from the seed and each wallet's place in its chain's wallet list (so every test knows
which wallets stake without searching):

- Solana, wallet number i: i % 3 == 0 owns two stake accounts, one with the wallet as both staker
  and withdrawer, one it delegated as staker only (a custodian withdraws); i % 3 == 1 owns one
  whose withdrawer it is (someone else stakes it); i % 3 == 2 stakes nothing. One more account
  belongs to no wallet (a node ignoring the filters would hand it out). Each account holds its
  rent-exempt reserve plus a deposit plus the epoch rewards compounded into the delegation, which is
  how Solana pays stake rewards (no transaction, no separate balance). Accounts are served by
  `getProgramAccounts` on the stake program (200-byte `StakeStateV2` data, base64 or jsonParsed,
  `dataSize` and `memcmp` filters evaluated on the bytes).
- Cardano, wallet number i: its stake address (a base address's, or a stake wallet itself) is
  registered unless i % 4 == 3 (then Blockfrost answers 404), with a history of epoch rewards and
  withdrawals; `/accounts/{stake}` serves the sums, `withdrawable_amount` their difference.

The ground truth (`expected_*`) is summed from the generated histories directly, not from what the
routes serve. Tests change the world between syncs with `close`, `compound`, `withdraw`, and make
the stake listing fail with `refuse`. The funding of stake accounts is outside the modelled
transactions (the wallet's own history does not pay for it): the staked lamports add to its value.
"""

from __future__ import annotations

import base64
import hashlib
import random
import struct
from dataclasses import dataclass, field
from typing import Any, ClassVar
from weakref import WeakKeyDictionary

from walletsync.simulator.cardano_chain import CardanoChain
from walletsync.simulator.encoding import b58decode, b58encode, bech32_encode, is_solana_pubkey
from walletsync.simulator.solana_chain import SolanaChain

STAKE_PROGRAM = "Stake11111111111111111111111111111111111111"
SYSTEM_PROGRAM = "11111111111111111111111111111111"
STAKE_ACCOUNT_SIZE = 200
RENT_EXEMPT_RESERVE = 2_282_880  # lamports, what a 200-byte account needs on mainnet
U64_MAX = 2**64 - 1
CURRENT_EPOCH = 712


class StakeQueryError(Exception):
    """A JSON-RPC error for `getProgramAccounts` (code, message as a node sends them)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _key(seed: int, *parts: object) -> str:
    return b58encode(
        hashlib.sha256(":".join(["walletsync-sim", str(seed), "stake", *map(str, parts)]).encode()).digest()
    )


@dataclass
class StakeAccount:
    address: str
    staker: str
    withdrawer: str
    voter: str
    deposit: int
    rewards: list[int]  # lamports credited at each epoch boundary since activation
    activation_epoch: int
    credits_observed: int
    closed: bool = False

    @property
    def delegated(self) -> int:
        return self.deposit + sum(self.rewards)

    @property
    def lamports(self) -> int:
        return RENT_EXEMPT_RESERVE + self.delegated

    def data(self) -> bytes:
        """The account's bytes: `StakeStateV2::Stake(Meta, Stake, StakeFlags)`, zero-padded to 200."""
        raw = struct.pack("<IQ", 2, RENT_EXEMPT_RESERVE)
        raw += b58decode(self.staker) + b58decode(self.withdrawer)
        raw += struct.pack("<qQ", 0, 0) + b58decode(SYSTEM_PROGRAM)  # lockup: none
        raw += b58decode(self.voter)
        raw += struct.pack("<QQQd", self.delegated, self.activation_epoch, U64_MAX, 0.25)
        raw += struct.pack("<QB", self.credits_observed, 0)
        return raw.ljust(STAKE_ACCOUNT_SIZE, b"\0")

    def parsed(self) -> dict[str, Any]:
        return {
            "parsed": {
                "info": {
                    "meta": {
                        "authorized": {"staker": self.staker, "withdrawer": self.withdrawer},
                        "lockup": {"custodian": SYSTEM_PROGRAM, "epoch": 0, "unixTimestamp": 0},
                        "rentExemptReserve": str(RENT_EXEMPT_RESERVE),
                    },
                    "stake": {
                        "creditsObserved": self.credits_observed,
                        "delegation": {
                            "activationEpoch": str(self.activation_epoch),
                            "deactivationEpoch": str(U64_MAX),
                            "stake": str(self.delegated),
                            "voter": self.voter,
                            "warmupCooldownRate": 0.25,
                        },
                    },
                },
                "type": "delegated",
            },
            "program": "stake",
            "space": STAKE_ACCOUNT_SIZE,
        }


class SolanaStakes:
    """The stake accounts of one `SolanaChain` (one per chain: `SolanaStakes.of(chain)`)."""

    _by_chain: ClassVar[WeakKeyDictionary[SolanaChain, SolanaStakes]] = WeakKeyDictionary()

    def __init__(self, chain: SolanaChain) -> None:
        self.chain = chain
        self.accounts: dict[str, StakeAccount] = {}
        self._wallets_done = 0
        self.refuse: tuple[int, str] | None = None  # set by tests: every listing fails so
        self._add(
            chain.seed, "foreign", _key(chain.seed, "foreign-staker"), _key(chain.seed, "foreign-staker")
        )

    @classmethod
    def of(cls, chain: SolanaChain) -> SolanaStakes:
        found = cls._by_chain.get(chain)
        if found is None:
            found = cls._by_chain[chain] = cls(chain)
        return found

    def _add(self, seed: int, tag: object, staker: str, withdrawer: str) -> None:
        rng = random.Random(f"{seed}:stake-account:{tag}:{staker}:{withdrawer}")
        address = _key(seed, "account", tag, staker, withdrawer)
        self.accounts[address] = StakeAccount(
            address=address,
            staker=staker,
            withdrawer=withdrawer,
            voter=_key(seed, "voter", rng.randrange(4)),
            deposit=rng.randint(1, 400) * 10**9 + rng.randrange(10**9),
            rewards=[rng.randrange(10**6, 3 * 10**8) for _ in range(rng.randint(1, 6))],
            activation_epoch=CURRENT_EPOCH - rng.randint(2, 40),
            credits_observed=rng.randrange(10**8, 2 * 10**8),
        )

    def _ensure(self) -> None:
        """Generate the accounts of wallets added to the chain since the last look."""
        seed = self.chain.seed
        wallets = self.chain.wallets
        for number in range(self._wallets_done, len(wallets)):
            wallet = wallets[number]
            custodian = _key(seed, "custodian", number)
            if number % 3 == 0:
                self._add(seed, "own", wallet, wallet)
                self._add(seed, "staker-only", wallet, custodian)
            elif number % 3 == 1:
                self._add(seed, "withdrawer-only", custodian, wallet)
        self._wallets_done = len(wallets)

    def of_wallet(self, wallet: str) -> list[StakeAccount]:
        """Open stake accounts with `wallet` as staker or withdrawer, by address."""
        self._ensure()
        return sorted(
            (a for a in self.accounts.values() if not a.closed and wallet in (a.staker, a.withdrawer)),
            key=lambda a: a.address,
        )

    def expected_staked(self, wallet: str) -> dict[str, int]:
        """Ground truth: stake account -> lamports (reserve + deposit + each epoch's reward)."""
        return {a.address: RENT_EXEMPT_RESERVE + a.deposit + sum(a.rewards) for a in self.of_wallet(wallet)}

    def close(self, address: str) -> None:
        """Deactivate and withdraw everything: the account no longer exists."""
        self.accounts[address].closed = True

    def compound(self, address: str, lamports: int) -> None:
        """One more epoch's reward, compounded into the delegation."""
        self.accounts[address].rewards.append(lamports)

    def program_accounts(self, params: list[Any], context: dict[str, Any]) -> Any:
        """`getProgramAccounts`: [program id, {encoding, filters, withContext, commitment}]."""
        if self.refuse is not None:
            raise StakeQueryError(*self.refuse)
        if not params or not isinstance(params[0], str) or not is_solana_pubkey(params[0]):
            raise StakeQueryError(-32602, "Invalid param: Invalid")
        config = params[1] if len(params) > 1 and params[1] is not None else {}
        if not isinstance(config, dict):
            raise StakeQueryError(-32602, "Invalid params: expected a configuration object")
        encoding = config.get("encoding", "base58")
        if encoding not in ("base64", "jsonParsed", "base58"):
            raise StakeQueryError(-32602, f"Invalid params: unsupported encoding {encoding!r}")
        if encoding == "base58":  # 200 bytes is past what base58 may encode
            raise StakeQueryError(
                -32600,
                "Encoded binary (base 58) data should be less than 128 bytes, please use Base64 encoding.",
            )
        filters = config.get("filters", [])
        if not isinstance(filters, list) or len(filters) > 4:
            raise StakeQueryError(-32602, "Invalid params: too many filters provided; max 4")
        self._ensure()
        chosen = []
        if params[0] == STAKE_PROGRAM:
            for account in sorted(self.accounts.values(), key=lambda a: a.address):
                if not account.closed and all(_matches(account.data(), f) for f in filters):
                    chosen.append(_program_account(account, encoding))
        return {"context": context, "value": chosen} if config.get("withContext") else chosen


def _matches(data: bytes, rule: Any) -> bool:
    if not isinstance(rule, dict) or len(rule) != 1:
        raise StakeQueryError(-32602, "Invalid params: bad filter")
    if "dataSize" in rule:
        return bool(len(data) == rule["dataSize"])
    memcmp = rule.get("memcmp")
    if not isinstance(memcmp, dict) or not isinstance(memcmp.get("offset"), int):
        raise StakeQueryError(-32602, "Invalid params: bad memcmp filter")
    try:
        wanted = (
            base64.b64decode(memcmp["bytes"])
            if memcmp.get("encoding") == "base64"
            else b58decode(memcmp["bytes"])
        )
    except (KeyError, ValueError, TypeError):
        raise StakeQueryError(-32602, "Invalid params: bad memcmp bytes") from None
    offset = memcmp["offset"]
    return data[offset : offset + len(wanted)] == wanted


def _program_account(account: StakeAccount, encoding: str) -> dict[str, Any]:
    data: Any = (
        account.parsed()
        if encoding == "jsonParsed"
        else [base64.b64encode(account.data()).decode(), "base64"]
    )
    return {
        "account": {
            "data": data,
            "executable": False,
            "lamports": account.lamports,
            "owner": STAKE_PROGRAM,
            "rentEpoch": U64_MAX,
            "space": STAKE_ACCOUNT_SIZE,
        },
        "pubkey": account.address,
    }


@dataclass
class RewardAccount:
    stake_address: str
    pool: str
    active_epoch: int
    rewards: list[int] = field(default_factory=list)  # lovelace per epoch
    withdrawals: list[int] = field(default_factory=list)


class CardanoRewards:
    """The reward accounts of one `CardanoChain` (`CardanoRewards.of(chain)`)."""

    _by_chain: ClassVar[WeakKeyDictionary[CardanoChain, CardanoRewards]] = WeakKeyDictionary()

    def __init__(self, chain: CardanoChain) -> None:
        self.chain = chain
        self.accounts: dict[str, RewardAccount] = {}
        self._wallets_done = 0
        self.refuse: int | None = None  # set by tests: `/accounts/{stake}` answers this status

    @classmethod
    def of(cls, chain: CardanoChain) -> CardanoRewards:
        found = cls._by_chain.get(chain)
        if found is None:
            found = cls._by_chain[chain] = cls(chain)
        return found

    def _ensure(self) -> None:
        chain = self.chain
        for number in range(self._wallets_done, len(chain.wallets)):
            if number % 4 == 3:
                continue  # never registered: Blockfrost does not know it
            wallet = chain.wallets[number]
            stake = chain.stake_addresses[chain.address_index[wallet]]
            if stake is None or stake in self.accounts:
                continue
            rng = random.Random(f"{chain.seed}:rewards:{stake}")
            rewards = [rng.randrange(10**5, 4 * 10**6) for _ in range(rng.randint(1, 12))]
            # Some accounts withdrew part of what they earned; one in three withdrew it all.
            withdrawals = [] if number % 3 == 1 else [rng.randrange(sum(rewards) // 2 + 1)]
            if number % 3 == 2:
                withdrawals = [sum(rewards)]
            self.accounts[stake] = RewardAccount(
                stake_address=stake,
                pool=bech32_encode(
                    "pool", hashlib.sha256(f"{chain.seed}:pool:{rng.randrange(3)}".encode()).digest()[:28]
                ),
                active_epoch=CURRENT_EPOCH - 200 - rng.randrange(100),
                rewards=rewards,
                withdrawals=withdrawals,
            )
        self._wallets_done = len(chain.wallets)

    def account(self, stake: str) -> RewardAccount | None:
        self._ensure()
        return self.accounts.get(stake)

    def expected_rewards(self, stake: str) -> int:
        """Ground truth: what was earned minus what was withdrawn (0 when never registered)."""
        found = self.account(stake)
        return 0 if found is None else sum(found.rewards) - sum(found.withdrawals)

    def withdraw(self, stake: str) -> None:
        found = self.account(stake)
        assert found is not None
        found.withdrawals.append(sum(found.rewards) - sum(found.withdrawals))

    def body(self, stake: str, liquid_lovelace: int) -> dict[str, Any] | None:
        """The `/accounts/{stake}` body (None: 404), shaped like Blockfrost's."""
        found = self.account(stake)
        if found is None:
            return None
        earned, withdrawn = sum(found.rewards), sum(found.withdrawals)
        return {
            "stake_address": stake,
            "active": True,
            "registered": True,
            "active_epoch": found.active_epoch,
            "controlled_amount": str(liquid_lovelace + earned - withdrawn),
            "rewards_sum": str(earned),
            "withdrawals_sum": str(withdrawn),
            "reserves_sum": "0",
            "treasury_sum": "0",
            "withdrawable_amount": str(earned - withdrawn),
            "pool_id": found.pool,
            "drep_id": None,
        }
