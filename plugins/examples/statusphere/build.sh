#!/usr/bin/env bash
# Builds the Python or the JavaScript Statusphere plugin into a WASM component:
#
#   plugins/examples/statusphere/build.sh python|js [OUT_DIR]
#
# writes OUT_DIR/statusphere_python.wasm or OUT_DIR/statusphere_js.wasm (OUT_DIR defaults to
# .cache/statusphere-<language>/) and prints its path on stdout; logs go to stderr.
#
# The tools are installed once into a cache inside the checkout, and reinstalled only when their
# pinned versions change: componentize-py (python/requirements.txt) in a venv at
# .cache/statusphere-python/venv, componentize-js (js/package-lock.json) with `npm ci` in
# .cache/statusphere-js. A component whose inputs (sources, pins, the WIT, this script) have not
# changed since it was built is not built again. Needs python3 (with venv) or node and npm.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
wit="$root/wit/since_v0.1.0"

log() { printf '[statusphere build] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

language=${1:-}
case "$language" in
  python) sources=("$here/python/"*.py "$here/python/requirements.txt") ;;
  js) sources=("$here/js/src/"*.js "$here/js/build.mjs" "$here/js/package-lock.json") ;;
  *) die "usage: $0 python|js [OUT_DIR]" ;;
esac
cache="$root/.cache/statusphere-$language"
out_dir=${2:-$cache}
mkdir -p "$cache" "$out_dir"
out=$(cd "$out_dir" && pwd)/statusphere_$language.wasm

# One build per language at a time: tests running in parallel share the cache.
if command -v flock >/dev/null; then
  exec 9>"$cache/.lock"
  flock 9
fi

# The inputs' digest, kept beside the component: equal means up to date.
inputs=$(cat "${sources[@]}" "$wit"/*.wit "$here/build.sh" | sha256sum | cut -d' ' -f1)
if [ -f "$out" ] && [ "$(cat "$out.inputs" 2>/dev/null)" = "$inputs" ]; then
  log "$out is up to date"
  echo "$out"
  exit 0
fi

build_python() {
  command -v python3 >/dev/null || die "python3 is missing"
  local venv="$cache/venv"
  if ! cmp -s "$here/python/requirements.txt" "$venv/requirements.txt"; then
    log "installing componentize-py into $venv"
    python3 -m venv --clear "$venv" >&2 ||
      die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      -r "$here/python/requirements.txt" >&2 || die "pip install -r python/requirements.txt failed"
    cp "$here/python/requirements.txt" "$venv/requirements.txt"
  fi
  # Build from a copy, so that nothing (bytecode caches) is written into the source folder.
  rm -rf "$cache/src"
  mkdir -p "$cache/src"
  cp "$here/python/"*.py "$cache/src/"
  (cd "$cache/src" && "$venv/bin/componentize-py" --quiet -d "$wit" -w indexer-plugin \
    componentize statusphere -p . -o "$out.tmp" >&2) || die "componentize-py failed"
}

build_js() {
  command -v node >/dev/null && command -v npm >/dev/null || die "node and npm are missing"
  # The lock of the last successful install, kept apart: an interrupted one is redone.
  if ! cmp -s "$here/js/package-lock.json" "$cache/installed-package-lock.json"; then
    log "installing componentize-js into $cache (npm ci)"
    cp "$here/js/package.json" "$here/js/package-lock.json" "$cache/"
    (cd "$cache" && npm ci --no-audit --no-fund --loglevel=error >&2) || die "npm ci failed"
    cp "$here/js/package-lock.json" "$cache/installed-package-lock.json"
  fi
  # build.mjs runs from the cache, where Node finds the installed componentize-js.
  cp "$here/js/build.mjs" "$cache/build.mjs"
  node "$cache/build.mjs" "$here/js/src/statusphere.js" "$wit" "$out.tmp" ||
    die "componentize-js failed"
}

log "building $out"
"build_$language"
mv "$out.tmp" "$out"
echo "$inputs" >"$out.inputs"
echo "$out"
