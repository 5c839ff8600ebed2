"""Per-process TTL cache of slow-changing provider answers (token mint info, asset metadata).

Why not cashews (our cache library elsewhere): its in-memory backend reads `time.time()` directly and
runs its own background expiry task, so expiry can only be tested by sleeping or by patching the
global `time` module; and it returns a shallow copy of the stored value, so one caller mutating a decoded
JSON body would corrupt it for the next. This cache is a bounded LRU dict on an injected monotonic clock
that hands out deep copies. It also collapses concurrent loads of one key into a single upstream call
(single flight): twenty transactions of one mint fetch its metadata once.
Only successful answers are cached; a failed load raises to every waiter and caches nothing.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any


class TtlCache:
    """A bounded LRU of (expires_at, value) on an injected monotonic clock, with single-flight loads."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_entries: int = 2048) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._store: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._loading: dict[str, asyncio.Future[Any]] = {}

    def __len__(self) -> int:
        return len(self._store)

    def get(self, key: str) -> tuple[bool, Any]:
        """(True, a copy of the value) while fresh; (False, None) when absent or expired."""
        entry = self._store.get(key)
        if entry is None:
            return False, None
        expires_at, value = entry
        if self._clock() >= expires_at:
            del self._store[key]
            return False, None
        self._store.move_to_end(key)
        return True, copy.deepcopy(value)

    def put(self, key: str, value: Any, ttl_s: float) -> None:
        if ttl_s <= 0:
            return
        self._store[key] = (self._clock() + ttl_s, copy.deepcopy(value))
        self._store.move_to_end(key)
        while len(self._store) > self._max_entries:
            self._store.popitem(last=False)

    async def get_or_load(
        self, key: str, ttl_s: float, load: Callable[[], Awaitable[Any]]
    ) -> tuple[Any, bool]:
        """The cached value, or `load()` once for all concurrent callers; returns (value, no_new_load)."""
        while True:
            hit, value = self.get(key)
            if hit:
                return value, True
            pending = self._loading.get(key)
            if pending is None:
                break
            # Another caller is loading this key: share its answer (or its error).
            try:
                shared = await asyncio.shield(pending)
            except asyncio.CancelledError:
                if pending.cancelled():
                    continue  # the loading caller was cancelled, not us: load it ourselves
                raise
            return copy.deepcopy(shared), True
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await load()
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # marks it retrieved: no "never retrieved" noise when nobody waited
            raise
        except BaseException:
            future.cancel()
            raise
        else:
            self.put(key, value, ttl_s)
            future.set_result(copy.deepcopy(value))  # private: the loader may mutate its own copy
            return value, False
        finally:
            del self._loading[key]
