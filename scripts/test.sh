#!/usr/bin/env bash
# Runs every test of the workspace, the integration tests against a real
# broker included: installs what they need first (the Tansu broker binary and
# the librdkafka peer, see install-*.sh), then `cargo test --workspace`.
# Extra arguments go to cargo test. With PROZESS_BOOTSTRAP=host:port[,...]
# the integration tests use that cluster instead of starting Tansu.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PROZESS_ROOT"

bash scripts/install-peer.sh >/dev/null
if [ -z "${PROZESS_BOOTSTRAP:-}" ]; then
  bash scripts/install-tansu.sh >/dev/null
fi
exec cargo test --workspace "$@"
