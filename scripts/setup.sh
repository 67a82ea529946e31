#!/usr/bin/env bash
# Create .venv and install Ganvas. Usage: scripts/setup.sh [dev]
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
if [ "${1:-}" = "dev" ]; then
  .venv/bin/python -m pip install -q -r requirements-dev.txt
  # Browser tests drive Debian's chromium (Playwright's own browser download is not reachable
  # here); the emoji dataset tests render Debian's Noto Color Emoji with Unicode's emoji list.
  need=""
  command -v chromium >/dev/null 2>&1 || need="$need chromium"
  [ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need="$need fonts-noto-color-emoji"
  [ -f /usr/share/unicode/emoji/emoji-test.txt ] || need="$need unicode-data"
  if [ -n "$need" ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $need libfribidi0 >/dev/null
  fi
else
  .venv/bin/python -m pip install -q -r requirements.txt
fi
