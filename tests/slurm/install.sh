#!/usr/bin/env bash
# Install what tests/slurm/cluster.py needs to run a one-node Slurm cluster:
# the Debian packages slurm-wlm (slurmctld, slurmd, sbatch, squeue, ...) and
# munge (munged). Idempotent: does nothing when the binaries are already there.
#
# Usage: bash tests/slurm/install.sh
set -euo pipefail

have_all() {
    local bin
    for bin in slurmctld slurmd munged munge sbatch squeue sinfo scancel; do
        # The daemons live in /usr/sbin, which a non-root PATH may lack.
        if ! command -v "$bin" >/dev/null 2>&1 \
            && [ ! -x "/usr/sbin/$bin" ] && [ ! -x "/usr/bin/$bin" ]; then
            return 1
        fi
    done
    return 0
}

if have_all; then
    echo "install.sh: Slurm and munge are already installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install.sh: slurmctld/slurmd/munged missing; install them as root with: apt-get update && apt-get install -y slurm-wlm munge (Debian/Ubuntu), or your distribution's slurm and munge packages" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install.sh: installing slurm-wlm and munge"
apt-get update -qq
apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null

if ! have_all; then
    echo "install.sh: apt-get finished but slurmctld/slurmd/munged are still missing" >&2
    exit 1
fi
echo "install.sh: installed $(slurmd -V 2>/dev/null || echo slurm) and $(munged -V 2>/dev/null | head -n1 || echo munge)"
