#!/usr/bin/env bash
# prozess vs librdkafka on the same broker, in one run.
#
# Produces N records of S bytes with kcat (librdkafka 2.16, see
# ../shared/BROKERS.md) and with prozess's producer_perf example, each to
# fresh topics; then consumes N records from the beginning of one topic
# (written by kcat; both clients read the very same batches) with kcat and with
# prozess's consumer_perf example. Every step runs R times, the two clients
# alternating which goes first; the report shows medians. Each process is
# measured from the outside, as /usr/bin/time does (wall, user+sys CPU and
# max RSS from wait4), so both sides pay the same start-up (connect, metadata)
# costs; prozess's tools also report their own steady-state rate (from the
# first send / first poll on), which the JSON carries as tool_msgs_per_sec.
#
#   scripts/bench.sh [--quick] [-n N] [-s S] [-r R] [-p P] [--settings matched|defaults]
#                    [--json FILE] [--no-build]
#
#   -n N         records per run (default 1000000; --quick: 200000)
#   -s S         value size in bytes (default 100)
#   -r R         repetitions per step (default 3)
#   -p P         also run everything with a P-partition topic (default: only 1)
#   --settings   matched (default): the same producer settings on both sides
#                (acks=all, idempotence off, linger.ms=5, batch.size=1000000);
#                defaults: each library's own producer defaults (prozess:
#                Java's, idempotent, batch.size=16384; librdkafka: not
#                idempotent, batch.size=1000000). Idempotence is off in
#                matched mode because librdkafka's idempotent start-up waits
#                0.5-1 s for two ticks of its PID timer before it produces
#                anything, a fixed cost that would swamp a 1 s run.
#                The consumers always use fetch.max.wait.ms / fetch.wait.max.ms
#                = 100 (Tansu waits out the full long poll, BROKERS.md) and
#                check.crcs=true on both sides (librdkafka defaults to false).
#   --json FILE  also write the JSON summary line to FILE
#   --no-build   use the perf examples already built in target/release (and
#                target/debug/prozess-broker, if built)
#
# Uses the cluster named by PROZESS_BOOTSTRAP when set (topics are created
# there with the broker's default replication factor), otherwise starts a
# local Tansu broker and stops it again on exit. Progress goes to stderr; stdout
# gets the table, then one JSON summary line (the last line). The 1-minute load
# average at start and end is part of both: on a 2-core machine a concurrent
# build halves every number.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PROZESS_ROOT"

N=1000000
S=100
R=3
EXTRA_P=""
SETTINGS=matched
JSON_OUT=""
BUILD=1
QUICK=0
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    -n) N="${2:?-n needs a value}"; shift ;;
    -s) S="${2:?-s needs a value}"; shift ;;
    -r) R="${2:?-r needs a value}"; shift ;;
    -p) EXTRA_P="${2:?-p needs a value}"; shift ;;
    --settings) SETTINGS="${2:?--settings needs a value}"; shift ;;
    --json) JSON_OUT="${2:?--json needs a value}"; shift ;;
    --no-build) BUILD=0 ;;
    -h|--help) usage ;;
    *) log "unknown argument $1"; usage ;;
  esac
  shift
done
# --quick only changes the default count; an explicit -n wins wherever it is.
if [ "$QUICK" = 1 ] && [ "$N" = 1000000 ]; then N=200000; fi
for v in "$N" "$S" "$R" ${EXTRA_P:+"$EXTRA_P"}; do
  case "$v" in ''|*[!0-9]*|0) log "counts must be positive integers, got '$v'"; exit 2 ;; esac
done
case "$SETTINGS" in matched|defaults) ;; *) log "--settings is matched or defaults"; exit 2 ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/prozess-bench.XXXXXX")
broker_pid=""
cleanup() {
  if [ -n "$broker_pid" ]; then
    exec {BROKER[1]}>&- 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the librdkafka peer ---------------------------------------------------
peer_dir=$(bash scripts/install-peer.sh)
command -v kcat >/dev/null || { log "kcat is not installed"; exit 1; }
kcat_env=(env "LD_LIBRARY_PATH=$peer_dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
kcat_version=$("${kcat_env[@]}" kcat -V | sed -n 's/.*Version \([^ ]*\) .*librdkafka \([^ ]*\) .*/kcat \1, librdkafka \2/p')
case "$kcat_version" in
  *"librdkafka $PEER_LIBRDKAFKA_PREFIX"*) ;;
  *) log "kcat does not run on librdkafka $PEER_LIBRDKAFKA_PREFIX ('$kcat_version')"; exit 1 ;;
esac
py="$peer_dir/venv/bin/python"

# --- prozess's perf tools ---------------------------------------------------
target_dir="${CARGO_TARGET_DIR:-$PROZESS_ROOT/target}"
if [ "$BUILD" = 1 ]; then
  log "building the perf examples (release)"
  cargo build -q --release --example producer_perf --example consumer_perf
fi
producer_perf="$target_dir/release/examples/producer_perf"
consumer_perf="$target_dir/release/examples/consumer_perf"
for b in "$producer_perf" "$consumer_perf"; do
  [ -x "$b" ] || { log "$b is missing (run without --no-build)"; exit 1; }
done

# --- the broker -------------------------------------------------------------
if [ -n "${PROZESS_BOOTSTRAP:-}" ]; then
  bootstrap="$PROZESS_BOOTSTRAP"
  broker_desc="external cluster at $bootstrap"
else
  bash scripts/install-tansu.sh >/dev/null
  if [ "$BUILD" = 1 ] || [ ! -x "$target_dir/debug/prozess-broker" ]; then
    cargo build -q -p prozess-integration-tests --bin prozess-broker
  fi
  # prozess-broker runs until its stdin closes; only this script holds that
  # pipe, so the broker stops when the script ends, however it ends.
  coproc BROKER { exec "$target_dir/debug/prozess-broker" 2>"$work/broker.err"; }
  broker_pid=$BROKER_PID
  if ! read -r bootstrap <&"${BROKER[0]}" || [ -z "$bootstrap" ]; then
    log "the local broker did not start: $(cat "$work/broker.err" 2>/dev/null)"
    exit 1
  fi
  broker_desc="local Tansu 0.6.0 (memory storage) at $bootstrap"
fi
log "broker: $broker_desc"

# Creates topic $1 with $2 partitions and waits until every partition has a
# leader. confluent-kafka's AdminClient is used because it works the same on
# Tansu and Apache Kafka.
create_topic() {
  "$py" - "$bootstrap" "$1" "$2" <<'PY'
import sys, time
from confluent_kafka.admin import AdminClient, NewTopic
bootstrap, name, parts = sys.argv[1], sys.argv[2], int(sys.argv[3])
admin = AdminClient({"bootstrap.servers": bootstrap})
err = None
for rf in (-1, 1):  # -1 = the broker's default (CreateTopics v4+)
    try:
        admin.create_topics([NewTopic(name, num_partitions=parts, replication_factor=rf)],
                            operation_timeout=30)[name].result(60)
        err = None
        break
    except Exception as e:
        err = e
if err is not None:
    sys.exit(f"creating {name}: {err}")
deadline = time.time() + 60
while time.time() < deadline:
    t = admin.list_topics(name, timeout=10).topics.get(name)
    if t and t.error is None and len(t.partitions) == parts and all(
            p.leader >= 0 and p.error is None for p in t.partitions.values()):
        sys.exit(0)
    time.sleep(0.2)
sys.exit(f"topic {name} has no leader for every partition after 60 s")
PY
}

# Records in topic $1 ($2 partitions): per partition, the offset of the last
# record + 1, read by fetching from one before the end (on Tansu, "the end"
# is the last batch's base offset + 1; the fetch still returns that whole
# batch, so the last offset printed is right there too).
topic_count() {
  local p total=0 last
  for ((p = 0; p < $2; p++)); do
    last=$("${kcat_env[@]}" kcat -C -b "$bootstrap" -t "$1" -p "$p" -o -1 -e -q \
      -X fetch.wait.max.ms=100 -f '%o\n' 2>/dev/null | tail -n 1 || true)
    [ -n "$last" ] && total=$((total + last + 1))
  done
  echo "$total"
}

# The kcat producer's input: N lines of S bytes (the payload pattern
# producer_perf sends, so compressed sizes would match too).
payload=$(python3 -c "import sys; n=int(sys.argv[1]); print(''.join(chr(97 + i*7 % 26) for i in range(n)))" "$S")
yes "$payload" | head -n "$N" >"$work/input.txt" || true
[ "$(wc -l <"$work/input.txt")" = "$N" ] || { log "could not write the kcat input file"; exit 1; }

if [ "$SETTINGS" = matched ]; then
  common_p=(acks=all enable.idempotence=false linger.ms=5 batch.size=1000000)
else
  common_p=()
fi
kcat_p=(); prozess_p=()
for kv in "${common_p[@]}"; do kcat_p+=(-X "$kv"); prozess_p+=(-X "$kv"); done
kcat_c=(-X fetch.wait.max.ms=100 -X check.crcs=true)
prozess_c=(-X fetch.max.wait.ms=100 -X check.crcs=true)

results="$work/results.tsv"
load_start=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo unknown)
: >"$results"
run_id="$(date +%s)-$$"

# Runs a command and writes "wall user sys maxrss_kb" for it to $1: the
# same numbers /usr/bin/time gives (wait4's rusage), but with microsecond
# rather than 10 ms resolution, which matters for sub-second runs.
timed() {
  python3 -c '
import os, sys, time
out, cmd = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
pid = os.posix_spawnp(cmd[0], cmd, os.environ)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
with open(out, "w") as f:
    f.write(f"{wall:.4f} {ru.ru_utime:.4f} {ru.ru_stime:.4f} {ru.ru_maxrss}\n")
sys.exit(os.waitstatus_to_exitcode(status) & 255)
' "$@"
}

# measure PHASE SIDE PARTS REP -- command...   (stdin from $MEASURE_STDIN)
# Appends "phase side parts rep wall user sys maxrss_kb tool_rate" to the
# results (tool_rate: msgs_per_sec from a prozess tool's JSON line, or -).
measure() {
  local phase=$1 side=$2 parts=$3 rep=$4; shift 5
  local t="$work/time.$phase.$side.$parts.$rep" out="$work/out.$phase.$side.$parts.$rep"
  if ! timed "$t" "$@" <"${MEASURE_STDIN:-/dev/null}" >"$out" 2>"$out.err"; then
    log "$side $phase failed: $*"
    sed 's/^/    /' "$out.err" "$out" | tail -n 20 >&2
    exit 1
  fi
  local rate
  rate=$(tail -n 1 "$out" | sed -n 's/.*"msgs_per_sec":\([0-9.]*\).*/\1/p')
  echo "$phase $side $parts $rep $(cat "$t") ${rate:--}" >>"$results"
  LAST_OUT="$out"
}

check_prozess_json() { # FILE EXPECTED: the perf tool's last line must count N messages
  local got
  got=$(tail -n 1 "$1" | sed -n 's/.*"messages":\([0-9]*\).*/\1/p')
  if [ "$got" != "$2" ]; then
    log "prozess perf tool reported '${got:-nothing}' messages, expected $2: $(tail -n 1 "$1")"
    exit 1
  fi
}

bench_partitions() {
  local parts=$1 rep side topic first consume_topic="" n
  log "== $parts partition(s): produce $N x $S bytes, $R times each =="
  for ((rep = 1; rep <= R; rep++)); do
    if ((rep % 2)); then first=(kcat prozess); else first=(prozess kcat); fi
    for side in "${first[@]}"; do
      topic="bench-$run_id-p$parts-$side-$rep"
      create_topic "$topic" "$parts"
      if [ "$side" = kcat ]; then
        MEASURE_STDIN="$work/input.txt" measure produce kcat "$parts" "$rep" -- \
          "${kcat_env[@]}" kcat -P -b "$bootstrap" -t "$topic" -q "${kcat_p[@]}"
        [ -z "$consume_topic" ] && consume_topic=$topic
      else
        measure produce prozess "$parts" "$rep" -- "$producer_perf" --bootstrap "$bootstrap" \
          --topic "$topic" --messages "$N" --size "$S" "${prozess_p[@]}"
        check_prozess_json "$LAST_OUT" "$N"
      fi
      n=$(topic_count "$topic" "$parts")
      if [ "$n" != "$N" ]; then
        log "$side produced $n records to $topic, expected $N"
        exit 1
      fi
      log "produce $side #$rep: $(tail -n 1 "$results" | cut -d' ' -f5-) (wall s, user s, sys s, max RSS KB, tool msgs/s)"
    done
  done
  log "== $parts partition(s): consume $N records of $consume_topic, $R times each =="
  for ((rep = 1; rep <= R; rep++)); do
    if ((rep % 2)); then first=(kcat prozess); else first=(prozess kcat); fi
    for side in "${first[@]}"; do
      if [ "$side" = kcat ]; then
        # One short line per record (its offset) so the count can be checked;
        # writing it costs kcat a little, prozess's tool only sums lengths.
        measure consume kcat "$parts" "$rep" -- "${kcat_env[@]}" kcat -C -b "$bootstrap" \
          -t "$consume_topic" -o beginning -e -q -c "$N" -f '%o\n' "${kcat_c[@]}"
        n=$(wc -l <"$LAST_OUT")
        if [ "$n" != "$N" ]; then
          log "kcat consumed $n records, expected $N"
          exit 1
        fi
      else
        measure consume prozess "$parts" "$rep" -- "$consumer_perf" --bootstrap "$bootstrap" \
          --topic "$consume_topic" --messages "$N" "${prozess_c[@]}"
        check_prozess_json "$LAST_OUT" "$N"
      fi
      log "consume $side #$rep: $(tail -n 1 "$results" | cut -d' ' -f5-) (wall s, user s, sys s, max RSS KB, tool msgs/s)"
    done
  done
}

bench_partitions 1
if [ -n "$EXTRA_P" ] && [ "$EXTRA_P" != 1 ]; then bench_partitions "$EXTRA_P"; fi

load_end=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo unknown)
python3 - "$results" "$N" "$S" "$R" "$SETTINGS" "$kcat_version" "$broker_desc" "${JSON_OUT:-}" \
  "$(nproc 2>/dev/null || echo 0)" "$load_start" "$load_end" <<'PY'
import json, statistics, sys, time
path, n, s, r, settings, kcat_version, broker, json_out, cpus, load0, load1 = sys.argv[1:12]
n, s, r = int(n), int(s), int(r)
rows = {}
for line in open(path):
    phase, side, parts, rep, wall, user, sys_, rss, rate = line.split()
    rows.setdefault((int(parts), phase, side), []).append(
        (float(wall), float(user) + float(sys_), int(rss), None if rate == "-" else float(rate)))

def summary(samples):
    wall = statistics.median(x[0] for x in samples)
    cpu = statistics.median(x[1] for x in samples)
    rss = statistics.median(x[2] for x in samples)
    wall = max(wall, 1e-3)
    rates = [x[3] for x in samples if x[3] is not None]
    extra = {"tool_msgs_per_sec": round(statistics.median(rates))} if rates else {}
    return {
        "msgs_per_sec": round(n / wall),
        "mb_per_sec": round(n * s / wall / 1048576, 2),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "cpu_us_per_msg": round(cpu / n * 1e6, 3),
        "peak_rss_kb": int(rss),
        "runs": len(samples),
        **extra,
    }

out = {"bench": "prozess-vs-librdkafka", "broker": broker, "peer": kcat_version,
       "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
       "cpus": int(cpus), "load_start": load0, "load_end": load1,
       "messages": n, "size": s, "repeats": r, "producer_settings": settings, "results": []}
print()
print(f"prozess vs {kcat_version} on {broker}")
print(f"{out['date']}, {cpus} CPUs, 1-min load average {load0} at start, {load1} at end")
print(f"{n} records x {s} B, median of {r} runs, producer settings: {settings}; "
      "MB/s counts values only; CPU = user+sys of the whole process")
hdr = f"{'partitions':>10} {'phase':<8} {'client':<11} {'msgs/s':>10} {'MB/s':>8} {'wall s':>7} {'CPU s':>7} {'CPU us/msg':>10} {'peak RSS MB':>11}"
print(hdr)
print("-" * len(hdr))
for parts in sorted({k[0] for k in rows}):
    entry = {"partitions": parts}
    for phase in ("produce", "consume"):
        sides = {}
        for side, label in (("kcat", "librdkafka"), ("prozess", "prozess")):
            if (parts, phase, side) not in rows:
                continue
            m = summary(rows[(parts, phase, side)])
            sides[label] = m
            print(f"{parts:>10} {phase:<8} {label:<11} {m['msgs_per_sec']:>10} {m['mb_per_sec']:>8.2f} "
                  f"{m['wall_s']:>7.3f} {m['cpu_s']:>7.3f} {m['cpu_us_per_msg']:>10.3f} "
                  f"{m['peak_rss_kb'] / 1024:>11.1f}")
        if "librdkafka" in sides and "prozess" in sides:
            a, b = sides["prozess"], sides["librdkafka"]
            sides["ratio"] = {
                # > 1: prozess is faster.
                "throughput": round(a["msgs_per_sec"] / b["msgs_per_sec"], 3),
                # > 1: prozess spends more CPU per record.
                "cpu_per_msg": round(a["cpu_s"] / b["cpu_s"], 3) if b["cpu_s"] > 0 else None,
                "peak_rss": round(a["peak_rss_kb"] / b["peak_rss_kb"], 3) if b["peak_rss_kb"] else None,
            }
            ra = sides["ratio"]
            print(f"{'':>10} {phase:<8} {'ratio':<11} {'x' + format(ra['throughput'], '.2f'):>10} "
                  f"{'':>8} {'':>7} {'':>7} {'x' + format(ra['cpu_per_msg'] or 0, '.2f'):>10} "
                  f"{'x' + format(ra['peak_rss'] or 0, '.2f'):>11}")
        entry[phase] = sides
    out["results"].append(entry)
print("(ratio = prozess / librdkafka: throughput > 1 means prozess is faster; "
      "CPU/msg and RSS > 1 mean prozess uses more)")
line = json.dumps(out, separators=(",", ":"))
if json_out:
    with open(json_out, "w") as f:
        f.write(line + "\n")
print(line)
PY
