#!/usr/bin/env bash
# Makes an Apache Kafka distribution available for the Kafka stages of the
# tests and prints its directory (for PROZESS_KAFKA_HOME) on stdout:
# - $PROZESS_KAFKA_HOME when set (a user's own download);
# - else ../shared/kafka/kafka_2.13-4.0.0-broker.tgz (or $PROZESS_KAFKA_TGZ)
#   unpacked once into the cache.
# Installs Java 17 from Debian when `java` is missing and apt-get can.
# Exits 3, saying why, when there is no distribution to use (then the Kafka
# stages are skipped); other failures exit 1.
# Idempotent and safe to run concurrently (flock).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_java() {
  if command -v java >/dev/null 2>&1; then return 0; fi
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    log "java not found: installing openjdk-17-jre-headless from Debian"
    retry apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive retry apt-get install -y -qq openjdk-17-jre-headless >&2
  fi
  command -v java >/dev/null 2>&1 || { log "java is not on PATH and could not be installed"; exit 1; }
}

if [ -n "${PROZESS_KAFKA_HOME:-}" ]; then
  [ -x "$PROZESS_KAFKA_HOME/bin/kafka-server-start.sh" ] || {
    log "PROZESS_KAFKA_HOME=$PROZESS_KAFKA_HOME has no bin/kafka-server-start.sh"; exit 1; }
  ensure_java
  echo "$PROZESS_KAFKA_HOME"
  exit 0
fi

tgz="${PROZESS_KAFKA_TGZ:-$PROZESS_ROOT/../shared/kafka/kafka_2.13-4.0.0-broker.tgz}"
if [ ! -f "$tgz" ]; then
  log "no Kafka distribution: $tgz is not there and PROZESS_KAFKA_HOME is not set"
  exit 3
fi
ensure_java
dir="$PROZESS_CACHE_DIR/kafka"
home="$dir/kafka_2.13-4.0.0"
mkdir -p "$dir"
if [ ! -x "$home/bin/kafka-server-start.sh" ]; then
  exec 9>"$dir/.lock"
  flock 9
  if [ ! -x "$home/bin/kafka-server-start.sh" ]; then
    log "unpacking $tgz into $dir"
    rm -rf "$dir/unpack"
    mkdir -p "$dir/unpack"
    tar -xzf "$tgz" -C "$dir/unpack"
    rm -rf "$home"
    mv "$dir/unpack/kafka_2.13-4.0.0" "$home"
    rm -rf "$dir/unpack"
    log "installed $home"
  fi
  exec 9>&-
fi
echo "$home"
