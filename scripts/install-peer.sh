#!/usr/bin/env bash
# Installs the interop peer: librdkafka >= 2.2, taken from the PyPI package
# confluent-kafka==2.16.1 (in a venv under the cache), plus Debian's kcat run on
# that library (Debian's own librdkafka 2.0.2 cannot talk to Tansu; see
# ../shared/BROKERS.md). Prints the peer directory on stdout:
#   <dir>/venv/bin/python   python with confluent_kafka
#   <dir>/lib/librdkafka.so.1  -> the wheel's librdkafka (use as LD_LIBRARY_PATH for kcat)
# Idempotent and safe to run concurrently (flock), fast when already installed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dir="$PROZESS_CACHE_DIR/peer"
marker="$dir/.installed-$PEER_PACKAGE"
mkdir -p "$dir"

have_kcat() { command -v kcat >/dev/null 2>&1; }

if [ -f "$marker" ] && have_kcat; then
  echo "$dir"
  exit 0
fi

exec 9>"$dir/.lock"
flock 9

if ! have_kcat; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian's kcat"
    export DEBIAN_FRONTEND=noninteractive
    retry apt-get update -qq >&2
    retry apt-get install -y -qq --no-install-recommends kcat >&2
  else
    log "kcat is missing; install it (e.g. sudo apt-get install kcat). Continuing without it."
  fi
fi

if [ ! -f "$marker" ]; then
  log "installing $PEER_PACKAGE into $dir/venv"
  rm -rf "$dir/venv" "$dir/lib"
  if ! python3 -m venv "$dir/venv" >&2; then
    # Debian's own python3 ships venv separately.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      log "python3 -m venv failed; installing python3-venv"
      export DEBIAN_FRONTEND=noninteractive
      retry apt-get update -qq >&2
      retry apt-get install -y -qq --no-install-recommends python3-venv >&2
      rm -rf "$dir/venv"
      python3 -m venv "$dir/venv" >&2
    else
      log "python3 -m venv failed; install python3-venv (Debian) and retry"
      exit 1
    fi
  fi
  retry "$dir/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "$PEER_PACKAGE" >&2
  lib=$("$dir/venv/bin/python" - <<'PY'
import glob, os, confluent_kafka
base = os.path.dirname(os.path.dirname(confluent_kafka.__file__))
libs = sorted(glob.glob(os.path.join(base, "confluent_kafka.libs", "librdkafka-*.so.1")))
print(libs[0] if libs else "")
PY
)
  if [ -z "$lib" ]; then
    log "no librdkafka-*.so.1 in the confluent-kafka wheel"
    exit 1
  fi
  mkdir -p "$dir/lib"
  ln -sfn "$lib" "$dir/lib/librdkafka.so.1"
  version=$("$dir/venv/bin/python" -c 'import confluent_kafka; print(confluent_kafka.libversion()[0])')
  case "$version" in
    "$PEER_LIBRDKAFKA_PREFIX"*) ;;
    *) log "unexpected librdkafka version $version"; exit 1 ;;
  esac
  touch "$marker"
  log "librdkafka $version ready in $dir"
fi
exec 9>&-
echo "$dir"
