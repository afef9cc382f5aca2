#!/usr/bin/env bash
# Refreshes the socket.io-client browser bundle that realtimed serves to the console
# (web/static/vendor/socket.io.min.js) from npm, at the version e2e/package-lock.json pins,
# and web.ClientVersion with it. Bump socket.io-client in e2e/package.json, run
# `cd e2e && npm install`, then this script; the tests check that all three agree.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh node
(cd e2e && npm ci --no-audit --no-fund --loglevel=error)
version=$(node -p 'require("./e2e/node_modules/socket.io-client/package.json").version')
cp e2e/node_modules/socket.io-client/dist/socket.io.min.js web/static/vendor/socket.io.min.js
sed -i "s/^const ClientVersion = \".*\"/const ClientVersion = \"$version\"/" web/web.go
echo "vendored socket.io-client $version into web/static/vendor/socket.io.min.js"
