#!/usr/bin/env bash
# What the browser tests need besides the test virtualenv (scripts/test-services.sh puts
# Playwright for Python there): Debian's Chromium, chromedriver and a CJK font (never a browser
# download: Playwright only drives /usr/bin/chromium), and axe-core from npm into a cache
# folder outside the repository.
set -euo pipefail
if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/truetype/wqy ]; then
  echo "browser-setup: installing Debian's chromium" >&2
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-wqy-zenhei >&2
fi
axe_dir="${IMGBED_AXE_DIR:-$HOME/.cache/imgbed-axe}"
if [ ! -f "$axe_dir/node_modules/axe-core/axe.min.js" ]; then
  echo "browser-setup: installing axe-core into $axe_dir" >&2
  mkdir -p "$axe_dir"
  npm install --silent --no-audit --no-fund --prefix "$axe_dir" 'axe-core@4.14.1' >&2
fi
