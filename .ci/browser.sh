#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (the web console, driven
# with chromedp), if it is missing. The tests fail without it; they never
# skip.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
echo "browser: installing Debian's chromium"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null
