#!/usr/bin/env bash
# featureCounts (Debian package subread, 2.0.3 on bookworm) for `make bench`, which times it against the
# pipeline on the target panels (others: conda install -c bioconda subread).
exec "$(dirname "${BASH_SOURCE[0]}")/debian-install.sh" featureCounts subread
