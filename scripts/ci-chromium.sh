#!/usr/bin/env bash
# Installs Debian's chromium (/usr/bin/chromium) for the browser tests, only when missing.
# playwright-core drives it (its own browser download cannot work on these machines).
# Non-interactive; safe to run repeatedly. Needs root (CI runs as root) or sudo.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "ci-chromium: chromium already installed ($(/usr/bin/chromium --version 2>/dev/null || echo '?'))"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "ci-chromium: not root and no sudo; cannot install chromium" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "ci-chromium: installing chromium"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
test -x /usr/bin/chromium
echo "ci-chromium: $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium installed')"
