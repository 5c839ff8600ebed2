"""Cardano token metadata from Blockfrost `/assets/{unit}`: registry, then CIP-68, then CIP-25.

Real bodies are read in place from the shared folder (the spec's assembled example with registry
metadata, a live mainnet NFT with CIP-25 only); the CIP-68 bodies are that spec example with its
fields set as Blockfrost serves a CIP-68 fungible token (standard `CIP68v1`, the reference datum's
map in `onchain_metadata`). Expected values are written out by hand.
"""

from __future__ import annotations

from typing import Any

import pytest

from walletsync.providers.cardano_assets import display_name, parse_asset

from .conftest import ReadResponse

POLICY = "b0d07d45fe9514f80213f4020e5a61241458be626841cde717cb38a7"
CIP68_UNIT = POLICY + "0014df10" + b"Nut".hex()


def cip68(spec: dict[str, Any], **onchain: Any) -> dict[str, Any]:
    return {
        **spec,
        "asset": CIP68_UNIT,
        "asset_name": "0014df10" + b"Nut".hex(),
        "metadata": None,
        "onchain_metadata": {"name": "Nut Token", "ticker": "NUT", "decimals": 4, **onchain},
        "onchain_metadata_standard": "CIP68v1",
    }


def shown(body: dict[str, Any]) -> tuple[str | None, str | None, int | None]:
    info = parse_asset(body["asset"], body)
    return info.name, info.symbol, info.decimals


def test_registry_metadata(read_response: ReadResponse) -> None:
    body = read_response("blockfrost/spec_assembled/assets_asset.json")
    assert shown(body) == ("nutcoin", "nutc", 6)
    assert parse_asset(body["asset"], body).metadata["sources"] == ["registry"]


def test_cip25_gives_a_name_only(read_response: ReadResponse) -> None:
    body = read_response("blockfrost/live_assetsById_b863bc7369.json")
    assert shown(body) == ("Berry Sapphire", None, None)
    # CIP-25 defines no ticker or decimals: a `decimals` key there is not trusted.
    assert shown({**body, "onchain_metadata": {"name": "X", "decimals": 6, "ticker": "X"}}) == (
        "X",
        None,
        None,
    )


@pytest.mark.parametrize("standard", ["CIP68v1", "CIP68v2", "CIP68v3"])
def test_cip68_gives_name_ticker_and_decimals(read_response: ReadResponse, standard: str) -> None:
    body = cip68(read_response("blockfrost/spec_assembled/assets_asset.json"))
    body["onchain_metadata_standard"] = standard
    assert shown(body) == ("Nut Token", "NUT", 4)


def test_registry_wins_field_by_field_over_cip68(read_response: ReadResponse) -> None:
    spec = read_response("blockfrost/spec_assembled/assets_asset.json")
    body = cip68(spec)
    body["metadata"] = {**spec["metadata"], "decimals": None, "ticker": None}
    info = parse_asset(body["asset"], body)
    assert (info.name, info.symbol, info.decimals) == ("nutcoin", "NUT", 4)
    assert info.metadata["sources"] == ["registry", "cip68"]


@pytest.mark.parametrize("decimals", ["6", 6.0, True, -1, 256, [6]])
def test_wrong_typed_fields_are_ignored_not_fatal(read_response: ReadResponse, decimals: Any) -> None:
    """A bad value is dropped (logged); the next source, or nothing, stands in."""
    spec = read_response("blockfrost/spec_assembled/assets_asset.json")
    assert shown({**spec, "metadata": {**spec["metadata"], "decimals": decimals, "name": 7}})[1:] == (
        "nutc",
        None,
    )
    assert shown(cip68(spec, decimals=decimals, name=["x"])) == ("Nut", "NUT", None)


def test_name_falls_back_to_the_asset_name() -> None:
    assert display_name("0014df10" + b"Nut".hex()) == "Nut"  # CIP-67 label dropped
    assert display_name(b"HOSKY".hex()) == "HOSKY"
    assert display_name("ff00") is None  # not UTF-8 text
    assert display_name("") is None
