"""What Blockfrost's `/assets/{unit}` says about a native asset: its name, ticker and decimals.

Three places may hold them, read in this order, field by field (the first that states a field wins):

1. `metadata`: the off-chain token registry (Cardano Foundation's), curated: name, ticker, decimals.
2. CIP-68 (`onchain_metadata_standard` CIP68v1/v2/v3): `onchain_metadata` is the datum of the
   asset's reference token (label 100), which its minting policy controls: name, ticker, decimals.
3. CIP-25 (`onchain_metadata` of the minting transaction, standard CIP25v1/v2 or unstated): a name
   only; CIP-25 defines no ticker or decimals, so none are taken from it.

Failing all, the name is the asset name itself when it is UTF-8 (after a CIP-67 label, if any).
Values of the wrong type (a decimals that is not an integer in 0..255, a name that is not a string)
are ignored with a warning: a token shown without a name is better than a sync that fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from walletsync.config import Chain
from walletsync.providers.types import AssetInfo

log = structlog.get_logger(__name__)

CIP68_STANDARDS = frozenset({"CIP68v1", "CIP68v2", "CIP68v3"})
# CIP-67 asset-name labels of CIP-68 tokens: reference NFT (100), NFT (222), FT (333), RFT (444).
CIP67_LABELS = frozenset({"000643b0", "000de140", "0014df10", "001bc280"})


def _text(unit: str, field: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        log.warning("cardano.asset.bad_field", unit=unit, field=field, type=type(value).__name__)
        return None
    return value.strip() or None


def _decimals(unit: str, field: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
        log.warning("cardano.asset.bad_field", unit=unit, field=field, value=repr(value)[:40])
        return None
    return value


def display_name(asset_name_hex: str | None) -> str | None:
    """The asset name as text (its CIP-67 label dropped), or None when it is not printable UTF-8."""
    if not asset_name_hex:
        return None
    if asset_name_hex[:8] in CIP67_LABELS:
        asset_name_hex = asset_name_hex[8:]
    try:
        text = bytes.fromhex(asset_name_hex).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return text if text.isprintable() and text.strip() else None


def parse_asset(unit: str, body: Mapping[str, Any]) -> AssetInfo:
    """An `/assets/{asset}` body as `AssetInfo`, by the precedence above."""
    sources: list[tuple[str, Mapping[str, Any], bool]] = []  # (source, fields, may state ticker/decimals)
    registry = body.get("metadata")
    if isinstance(registry, Mapping):
        sources.append(("registry", registry, True))
    onchain = body.get("onchain_metadata")
    standard = body.get("onchain_metadata_standard")
    if isinstance(onchain, Mapping):
        if standard in CIP68_STANDARDS:
            sources.append(("cip68", onchain, True))
        else:
            sources.append(("cip25", onchain, False))
    name = symbol = None
    decimals: int | None = None
    used: list[str] = []
    for source, fields, full in sources:
        found = name, symbol, decimals
        name = name or _text(unit, f"{source}.name", fields.get("name"))
        if full:
            symbol = symbol or _text(unit, f"{source}.ticker", fields.get("ticker"))
            if decimals is None:
                decimals = _decimals(unit, f"{source}.decimals", fields.get("decimals"))
        if (name, symbol, decimals) != found:
            used.append(source)
    if name is None:
        name = display_name(body.get("asset_name"))
    extra: dict[str, Any] = {
        k: body[k] for k in ("policy_id", "asset_name", "fingerprint", "quantity") if body.get(k) is not None
    }
    if used:
        extra["sources"] = used
    if isinstance(standard, str):
        extra["standard"] = standard
    return AssetInfo(
        chain=Chain.CARDANO, asset_key=unit, symbol=symbol, name=name, decimals=decimals, metadata=extra
    )
