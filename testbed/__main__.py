"""Processes of the testbed itself: `python -m testbed daemon|proxy ...` (the CLI is `chaoslab testbed`)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"address={text!r} must be HOST:PORT")
    return host, int(port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed")
    commands = parser.add_subparsers(dest="command", required=True)
    daemon = commands.add_parser("daemon", help="run a planned testbed (started by `chaoslab testbed up`)")
    daemon.add_argument("--run-dir", type=Path, required=True)
    proxy = commands.add_parser("proxy", help="run the fault proxy with its control API")
    proxy.add_argument("--listen", type=_address, required=True)
    proxy.add_argument("--upstream", type=_address, required=True)
    proxy.add_argument("--control", type=_address, required=True)
    proxy.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    if args.command == "daemon":
        from testbed.daemon import run

        return run(args.run_dir)
    import uvloop

    from testbed.proxy_api import serve_proxy

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # uvloop: every feature-store call crosses the proxy twice; its C loop costs about a third less.
    uvloop.run(serve_proxy(args.listen, args.upstream, args.control, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
