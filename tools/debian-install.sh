#!/usr/bin/env bash
# Install Debian packages when the commands they bring are missing. Idempotent: does nothing when every
# command is there; otherwise needs root and apt-get, or says how to get them.
#
# Usage: tools/debian-install.sh "COMMAND ..." PACKAGE ...
#   e.g. tools/debian-install.sh "slurmctld slurmd munged" slurm-wlm munge
set -euo pipefail

commands=$1
shift
packages=("$@")

have_all() {
    local command
    for command in $commands; do
        # Daemons live in /usr/sbin, which a non-root PATH may lack.
        if ! command -v "$command" >/dev/null 2>&1 && [[ ! -x "/usr/sbin/$command" ]]; then
            return 1
        fi
    done
}

if have_all; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "[setup] error: missing $commands; install them as root with: apt-get install ${packages[*]} (Debian/Ubuntu), or your distribution's packages" >&2
    exit 1
fi
echo "[setup] installing ${packages[*]} (Debian packages)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
if ! have_all; then
    echo "[setup] error: apt-get installed ${packages[*]} but $commands are still missing" >&2
    exit 1
fi
