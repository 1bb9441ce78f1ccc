#!/usr/bin/env bash
# Runs every test of the workspace against real brokers, in stages:
#   1. tansu     `cargo test --workspace` (unit tests, and the integration
#                tests against a Tansu broker the harness starts);
#   2. kafka-1   the integration tests and the CLI's tests against a 1-node Apache Kafka 4.0 KRaft
#                cluster (PLAINTEXT, SASL_PLAINTEXT, SSL, mutual TLS, SASL_SSL
#                listeners), started here with `prozess-broker --kafka 1`;
#   3. kafka-3   the tests that need several brokers (integration-tests/tests/
#                kafka_cluster.rs: failover, leader changes) and the
#                transaction tests (transactions.rs, consumer_transactions.rs)
#                on a 3-node cluster.
# It installs what the tests need first (install-*.sh): the Tansu binary, the
# librdkafka peer, and the Kafka distribution (PROZESS_KAFKA_HOME, else
# ../shared/kafka's tarball; Java 17). Without a Kafka distribution the Kafka
# stages are skipped and the summary says so; in CI (CI=true) with
# ../shared/kafka present they must run, and a cluster that does not start
# fails the run.
#
# With PROZESS_BOOTSTRAP=host:port[,...] only stage 1 runs, against that
# cluster. Extra arguments go to stage 1's `cargo test`; those not starting
# with `-` (test name filters) also go to the Kafka stages' test binaries.
#
# Tests that cannot run on a stage's broker are counted as skipped (the
# harness appends them to $PROZESS_SKIP_LOG) and listed at the end, never
# counted as passed. The last line is the total:
#   summary: N passed, N failed, N skipped
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PROZESS_ROOT"

run_dir="$PROZESS_ROOT/target/prozess-logs/test-run"
rm -rf "$run_dir"
mkdir -p "$run_dir"
export PROZESS_SKIP_LOG
failed_stages=()
stage_lines=()
total_passed=0 total_failed=0 total_skipped=0

bash scripts/install-peer.sh >/dev/null || exit 1

# Runs COMMAND ARGS... (`cargo test ...`, or run_test_binaries) as stage $1,
# teeing its output, and adds its counts.
run_stage() {
  local name="$1"; shift
  local out="$run_dir/$name.out"
  PROZESS_SKIP_LOG="$run_dir/$name.skipped"
  : >"$PROZESS_SKIP_LOG"
  log "stage $name: $*"
  local start=$SECONDS
  # 7>&-: the tests (and brokers they restart) must not hold the Kafka
  # launcher's stdin open, or it would never see EOF and never stop.
  "$@" 7>&- 2>&1 | tee "$out"
  local rc=${PIPESTATUS[0]}
  local counts passed failed ignored skipped
  counts=$(awk '/^test result:/ { for (i=1;i<=NF;i++) { if ($(i+1) ~ /^passed/) p+=$i; if ($(i+1) ~ /^failed/) f+=$i; if ($(i+1) ~ /^ignored/) g+=$i } } END { printf "%d %d %d", p, f, g }' "$out")
  read -r passed failed ignored <<<"$counts"
  skipped=$(wc -l <"$PROZESS_SKIP_LOG")
  # A skipped test returned early: cargo counted it as passed.
  passed=$((passed - skipped))
  skipped=$((skipped + ignored))
  if [ "$rc" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi  # a build or harness failure
  [ "$rc" = 0 ] || failed_stages+=("$name")
  stage_lines+=("$name: $passed passed, $failed failed, $skipped skipped ($((SECONDS - start)) s)")
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  total_skipped=$((total_skipped + skipped))
}

# Writes "package-dir<TAB>target-name<TAB>kind<TAB>executable<TAB>harness|plain" for every
# executable of the stage-1 build (`cargo test --workspace`) to $1. The Kafka
# stages run these test binaries themselves: a `cargo test` selecting some of
# them (`-p`, or `--workspace --test X`) unifies features differently, and
# cargo would build every crate again (a second and third copy of the
# target directory filled the CI disk).
list_executables() {
  cargo test --workspace --no-run --message-format=json 7>&- 2>/dev/null |
    python3 -c '
import json, os, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        # profile.test: a libtest harness (the unit tests of a bin share the
        # name and the kind of the bin).
        harness = "harness" if m["profile"]["test"] else "plain"
        print(os.path.dirname(m["manifest_path"]), m["target"]["name"],
              ",".join(m["target"]["kind"]), m["executable"], harness, sep="\t")
' >"$1"
}

# run_test_binaries LIST PKG-DIR/NAME... -- ARGS...: runs the integration-test
# binaries named (as cargo test would: from the package's directory) with
# ARGS, one after another. Fails if one fails or is missing from LIST.
run_test_binaries() {
  local list="$1"; shift
  local wanted=() rc=0 w dir name exe
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do wanted+=("$1"); shift; done
  [ "${1:-}" != "--" ] || shift
  for w in "${wanted[@]}"; do
    dir="$PROZESS_ROOT/$(dirname "$w")" name=$(basename "$w")
    exe=$(awk -F'\t' -v d="$dir" -v n="$name" '$1 == d && $2 == n && $3 == "test" { print $4; exit }' "$list")
    if [ -z "$exe" ]; then
      echo "error: stage 1 built no test binary $w"
      rc=1
      continue
    fi
    echo "     Running $w ($exe)"
    (cd "$dir" && CARGO_MANIFEST_DIR="$dir" "$exe" "$@") || rc=1
  done
  return "$rc"
}

start_kafka() {
  local nodes="$1" info="$run_dir/kafka-$1.json" fifo="$run_dir/kafka-$1.stdin"
  rm -f "$info" "$fifo"
  mkfifo "$fifo"
  "$broker_exe" --kafka "$nodes" --info-file "$info" \
    <"$fifo" >"$run_dir/kafka-$nodes.log" 2>&1 &
  kafka_pid=$!
  exec 7>"$fifo"
  rm -f "$fifo"
  while [ ! -f "$info" ]; do
    if ! kill -0 "$kafka_pid" 2>/dev/null; then
      log "the $nodes-node Kafka cluster did not start:"
      tail -n 60 "$run_dir/kafka-$nodes.log" >&2
      return 1
    fi
    sleep 1
  done
  log "$nodes-node Kafka cluster ready: $(head -n 1 "$run_dir/kafka-$nodes.log")"
  export PROZESS_KAFKA_CLUSTER="$info"
}

stop_kafka() {
  exec 7>&-
  # The launcher stops its cluster on EOF; give it 60 s, then kill it (its
  # janitor still sees EOF then, and kills the nodes).
  local i
  for i in $(seq 1 120); do
    kill -0 "$kafka_pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$kafka_pid" 2>/dev/null; then
    log "the Kafka launcher did not stop on EOF; killing it"
    kill -9 "$kafka_pid" 2>/dev/null || true
  fi
  wait "$kafka_pid" 2>/dev/null || true
  unset PROZESS_KAFKA_CLUSTER
}

# Stage 1: everything, on Tansu (or PROZESS_BOOTSTRAP).
if [ -z "${PROZESS_BOOTSTRAP:-}" ]; then
  bash scripts/install-tansu.sh >/dev/null || exit 1
fi
run_stage tansu cargo test --workspace --no-fail-fast "$@"

# Stages 2 and 3: Apache Kafka.
kafka_note=""
if [ -n "${PROZESS_BOOTSTRAP:-}" ]; then
  kafka_note="Kafka stages not run: PROZESS_BOOTSTRAP names the cluster under test"
else
  home=$(bash scripts/install-kafka.sh)
  rc=$?
  if [ "$rc" = 3 ]; then
    kafka_note="Kafka stages SKIPPED: no Kafka distribution (set PROZESS_KAFKA_HOME, or put ../shared/kafka beside the checkout)"
    total_skipped=$((total_skipped + 1))
  elif [ "$rc" != 0 ]; then
    kafka_note="Kafka stages FAILED: scripts/install-kafka.sh exited $rc"
    failed_stages+=("install-kafka"); total_failed=$((total_failed + 1))
  else
    export PROZESS_KAFKA_HOME="$home"
    executables="$run_dir/executables.tsv"
    list_executables "$executables"
    broker_exe=$(awk -F'\t' '$2 == "prozess-broker" && $3 == "bin" && $5 == "plain" { print $4; exit }' "$executables")
    if [ -z "$broker_exe" ]; then
      log "stage 1 built no prozess-broker binary (see its output)"
      exit 1
    fi
    filters=()
    for a in "$@"; do
      case "$a" in -*) ;; *) filters+=("$a") ;; esac
    done
    kafka_tests=()
    for f in integration-tests/tests/*.rs cli/tests/*.rs; do
      kafka_tests+=("$(dirname "$(dirname "$f")")/$(basename "$f" .rs)")
    done
    if start_kafka 1; then
      run_stage kafka-1 run_test_binaries "$executables" "${kafka_tests[@]}" -- "${filters[@]}"
      stop_kafka
    else
      failed_stages+=("kafka-1 start"); total_failed=$((total_failed + 1))
    fi
    if start_kafka 3; then
      run_stage kafka-3 run_test_binaries "$executables" integration-tests/kafka_cluster \
        integration-tests/transactions integration-tests/consumer_transactions \
        -- --include-ignored "${filters[@]}"
      stop_kafka
    else
      failed_stages+=("kafka-3 start"); total_failed=$((total_failed + 1))
    fi
  fi
fi

echo
echo "==== test stages ===="
for l in "${stage_lines[@]}"; do echo "  $l"; done
[ -z "$kafka_note" ] || echo "  $kafka_note"
echo "  target directory: $(du -sh target 2>/dev/null | cut -f1); disk: $(df -h . | awk 'NR == 2 { print $4 " free" }')"
skips=$(cat "$run_dir"/*.skipped 2>/dev/null | sort | uniq -c | sort -rn)
if [ -n "$skips" ]; then
  echo "skipped tests (stage logs: $run_dir):"
  cat "$run_dir"/*.skipped 2>/dev/null | sed 's/^/  /'
fi
[ "${#failed_stages[@]}" = 0 ] || echo "failed stages: ${failed_stages[*]}"
echo "summary: $total_passed passed, $total_failed failed, $total_skipped skipped"
[ "${#failed_stages[@]}" = 0 ]
