"""`getTransaction` bodies of the synthetic Solana chain: a compact `SolTx` as the json or
jsonParsed transaction the real RPC returns (message, meta with pre/post balances and token
balances, logs, compute units), built on demand without replaying history.

Split from `solana_rpc` (dispatch, paging, errors) to keep each module readable; the shapes follow
shared/real-responses/solana, the log lines and compute units are plausible, not exact.
"""

from __future__ import annotations

import struct
from typing import Any

from walletsync.simulator.encoding import b58encode
from walletsync.simulator.solana_accounts import token_amount
from walletsync.simulator.solana_chain import SolanaChain
from walletsync.simulator.solana_records import (
    COMPUTE_BUDGET_PROGRAM,
    LEGACY,
    SOL_TRANSFER,
    SYSTEM_PROGRAM,
    TOKEN_ACCOUNT_RENT,
    TOKEN_PROGRAM,
    TOKEN_PROGRAM_LAMPORTS,
    SolTx,
)

_SYSTEM_LOGS_OK = (f"Program {SYSTEM_PROGRAM} invoke [1]", f"Program {SYSTEM_PROGRAM} success")
_CB_LOGS = (f"Program {COMPUTE_BUDGET_PROGRAM} invoke [1]", f"Program {COMPUTE_BUDGET_PROGRAM} success") * 2
_CB_UNITS = 300
_SOL_UNITS = 150
_SPL_UNITS = 4644
_SPL_FAILED_UNITS = 4381


def tx_error(tx: SolTx) -> dict[str, Any] | None:
    if not tx.failed:
        return None
    return {"InstructionError": [2 if tx.cu_limit else 0, {"Custom": 1}]}


# --- transaction bodies ---------------------------------------------------------------------


def _ix_data(tx: SolTx) -> str:
    if tx.kind == SOL_TRANSFER:
        return b58encode(struct.pack("<IQ", 2, tx.amount))
    return b58encode(struct.pack("<BQ", 3, tx.amount))


def _compute_budget_data(tx: SolTx) -> tuple[str, str]:
    return b58encode(struct.pack("<BI", 2, tx.cu_limit)), b58encode(struct.pack("<BQ", 3, tx.cu_price))


def _logs(tx: SolTx) -> tuple[list[str], int]:
    logs: list[str] = list(_CB_LOGS) if tx.cu_limit else []
    units = _CB_UNITS if tx.cu_limit else 0
    budget = (tx.cu_limit - _CB_UNITS) if tx.cu_limit else 200_000
    if tx.kind == SOL_TRANSFER:
        units += _SOL_UNITS
        if tx.failed:
            logs += [
                f"Program {SYSTEM_PROGRAM} invoke [1]",
                f"Transfer: insufficient lamports {tx.pre_payer - tx.fee}, need {tx.amount}",
                f"Program {SYSTEM_PROGRAM} failed: custom program error: 0x1",
            ]
        else:
            logs += _SYSTEM_LOGS_OK
    else:
        spent = _SPL_FAILED_UNITS if tx.failed else _SPL_UNITS
        units += spent
        logs += [f"Program {TOKEN_PROGRAM} invoke [1]", "Program log: Instruction: Transfer"]
        if tx.failed:
            logs.append("Program log: Error: insufficient funds")
        logs.append(f"Program {TOKEN_PROGRAM} consumed {spent} of {budget} compute units")
        logs.append(
            f"Program {TOKEN_PROGRAM} failed: custom program error: 0x1"
            if tx.failed
            else f"Program {TOKEN_PROGRAM} success"
        )
    return logs, units


def transaction_json(chain: SolanaChain, tx: SolTx, *, parsed: bool, with_version: bool) -> dict[str, Any]:
    """The getTransaction result for `tx` in the json or jsonParsed encoding."""
    accounts = chain.accounts
    payer = accounts[tx.payer]
    ok = not tx.failed
    moved = tx.amount if ok else 0
    has_cb = tx.cu_limit > 0
    pre_token: list[dict[str, Any]] = []
    post_token: list[dict[str, Any]] = []
    if tx.kind == SOL_TRANSFER:
        dest = accounts[tx.dest]
        keys = [payer, dest, SYSTEM_PROGRAM]
        pre = [tx.pre_payer, tx.pre_dest, 1]
        post = [tx.pre_payer - tx.fee - moved, tx.pre_dest + moved, 1]
        ix_accounts = [0, 1]
        program_index = 2
        parsed_ix: dict[str, Any] = {
            "parsed": {
                "info": {"destination": dest, "lamports": tx.amount, "source": payer},
                "type": "transfer",
            },
            "program": "system",
            "programId": SYSTEM_PROGRAM,
            "stackHeight": None,
        }
    else:
        src_ta, dst_ta = accounts[tx.source], accounts[tx.dest]
        keys = [payer, src_ta, dst_ta, TOKEN_PROGRAM]
        pre = [tx.pre_payer, TOKEN_ACCOUNT_RENT, TOKEN_ACCOUNT_RENT, TOKEN_PROGRAM_LAMPORTS]
        post = [tx.pre_payer - tx.fee, TOKEN_ACCOUNT_RENT, TOKEN_ACCOUNT_RENT, TOKEN_PROGRAM_LAMPORTS]
        ix_accounts = [1, 2, 0]
        program_index = 3
        mint = chain.mints[tx.mint]
        token_accounts = chain.token_accounts
        src_owner = accounts[token_accounts[tx.source].owner]
        dst_owner = accounts[token_accounts[tx.dest].owner]
        for index, owner, before, after in (
            (1, src_owner, tx.pre_source_tokens, tx.pre_source_tokens - moved),
            (2, dst_owner, tx.pre_dest, tx.pre_dest + moved),
        ):
            common = {"accountIndex": index, "mint": mint.address, "owner": owner, "programId": TOKEN_PROGRAM}
            pre_token.append({**common, "uiTokenAmount": token_amount(before, mint.decimals, null_zero=True)})
            post_token.append({**common, "uiTokenAmount": token_amount(after, mint.decimals, null_zero=True)})
        parsed_ix = {
            "parsed": {
                "info": {
                    "amount": str(tx.amount),
                    "authority": payer,
                    "destination": dst_ta,
                    "source": src_ta,
                },
                "type": "transfer",
            },
            "program": "spl-token",
            "programId": TOKEN_PROGRAM,
            "stackHeight": None,
        }
    readonly_unsigned = 1
    instructions: list[dict[str, Any]] = []
    if has_cb:
        cb_index = len(keys)
        keys.append(COMPUTE_BUDGET_PROGRAM)
        pre.append(1)
        post.append(1)
        readonly_unsigned = 2
        for data in _compute_budget_data(tx):
            if parsed:
                instructions.append(
                    {"accounts": [], "data": data, "programId": COMPUTE_BUDGET_PROGRAM, "stackHeight": None}
                )
            else:
                instructions.append(
                    {"accounts": [], "data": data, "programIdIndex": cb_index, "stackHeight": None}
                )
    if parsed:
        instructions.append(parsed_ix)
    else:
        instructions.append(
            {
                "accounts": ix_accounts,
                "data": _ix_data(tx),
                "programIdIndex": program_index,
                "stackHeight": None,
            }
        )
    logs, units = _logs(tx)
    error = tx_error(tx)
    meta: dict[str, Any] = {
        "computeUnitsConsumed": units,
        "err": error,
        "fee": tx.fee,
        "innerInstructions": [],
    }
    if not parsed:
        meta["loadedAddresses"] = {"readonly": [], "writable": []}
    meta["logMessages"] = logs
    meta["postBalances"] = post
    meta["postTokenBalances"] = post_token
    meta["preBalances"] = pre
    meta["preTokenBalances"] = pre_token
    meta["rewards"] = []
    meta["status"] = {"Err": error} if error else {"Ok": None}
    message: dict[str, Any]
    if parsed:
        writable_count = len(keys) - readonly_unsigned
        account_keys: list[Any] = [
            {"pubkey": key, "signer": i == 0, "source": "transaction", "writable": i < writable_count}
            for i, key in enumerate(keys)
        ]
        message = {"accountKeys": account_keys}
    else:
        message = {"accountKeys": keys}
    if tx.version == 0:
        message["addressTableLookups"] = []
    if not parsed:
        message["header"] = {
            "numReadonlySignedAccounts": 0,
            "numReadonlyUnsignedAccounts": readonly_unsigned,
            "numRequiredSignatures": 1,
        }
    message["instructions"] = instructions
    message["recentBlockhash"] = chain.recent_blockhash(tx.slot)
    body: dict[str, Any] = {
        "blockTime": tx.block_time,
        "meta": meta,
        "slot": tx.slot,
        "transaction": {"message": message, "signatures": [tx.signature]},
    }
    if with_version:
        body["version"] = "legacy" if tx.version == LEGACY else 0
    return body
