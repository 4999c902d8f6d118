#!/usr/bin/env bash
# Install what tests/test_report_browser.py needs to render the MultiQC report: the Debian package
# chromium (headless screenshots and DOM dumps). Idempotent: does nothing when chromium is there.
#
# Usage: bash tests/browser/install.sh
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "install.sh: chromium is already installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install.sh: chromium missing; install it as root with: apt-get update && apt-get install -y chromium (Debian/Ubuntu), or your distribution's chromium package" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install.sh: installing chromium"
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null

if ! command -v chromium >/dev/null 2>&1; then
    echo "install.sh: apt-get finished but chromium is still missing" >&2
    exit 1
fi
echo "install.sh: installed $(chromium --version 2>/dev/null || echo chromium)"
