#!/usr/bin/env bash
# The main job: runs the quickstart example (`cargo run --example quickstart`)
# against PROZESS_BOOTSTRAP, or, when that is unset, against a Tansu broker
# this script starts on a free port of 127.0.0.1 and stops again afterwards.
# Extra arguments go to the example.
#
# The first run compiles the workspace's dependencies and downloads Tansu:
# a few minutes on a 2-core machine. Cargo's own progress (the "Compiling"
# lines) is shown while it builds; later runs start in seconds.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PROZESS_ROOT"

if [ -z "${PROZESS_BOOTSTRAP:-}" ]; then
  log "installing the Tansu test broker (first run: downloads about 40 MB)"
  bash scripts/install-tansu.sh >/dev/null
  log "building the local broker helper (first run: compiles dependencies, a few minutes)"
  cargo build -p prozess-integration-tests --bin prozess-broker
  # prozess-broker prints the address, then runs until its stdin closes:
  # the coprocess's stdin is a pipe only this script holds, so the broker
  # stops when the script ends, however it ends.
  coproc BROKER { exec cargo run -q -p prozess-integration-tests --bin prozess-broker; }
  broker_pid=$BROKER_PID
  stop_broker() {
    exec {BROKER[1]}>&- 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  }
  trap stop_broker EXIT
  if ! read -r addr <&"${BROKER[0]}" || [ -z "$addr" ]; then
    log "the local broker did not start"
    exit 1
  fi
  export PROZESS_BOOTSTRAP="$addr"
  log "started a local Tansu broker at $PROZESS_BOOTSTRAP"
fi

if [ -f examples/quickstart.rs ]; then
  log "building the quickstart example"
  cargo build --example quickstart
  cargo run -q --example quickstart -- "$@"
else
  # Until the quickstart example exists, show what the cluster looks like.
  log "examples/quickstart.rs does not exist yet; showing the cluster's metadata instead"
  cargo run -q -p prozess-integration-tests --bin prozess-broker -- --describe "$PROZESS_BOOTSTRAP"
fi
