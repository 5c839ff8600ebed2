"""`walletsync inspect-tx`: the real command on real responses, and its one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from walletsync.config import Chain
from walletsync.providers.inspect import InspectError, inspect_file

if TYPE_CHECKING:
    from .conftest import ReadResponse


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "walletsync.cli", "inspect-tx", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_solana_file_prints_the_normalized_transaction(real_responses: Path) -> None:
    """A Solana getTransaction result prints as JSON with signed integer-string amounts; exit 0."""
    done = run(
        "--chain",
        "solana",
        "--file",
        str(real_responses / "solana/getTransaction_json_sol_transfer_devnet_1.json"),
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "tx_id": "2qfNzGs15dt999rt1AUJ7D1oPQaukMPPmHR2u5ZmDo4cVtr1Pr2Dax4Jo7ryTpM8jxjtXLi5NHy4uyr68MVh5my6",
        "chain": "solana",
        "fee": "5000",
        "fee_payer": "BLw3RweJmfbTapJRgnPRvd962YDjFYAnVGd1p5hmZ5tP",  # the first account key
        "success": True,
        "block_time": "2025-01-10T09:10:42+00:00",
        "deltas": [
            {
                "owner": "BLw3RweJmfbTapJRgnPRvd962YDjFYAnVGd1p5hmZ5tP",
                "asset": "native",
                "amount": "-100005000",
            },
            {
                "owner": "FDUGdV6bjhvw5gbirXCvqbTSWK9999kcrZcrHoCQzXJK",
                "asset": "native",
                "amount": "100000000",
            },
        ],
    }


def test_cardano_pair_prints_the_normalized_transaction(tmp_path: Path, read_response: ReadResponse) -> None:
    """A Cardano {tx, utxos} pair (the spec's examples) prints with chain cardano; exit 0."""
    pair = tmp_path / "pair.json"
    pair.write_text(
        json.dumps(
            {
                "tx": read_response("blockfrost/spec_assembled/txs.json"),
                "utxos": read_response("blockfrost/spec_assembled/txs_utxos.json"),
            }
        )
    )

    done = run("--chain", "cardano", "--file", str(pair))

    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert (shown["chain"], shown["fee"], shown["deltas"]) == ("cardano", "182485", [])
    assert shown["block_time"] == "2021-10-29T11:11:31+00:00"


@pytest.mark.parametrize(
    ("chain", "content", "message"),
    [
        ("solana", None, "no such file"),
        ("solana", "{not json", "not JSON"),
        ("solana", "[1, 2]", "getTransaction result"),
        ("solana", '{"jsonrpc": "2.0", "result": null, "id": 1}', "result is null"),
        ("solana", '{"jsonrpc": "2.0", "error": {"code": -32602, "message": "bad"}, "id": 1}', "-32602"),
        ("solana", '{"slot": 1, "transaction": {}, "meta": {}}', "not a getTransaction result"),
        ("cardano", '{"tx": {}}', '"utxos"'),
        ("cardano", '{"tx": {"fees": "1"}, "utxos": {"hash": "ab"}}', "not a Blockfrost tx/utxos pair"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, chain: str, content: str | None, message: str
) -> None:
    """Missing file, not JSON or the wrong shape: exit code 2, one readable stderr line, no traceback."""
    path = tmp_path / "input.json"
    if content is not None:
        path.write_text(content)

    done = run("--chain", chain, "--file", str(path))

    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]


def test_unknown_chain_is_a_usage_error(tmp_path: Path) -> None:
    """A chain other than solana/cardano is refused by the option parser (exit 2)."""
    done = run("--chain", "bitcoin", "--file", str(tmp_path / "x.json"))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "name", ["getTransaction_json_create_ata_full_envelope_1.json", "getTransaction_base64_v0_1.json"]
)
def test_envelopes_and_binary_encodings_are_accepted(real_responses: Path, name: str) -> None:
    """Whole JSON-RPC envelopes and base64-encoded transactions inspect like plain json results."""
    shown: dict[str, Any] = inspect_file(Chain.SOLANA, real_responses / "solana" / name)
    assert shown["chain"] == "solana"
    assert int(shown["fee"]) == -sum(int(x["amount"]) for x in shown["deltas"] if x["asset"] == "native")


def test_directory_is_refused(tmp_path: Path) -> None:
    """A directory instead of a file is an InspectError (exit code 2), not an OSError."""
    with pytest.raises(InspectError, match="is a directory") as caught:
        inspect_file(Chain.SOLANA, tmp_path)
    assert caught.value.exit_code == 2
