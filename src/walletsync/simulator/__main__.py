"""`python -m walletsync.simulator`: the child process of `SimulatorServer(process=True)`.

Takes the ledger and fault configuration as JSON arguments, prints `SIMULATOR READY <port>` once the
socket is bound, then serves until terminated. Operators use `walletsync simulator` instead.
"""

from __future__ import annotations

import argparse
import json

from walletsync.simulator.faults import FaultConfig
from walletsync.simulator.server import serve_child


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m walletsync.simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ledger-json", default="{}", help="keyword arguments of Ledger, as JSON")
    parser.add_argument("--faults-json", default="{}", help="a FaultConfig, as JSON")
    parser.add_argument("--blockfrost-project-id", default=None)
    parser.add_argument("--twelvedata-api-key", default=None)
    args = parser.parse_args()
    serve_child(
        args.host,
        args.port,
        json.loads(args.ledger_json),
        FaultConfig.model_validate_json(args.faults_json),
        args.blockfrost_project_id,
        args.twelvedata_api_key,
    )


if __name__ == "__main__":
    main()
