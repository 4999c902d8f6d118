#!/usr/bin/env bash
# samtools from Debian's packages when missing (others: conda install -c bioconda samtools=1.16.1, or run
# the pipeline with -profile docker/singularity/conda).
exec "$(dirname "${BASH_SOURCE[0]}")/debian-install.sh" samtools samtools
