#!/usr/bin/env bash
# Installs what tests/summary/test_tensorboard_browser.py needs: Debian's headless Chromium with its
# driver, and Selenium to drive it. Called by .ci/run; quick when everything is already there.
set -euo pipefail
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver
fi
python -m pip install -q "selenium>=4.10"
