"""What `walletsync simulator` does: turn its options into a `FaultConfig`, announce URLs, serve."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console

from walletsync.simulator.faults import PROVIDERS, FaultConfig, FaultRule, RateLimit
from walletsync.simulator.ledger import Ledger
from walletsync.simulator.server import run_simulator


class OptionError(ValueError):
    """An option value the command cannot use (the message names it)."""


def parse_latency(text: str | None) -> float | tuple[float, float]:
    """ "25" -> 25.0 ms fixed; "5:50" -> uniform between 5 and 50 ms."""
    if not text:
        return 0.0
    try:
        if ":" in text:
            lo, hi = (float(x) for x in text.split(":", 1))
            if not 0 <= lo <= hi:
                raise OptionError("--latency-ms MIN:MAX needs 0 <= MIN <= MAX")
            return (lo, hi)
        value = float(text)
    except ValueError:
        raise OptionError(f"--latency-ms: not a number or MIN:MAX range: {text!r}") from None
    if value < 0:
        raise OptionError("--latency-ms must be >= 0")
    return value


def parse_rate_limits(specs: Sequence[str]) -> dict[str, RateLimit]:
    """["solana=10:20", ...] -> {"solana": RateLimit(rate=10, burst=20)}; burst defaults to the rate."""
    limits: dict[str, RateLimit] = {}
    for spec in specs:
        provider, _, value = spec.partition("=")
        if provider not in PROVIDERS or not value:
            raise OptionError(
                f"--rate-limit {spec!r}: use PROVIDER=RATE[:BURST], PROVIDER one of {PROVIDERS}"
            )
        rate_text, _, burst_text = value.partition(":")
        try:
            rate = float(rate_text)
            burst = int(burst_text) if burst_text else max(1, round(rate))
            limits[provider] = RateLimit(rate=rate, burst=burst)
        except ValueError:
            raise OptionError(f"--rate-limit {spec!r}: RATE must be > 0 and BURST an integer >= 1") from None
    return limits


def fault_config(
    *,
    latency_ms: str | None,
    fail_rate: float,
    timeout_rate: float,
    malformed_rate: float,
    rate_limits: Sequence[str],
    seed: int,
) -> FaultConfig:
    rule = FaultRule(
        latency_ms=parse_latency(latency_ms),
        fail_rate=fail_rate,
        timeout_rate=timeout_rate,
        malformed_rate=malformed_rate,
    )
    return FaultConfig(seed=seed, default=rule, rate_limits=parse_rate_limits(rate_limits))


def announce(console: Console, host: str) -> object:
    """A callback for `run_simulator` printing the provider URLs and the demo wallets."""

    def show(ledger: Ledger, port: int) -> None:
        base = f"http://{host}:{port}"
        console.print(f"[bold]walletsync simulator[/] (seed {ledger.seed}) on {base}")
        console.print(f"SOLANA_RPC_URLS={base}/e0/solana,{base}/e1/solana", soft_wrap=True)
        console.print(f"BLOCKFROST_URLS={base}/e0/blockfrost,{base}/e1/blockfrost", soft_wrap=True)
        console.print(f"TWELVEDATA_URLS={base}/e0/twelvedata", soft_wrap=True)
        summary = ledger.summary()
        for chain in ("solana", "cardano"):
            for wallet in summary[chain]:
                console.print(
                    f"  {chain:8} {wallet['address']}  ({wallet['txs']} txs)", highlight=False, soft_wrap=True
                )
        console.print(f"admin: {base}/_admin/stats  (Ctrl-C to stop)")

    return show


def serve(
    console: Console,
    *,
    host: str,
    port: int,
    seed: int,
    solana_wallets: int,
    cardano_wallets: int,
    faults: FaultConfig,
    blockfrost_project_id: str | None = None,
    twelvedata_api_key: str | None = None,
) -> None:
    run_simulator(
        port,
        seed,
        faults=faults,
        ledger_kwargs={"solana_wallets": solana_wallets, "cardano_wallets": cardano_wallets},
        host=host,
        blockfrost_project_id=blockfrost_project_id,
        twelvedata_api_key=twelvedata_api_key,
        announce=announce(console, host),
    )
