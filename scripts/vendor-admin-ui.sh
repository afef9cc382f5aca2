#!/usr/bin/env bash
# Refreshes the Socket.IO Admin UI's built files that realtimed serves (adminui/static/) from
# npm's @socket.io/admin-ui (its ui/dist/, without the source maps), at the version
# e2e/package-lock.json pins, and adminui.UIVersion with them. Bump @socket.io/admin-ui in
# e2e/package.json, run `cd e2e && npm install`, then this script; the tests check that all
# three agree, byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh node
(cd e2e && npm ci --no-audit --no-fund --loglevel=error)
pkg=e2e/node_modules/@socket.io/admin-ui
version=$(node -p "require('./$pkg/package.json').version")
rm -rf adminui/static
mkdir -p adminui/static
dest=$PWD/adminui/static
(cd "$pkg/ui/dist" && find . -type f ! -name '*.map' -exec cp --parents {} "$dest" \;)
sed -i "s/^const UIVersion = \".*\"/const UIVersion = \"$version\"/" adminui/adminui.go
echo "vendored @socket.io/admin-ui $version into adminui/static/"
