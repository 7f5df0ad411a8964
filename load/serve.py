"""Serve an app factory exactly as `authz serve` serves the service (one process, uvicorn.run, same options).

    python load/serve.py MODULE:FACTORY --port P
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

import uvicorn

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("factory")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    logging.basicConfig(level=os.environ.get("AUTHZ_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    module, _, name = args.factory.partition(":")
    app = getattr(importlib.import_module(module), name)()
    # The options of authz.cli.cmd_serve.
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
