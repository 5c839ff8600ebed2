"""How many getTransaction bodies per second the simulator serves (its own process, no faults).

Pages a 100,000-transaction Solana wallet like a backfill does (getSignaturesForAddress pages of
1000, getTransaction in JSON-RPC batches) and prints transactions per second. Usage:
    .venv/bin/python bench/simulator_throughput.py [--txs 100000] [--batch 200] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx

from walletsync.simulator import SimulatorServer


async def backfill(url: str, wallet: str, batch: int, concurrency: int) -> tuple[int, int, float, float]:
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:
        started = time.perf_counter()
        signatures: list[str] = []
        before: str | None = None
        while True:
            config: dict[str, object] = {"limit": 1000}
            if before:
                config["before"] = before
            call = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "getSignaturesForAddress",
                "params": [wallet, config],
            }
            page = (await client.post(url, json=call)).json()["result"]
            signatures += [e["signature"] for e in page]
            if len(page) < 1000:
                break
            before = page[-1]["signature"]
        listed = time.perf_counter() - started
        queue = [signatures[i : i + batch] for i in range(0, len(signatures), batch)]
        fetched = 0

        async def worker() -> None:
            nonlocal fetched
            while queue:
                chunk = queue.pop()
                calls = [
                    {
                        "jsonrpc": "2.0",
                        "id": n,
                        "method": "getTransaction",
                        "params": [sig, {"encoding": "jsonParsed", "maxSupportedTransactionVersion": 0}],
                    }
                    for n, sig in enumerate(chunk)
                ]
                response = await client.post(url, json=calls)
                fetched += sum(1 for r in response.json() if r.get("result"))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(signatures), fetched, listed, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--txs", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    kwargs = {"seed": 1, "solana_wallets": 0, "cardano_wallets": 0, "exact_solana_wallets": [args.txs]}
    t0 = time.perf_counter()
    with SimulatorServer(process=True, ledger_kwargs=kwargs) as server:
        ready = time.perf_counter() - t0
        wallet = server.wallets()["solana"][0]["address"]
        count, fetched, listed, total = asyncio.run(
            backfill(server.url("solana"), wallet, args.batch, args.concurrency)
        )
    print(f"simulator ready in {ready:.1f} s (ledger of {args.txs} txs built in the child)")
    # SPL transfers into the wallet are listed under its token accounts, not under the owner
    print(f"listed {count} owner signatures in {listed:.2f} s")
    print(
        f"fetched {fetched} transactions in {total:.2f} s: {fetched / total:,.0f} tx/s "
        f"(batches of {args.batch}, {args.concurrency} in flight)"
    )


if __name__ == "__main__":
    main()
