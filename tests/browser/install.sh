#!/usr/bin/env bash
# What tests/test_report_browser.py needs to render the MultiQC report: Debian's chromium.
exec "$(dirname "${BASH_SOURCE[0]}")/../../tools/debian-install.sh" chromium chromium
