#!/usr/bin/env bash
# What tests/slurm/cluster.py needs for a one-node Slurm cluster: Debian's slurm-wlm and munge.
exec "$(dirname "${BASH_SOURCE[0]}")/../../tools/debian-install.sh" \
    "slurmctld slurmd munged munge sbatch squeue sinfo scancel" slurm-wlm munge
