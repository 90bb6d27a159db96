"""Command line of the prediction service (the testbed supervisor and the Deployment run these).

    python -m service serve --host 127.0.0.1 --port PORT --pod-name NAME --profile experiments/system.yaml
        --redis-url redis://127.0.0.1:PORT/0 --artifacts DIR   (env: CHAOS_ENABLED, CHAOS_FAILURE_RATE,
        CHAOSLAB_ADMIN_TOKEN)
    python -m service train --artifacts DIR
    python -m service load-features --redis-url URL

Errors a user can cause end as one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from chaos.errors import ChaosLabError

log = logging.getLogger("service")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m service", description="The reference ML prediction service."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve predictions over HTTP until SIGTERM")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--pod-name", required=True)
    serve.add_argument("--profile", type=Path, default=Path("experiments/system.yaml"))
    serve.add_argument("--redis-url", required=True)
    serve.add_argument("--artifacts", type=Path, required=True)
    serve.add_argument(
        "--model-version",
        default=None,
        help="primary model version (default: $CHAOSLAB_MODEL_VERSION, else the manifest's)",
    )
    serve.add_argument("--concurrency", type=int, default=None, help="model slots (default: the profile's)")
    serve.add_argument(
        "--ready-not-before",
        type=float,
        default=None,
        metavar="EPOCH_SECONDS",
        help="listen only from this wall-clock time on (the testbed's emulated container start-up)",
    )
    serve.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))

    train = commands.add_parser("train", help="train the model versions and write the artifacts")
    train.add_argument("--artifacts", type=Path, required=True)

    load = commands.add_parser("load-features", help="load the data set into the Redis feature store")
    load.add_argument("--redis-url", required=True)
    load.add_argument("--timeout", type=float, default=5.0, help="seconds per Redis call")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    level = getattr(args, "log_level", "INFO")
    logging.basicConfig(level=level, stream=sys.stderr, format=LOG_FORMAT)
    try:
        if args.command == "serve":
            from service.runtime import run, serve_settings

            run(
                serve_settings(
                    host=args.host,
                    port=args.port,
                    pod_name=args.pod_name,
                    profile_path=args.profile,
                    redis_url=args.redis_url,
                    artifacts_dir=args.artifacts,
                    env=os.environ,
                    model_version=args.model_version,
                    concurrency=args.concurrency,
                    ready_not_before=args.ready_not_before,
                )
            )
        elif args.command == "train":
            from service.training import train

            manifest = train(args.artifacts)
            log.info("wrote %d model versions to %s", len(manifest["models"]), args.artifacts)
        else:
            from service.dataset import feature_names, load_dataset
            from service.feature_store import load_features

            ids, features, _ = load_dataset()
            load_features(args.redis_url, ids, features, feature_names(), timeout=args.timeout)
    except ChaosLabError as exc:
        sys.stderr.write(exc.one_line() + "\n")
        return 1
    except OSError as exc:  # e.g. Redis refused load-features, the artifacts directory is not writable
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
