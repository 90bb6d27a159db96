#!/usr/bin/env bash
# The project's checks: lint, types, the layers, and every test, the e2e ones (real servers) included.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
exec .venv/bin/pytest -m "e2e or not e2e" "$@"
