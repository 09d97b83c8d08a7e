#!/bin/sh
# Make the tree of a release ref of the GitHub Action: the packed npm package (built dist/, rules/, docs/,
# action.yml) with its production dependencies installed, so the action runs without building anything.
#   npm run build && scripts/pack-action.sh DEST
# Then commit DEST's contents on the release branch and tag it (v0, v0.2.0, ...). test/action.test.ts runs the
# action from exactly this tree.
set -eu
dest=${1:?usage: scripts/pack-action.sh DEST}
repo=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$repo/dist/src/bin/hostleak.js" ] || { echo "pack-action: run npm run build first" >&2; exit 2; }
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$repo" && npm pack --silent --pack-destination "$tmp" >/dev/null)
tar -xzf "$tmp"/hostleak-*.tgz -C "$tmp"
cp -R "$tmp/package/." "$dest/"
cp "$repo/package-lock.json" "$dest/"
(cd "$dest" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error)
[ -f "$dest/action.yml" ] || { echo "pack-action: action.yml is not in the package (package.json files)" >&2; exit 1; }
