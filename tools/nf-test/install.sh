#!/usr/bin/env bash
# Make nf-test (version pinned below: the snapshots were written with it) available to `make test`.
# Idempotent, in this order:
#   1. an nf-test on PATH (or one this script installed into .tools/bin) is used as it is; a version other
#      than the pinned one gets a warning (snapshots may then differ);
#   2. otherwise, with internet access, nf-test's official installer, pinned to the version, runs in
#      .tools/bin (it writes the launcher there and the jar to ~/.nf-test/nf-test.jar);
#   3. otherwise it stops with one line saying how to install nf-test.
# Nothing of nf-test is kept in this repository.
set -euo pipefail

version="0.9.5"
installer_url="https://get.nf-test.com"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="$root/.tools/bin"

# The version an nf-test reports (`nf-test version` prints "nf-test 0.9.5" among colours and banners).
nf_test_version() {
    "$1" version 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' | sed -n 's/.*nf-test \([0-9][0-9.]*[0-9]\).*/\1/p' | head -n 1
}

use() {
    local found
    found="$(nf_test_version "$1" || true)"
    if [[ "$found" == "$version" ]]; then
        echo "[setup] using $1 (nf-test $version)"
    else
        echo "[setup] warning: $1 is nf-test ${found:-of unknown version}, not $version: the snapshots were" \
            "written with $version and may not match (README.md says how to install $version)" >&2
    fi
}

if nf_test="$(command -v nf-test)"; then
    use "$nf_test"
    exit 0
fi
if [[ -x "$bin/nf-test" ]]; then
    use "$bin/nf-test"
    echo "[setup] (not on your PATH: make adds $bin; to run it yourself: export PATH=\"\$PATH:$bin\")"
    exit 0
fi

missing="[setup] error: nf-test is missing: install nf-test $version with its official installer"
missing+=" (curl -fsSL $installer_url | bash -s $version, then put ./nf-test on your PATH)"
missing+=" or with conda (conda install -c bioconda nf-test=$version), then run make test again"

installer="$(mktemp)"
trap 'rm -f "$installer"' EXIT
if ! command -v curl > /dev/null ||
    ! curl -fsSL --connect-timeout 10 --max-time 120 "$installer_url" -o "$installer" 2> /dev/null; then
    echo "$missing (no internet access to $installer_url)" >&2
    exit 1
fi

echo "[setup] installing nf-test $version with its official installer ($installer_url) into $bin"
mkdir -p "$bin"
# The official invocation, `curl -fsSL https://get.nf-test.com | bash -s <version>`, run in .tools/bin.
if ! (cd "$bin" && bash -s "$version" < "$installer") || [[ ! -x "$bin/nf-test" ]]; then
    echo "$missing (the official installer failed: output above)" >&2
    exit 1
fi
found="$(nf_test_version "$bin/nf-test" || true)"
if [[ "$found" != "$version" ]]; then
    echo "$missing (the installed $bin/nf-test reports version '${found:-none}')" >&2
    exit 1
fi
echo "[setup] nf-test $version ready: $bin/nf-test"
