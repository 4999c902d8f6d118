#!/usr/bin/env bash
# samtools from Debian's packages when missing (root + apt-get); otherwise say how to get it.
set -euo pipefail
if command -v samtools >/dev/null; then
    exit 0
fi
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "[setup] installing samtools (Debian package)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq samtools >/dev/null
else
    echo "[setup] error: samtools is not on PATH; install it (apt-get install samtools, conda install -c bioconda samtools=1.16.1) or run with -profile docker/singularity/conda" >&2
    exit 1
fi
