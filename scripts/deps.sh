#!/usr/bin/env bash
# Checks (and, as root on Debian, installs) what the tests need besides PostgreSQL:
#   scripts/deps.sh node      Node.js >= 18 and npm
#   scripts/deps.sh chromium  Debian's chromium (headless browser tests)
#   scripts/deps.sh openssl   openssl (self-signed certificates for the TLS tests)
set -euo pipefail

log() { echo "deps.sh: $*" >&2; }

apt_install() {
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "missing $*: install it (Debian: apt-get install $*)"
    exit 1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

node_ok() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
    [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 18 ]
}

case "${1:-}" in
  node)
    node_ok || apt_install nodejs npm
    node_ok || { log "Node.js >= 18 with npm is required"; exit 1; }
    ;;
  openssl)
    command -v openssl >/dev/null 2>&1 || apt_install openssl
    ;;
  chromium)
    command -v chromium >/dev/null 2>&1 || apt_install chromium
    ;;
  *) echo "usage: $0 node|chromium|openssl" >&2; exit 2 ;;
esac
