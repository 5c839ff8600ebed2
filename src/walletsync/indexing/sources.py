"""Per-chain transaction sources: list a wallet's new transactions page by page, fetch them in parallel.

A source turns the wallet's stored cursor into a stream of `Page`s, each carrying the cursor to
commit once that page's facts are stored, so a crash resumes at the last committed page.

- Solana lists signatures newest first (`getSignaturesForAddress`), for the wallet's own key and for
  each of its token accounts (a transfer into a token account does not list under the owner): the
  open ones `getTokenAccountsByOwner` returns, and any other the owner's own transactions name
  (accounts closed since, whose earlier incoming transfers would otherwise be missed). Such an
  account enters the cursor committed with the page that revealed it, so an interrupted run's
  discoveries survive (the transactions that revealed them are linked, never fetched again). The
  cursor per address keeps the newest signature reached and, while a run pages backwards, a
  `pending` window `{head, before, until}`; the window closes (newest := head) when a page comes back
  short. At `finalized` commitment (the default) nothing listed is ever rolled back; at `confirmed`
  the cursor also records the finalized slot, above which the next run re-checks (`rollback.py`).
- Cardano lists an address's transactions oldest first (Blockfrost `from=height:index`) and stops
  `WALLETSYNC_CARDANO_SAFETY_DEPTH` blocks below the tip: a transaction is indexed only once it is that
  deep, so most rollbacks never reach the balances; deeper ones are detected and retracted by the
  rollback check (`rollback.py`) before each listing.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

import structlog

from walletsync.config import Chain
from walletsync.errors import WalletsyncError
from walletsync.providers.cardano import CardanoAdapter, normalize_cardano_tx, units_moved
from walletsync.providers.errors import UpstreamNotFoundError
from walletsync.providers.solana import SolanaAdapter
from walletsync.providers.solana_parse import owned_token_accounts, token_decimals
from walletsync.providers.types import AssetInfo, ChainTx, TxRef

log = structlog.get_logger(__name__)

SOLANA_PAGE = 1000  # getSignaturesForAddress maximum
CARDANO_PAGE = 100  # Blockfrost maximum `count`

T = TypeVar("T")
R = TypeVar("R")
OnAssets = Callable[[Iterable[str]], None]
"""Told, as soon as fetched data names them (before the whole page is in), of the assets whose
balances the page may change for the source's owners (a superset is fine: it only starts lookups)."""


class ChainNotConfiguredError(WalletsyncError):
    status = 503
    title = "Chain not configured"
    exit_code = 2


@dataclass(frozen=True, slots=True)
class StoredTx:
    """A transaction indexed for the wallet, as a rollback check sees it."""

    tx_id: str
    height: int
    block_hash: str | None


@dataclass(frozen=True, slots=True)
class Page:
    refs: list[TxRef]
    cursor: dict[str, Any]  # to commit with this page's facts


class TransactionSource(Protocol):
    chain: Chain

    async def owners(self) -> frozenset[str]: ...

    def pages(self, cursor: dict[str, Any] | None) -> AsyncIterator[Page]: ...

    async def fetch(self, refs: Sequence[TxRef], *, on_assets: OnAssets | None = None) -> list[ChainTx]: ...

    async def asset_infos(self, keys: set[str]) -> list[AssetInfo]: ...

    def settle(self, page: Page, txs: Sequence[ChainTx]) -> dict[str, Any]:
        """The cursor to commit with `page`, once its new transactions `txs` are fetched."""
        ...

    async def recheck_floor(self, cursor: dict[str, Any]) -> int | None:
        """Indexed transactions above this height may still be rolled back (None: none can)."""
        ...

    async def vanished(self, recent: Sequence[StoredTx]) -> set[str]:
        """Which of `recent` the chain no longer holds in the block they were indexed from."""
        ...

    def rewind(self, cursor: dict[str, Any], height: int, gone: set[str]) -> dict[str, Any]:
        """`cursor` moved back past the retracted `gone` (lowest at `height`): listing resumes
        below them (already linked ones are skipped)."""
        ...


async def bounded_map(
    func: Callable[[T], Awaitable[R]],
    items: Sequence[T],
    *,
    concurrency: int,
    on_result: Callable[[R], None] | None = None,
) -> list[R]:
    """`func` over `items` with at most `concurrency` in flight; results in input order."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(item: T) -> R:
        async with semaphore:
            result = await func(item)
        if on_result is not None:
            on_result(result)
        return result

    return list(await asyncio.gather(*(one(item) for item in items)))


def _unknown_asset(chain: Chain, key: str) -> AssetInfo:
    return AssetInfo(chain=chain, asset_key=key, symbol=None, name=None, decimals=None)


class SolanaSource:
    chain = Chain.SOLANA

    def __init__(self, adapter: SolanaAdapter, address: str, *, concurrency: int, batch_size: int) -> None:
        self._adapter = adapter
        self._address = address
        self._concurrency = concurrency
        self._batch_size = batch_size
        self._current: dict[str, Any] = {}  # the cursor as `pages` advances it
        self._decimals: dict[str, int] = {}  # mint -> decimals stated by fetched transactions

    async def owners(self) -> frozenset[str]:
        return frozenset({self._address})

    async def pages(self, cursor: dict[str, Any] | None) -> AsyncIterator[Page]:
        current = self._current = copy.deepcopy(cursor) if cursor else {}
        per_address: dict[str, Any] = current.setdefault("addresses", {})
        if self._adapter.commitment == "confirmed":
            # What this run indexes above the finalized slot is provisional: the next run re-checks
            # everything above it (`recheck_floor`).
            current["final_slot"] = await self._adapter.slot("finalized")
        token_accounts = await self._adapter.token_accounts(self._address)
        # Every address in the cursor stays scanned: accounts closed since no longer list by owner,
        # and accounts discovered by an earlier (perhaps interrupted) run were saved there.
        addresses = list(dict.fromkeys([self._address, *(a.account for a in token_accounts), *per_address]))
        scanned: set[str] = set()
        for address in addresses:
            async for page in self._scan(address, current):
                yield page
            scanned.add(address)
        # Token accounts the owner's fetched transactions name but the RPC no longer lists (closed):
        # their incoming transfers are listed only under them. `settle` adds them to the cursor
        # while the pages above are consumed, so this sees every account found so far.
        while unscanned := sorted(set(per_address) - scanned):
            for address in unscanned:
                log.info("sync.solana.token_account_discovered", account=address)
                async for page in self._scan(address, current):
                    yield page
                scanned.add(address)

    def settle(self, page: Page, txs: Sequence[ChainTx]) -> dict[str, Any]:
        """The cursor to commit with `page`: its own, plus every token account its transactions
        revealed as the owner's (to scan from the start). Saved in the same database transaction as
        the facts that revealed them, a run interrupted after this page still scans them on resume,
        although those transactions, already linked, are never fetched again."""
        found: set[str] = set()
        for tx in txs:
            if tx.raw is not None:
                found |= owned_token_accounts(tx.raw, self._address)
        live = self._current.setdefault("addresses", {})
        settled = copy.deepcopy(page.cursor)
        for account in sorted(found):
            if account not in live:
                live[account] = {"newest": None, "pending": None}
            settled["addresses"].setdefault(account, {"newest": None, "pending": None})
        return settled

    async def _scan(self, address: str, current: dict[str, Any]) -> AsyncIterator[Page]:
        """Page backwards through one address's new signatures, advancing its cursor entry."""
        position = current["addresses"].setdefault(address, {"newest": None, "pending": None})
        while True:
            pending = position["pending"]
            refs = await self._adapter.signatures(
                address,
                before=pending["before"] if pending else None,
                until=pending["until"] if pending else position["newest"],
                limit=SOLANA_PAGE,
            )
            if pending is None:
                if not refs:
                    return
                pending = position["pending"] = {
                    "head": refs[0].tx_id,
                    "before": None,
                    "until": position["newest"],
                }
            if refs:
                pending["before"] = refs[-1].tx_id
            finished = len(refs) < SOLANA_PAGE
            if finished:
                position["newest"] = pending["head"]
                position["pending"] = None
            yield Page(refs=refs, cursor=copy.deepcopy(current))
            if finished:
                return

    async def fetch(self, refs: Sequence[TxRef], *, on_assets: OnAssets | None = None) -> list[ChainTx]:
        signatures = [ref.tx_id for ref in refs]
        size = self._batch_size
        batches = [signatures[i : i + size] for i in range(0, len(signatures), size)]
        owners = await self.owners()

        def each(batch: list[ChainTx]) -> None:
            for tx in batch:
                if tx.raw is not None:
                    self._decimals.update(token_decimals(tx.raw))
            if on_assets is not None:
                on_assets({d.asset for tx in batch for d in tx.deltas if d.owner in owners})

        results = await bounded_map(
            self._adapter.transactions, batches, concurrency=self._concurrency, on_result=each
        )
        return [tx for batch in results for tx in batch]

    async def recheck_floor(self, cursor: dict[str, Any]) -> int | None:
        """At `finalized` nothing indexed is ever rolled back. At `confirmed`, what was indexed above
        the finalized slot of the previous run was provisional: re-verified now."""
        if self._adapter.commitment == "finalized":
            return None
        final = cursor.get("final_slot")
        return int(final) if isinstance(final, int) else None

    async def vanished(self, recent: Sequence[StoredTx]) -> set[str]:
        signatures = [tx.tx_id for tx in recent]
        size = self._batch_size
        gone: set[str] = set()
        for i in range(0, len(signatures), size):
            gone |= await self._adapter.vanished(signatures[i : i + size])
        return gone

    def rewind(self, cursor: dict[str, Any], height: int, gone: set[str]) -> dict[str, Any]:
        """An address whose newest listed signature vanished is listed again from its newest (the
        RPC cannot page `until` a signature it no longer has); the others are unaffected."""
        rewound = copy.deepcopy(cursor)
        for address, position in rewound.get("addresses", {}).items():
            pending = position.get("pending") or {}
            if position.get("newest") in gone or pending.get("head") in gone or pending.get("until") in gone:
                rewound["addresses"][address] = {"newest": None, "pending": None}
        return rewound

    async def asset_infos(self, keys: set[str]) -> list[AssetInfo]:
        async def info(key: str) -> AssetInfo:
            # Decimals as the transactions themselves state them win: they hold even when the mint
            # account is gone (closed). Name and symbol: the Token-2022 metadata extension, then
            # Metaplex (`SolanaAdapter.mint_info`); an unreadable metadata account means none.
            stated = self._decimals.get(key)
            try:
                found = await self._adapter.mint_info(key)
            except UpstreamNotFoundError:
                found = _unknown_asset(self.chain, key)
            return found if stated is None else replace(found, decimals=stated)

        return await bounded_map(info, sorted(keys), concurrency=self._concurrency)


class CardanoSource:
    chain = Chain.CARDANO

    def __init__(
        self,
        adapter: CardanoAdapter,
        address: str,
        *,
        concurrency: int,
        safety_depth: int,
        rollback_window: int = 2160,
    ) -> None:
        self._adapter = adapter
        self._address = address
        self._concurrency = concurrency
        self._safety_depth = safety_depth
        self._rollback_window = rollback_window
        self._owners: frozenset[str] | None = None

    async def owners(self) -> frozenset[str]:
        if self._owners is None:
            if self._address.startswith("stake"):
                self._owners = frozenset(await self._adapter.account_addresses(self._address))
            else:
                self._owners = frozenset({self._address})
        return self._owners

    async def pages(self, cursor: dict[str, Any] | None) -> AsyncIterator[Page]:
        current: dict[str, Any] = copy.deepcopy(cursor) if cursor else {}
        per_address: dict[str, Any] = current.setdefault("addresses", {})
        owners = sorted(await self.owners())
        safe_height: int | None = None
        for address in owners:
            while True:
                after = per_address.get(address)
                listing = self._adapter.transactions_page(
                    address, after=(after[0], after[1]) if after else None, count=CARDANO_PAGE
                )
                if safe_height is None:
                    # The tip is read once per run, alongside the first listing (one round trip).
                    tip, refs = await asyncio.gather(self._adapter.tip_height(), listing)
                    safe_height = tip - self._safety_depth
                else:
                    refs = await listing
                safe = [ref for ref in refs if ref.height <= safe_height]
                if safe:
                    per_address[address] = [safe[-1].height, safe[-1].index]
                    yield Page(refs=safe, cursor=copy.deepcopy(current))
                # The adapter drops at most the one inclusive `from` entry, so fewer than
                # CARDANO_PAGE - 1 means the listing is exhausted.
                if len(safe) < len(refs) or len(refs) < CARDANO_PAGE - 1:
                    break

    def settle(self, page: Page, txs: Sequence[ChainTx]) -> dict[str, Any]:
        return page.cursor

    async def recheck_floor(self, cursor: dict[str, Any]) -> int | None:
        return await self._adapter.tip_height() - self._rollback_window

    async def vanished(self, recent: Sequence[StoredTx]) -> set[str]:
        """Transactions Blockfrost no longer returns, or returns in another block (a rollback)."""

        async def gone(tx: StoredTx) -> str | None:
            block = await self._adapter.block_of(tx.tx_id)
            if block is None or (tx.block_hash is not None and block != tx.block_hash):
                return tx.tx_id
            return None

        found = await bounded_map(gone, list(recent), concurrency=self._concurrency)
        return {tx_id for tx_id in found if tx_id is not None}

    def rewind(self, cursor: dict[str, Any], height: int, gone: set[str]) -> dict[str, Any]:
        """Each address listed at or past `height` resumes just below it (Blockfrost `from` is
        inclusive, and transactions still linked are skipped before fetching)."""
        rewound = copy.deepcopy(cursor)
        for address, after in rewound.get("addresses", {}).items():
            if after and after[0] >= height:
                rewound["addresses"][address] = [height - 1, 0]
        return rewound

    async def fetch(self, refs: Sequence[TxRef], *, on_assets: OnAssets | None = None) -> list[ChainTx]:
        """Every transaction's UTxOs are asked for before any body: the UTxOs name the assets, so
        their metadata lookups run beside the bodies instead of a round trip after the page (with
        each pair fetched together, a page larger than one wave of calls found some assets only in
        its last wave). `concurrency` transactions in flight are twice as many calls."""
        tx_ids = [ref.tx_id for ref in refs]
        owners = await self.owners()

        def hint(utxos: Any) -> None:
            if on_assets is not None:
                on_assets(units_moved(utxos, owners))

        async def call(item: tuple[bool, str]) -> Any:
            is_utxos, tx_id = item
            if is_utxos:
                utxos = await self._adapter.tx_utxos(tx_id)
                hint(utxos)
                return utxos
            return await self._adapter.tx_body(tx_id)

        calls = [(True, tx_id) for tx_id in tx_ids] + [(False, tx_id) for tx_id in tx_ids]
        answers = await bounded_map(call, calls, concurrency=2 * self._concurrency)
        n = len(tx_ids)  # answers: every UTxO body, then every transaction body, in `tx_ids` order
        return [normalize_cardano_tx(answers[n + i], answers[i]) for i in range(n)]

    async def asset_infos(self, keys: set[str]) -> list[AssetInfo]:
        async def info(key: str) -> AssetInfo:
            try:
                return await self._adapter.asset(key)
            except UpstreamNotFoundError:
                return _unknown_asset(self.chain, key)

        return await bounded_map(info, sorted(keys), concurrency=self._concurrency)
