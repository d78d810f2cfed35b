#!/usr/bin/env bash
# Installs the Debian packages the audio tests use, only when missing:
#   opus-tools (opusinfo, opusdec, opusenc) — to check that our Ogg Opus files are accepted.
# Non-interactive and quiet; safe to run repeatedly. Needs root (CI runs as root) or sudo.
set -euo pipefail

if command -v opusinfo >/dev/null 2>&1 && command -v opusdec >/dev/null 2>&1; then
  echo "ci-apt: opus-tools already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "ci-apt: not root and no sudo; cannot install opus-tools (audio container tests will be skipped)" >&2
    exit 0
  fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "ci-apt: installing opus-tools"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends opus-tools >/dev/null
command -v opusinfo >/dev/null && command -v opusdec >/dev/null
echo "ci-apt: opus-tools installed"
