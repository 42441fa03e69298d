#!/usr/bin/env bash
# Regenerates package-lock.json from the package.json files alone. With node_modules
# present npm leaves optional packages of other platforms out of the lockfile, and
# `npm ci` then refuses it; resolving in an empty folder records them all.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root"
for f in package.json .npmrc */package.json; do
  mkdir -p "$tmp/$(dirname "$f")"
  cp "$f" "$tmp/$f"
done
(cd "$tmp" && npm install --package-lock-only --no-audit --no-fund >/dev/null)
cp "$tmp/package-lock.json" "$root/package-lock.json"
(cd "$tmp" && npm ci --dry-run >/dev/null) && echo "package-lock.json regenerated; npm ci accepts it"
