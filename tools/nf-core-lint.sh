#!/usr/bin/env bash
# `nf-core pipelines lint` (nf-core tools, pinned in requirements.txt) on this repository, offline, for
# `make lint`: exits non-zero when a check fails (warnings are allowed). Settings: .nf-core.yml. Extra
# arguments go to nf-core, e.g. tools/nf-core-lint.sh --markdown lint.md (a path relative to a scratch folder:
# give an absolute one).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ! command -v nf-core >/dev/null; then
    echo "nf-core is not on PATH: run \`make lint\` (it installs nf-core tools from requirements.txt into .venv)" >&2
    exit 1
fi

# No network: Nextflow offline, no nf-core version check, no progress bars.
export NXF_OFFLINE=true NFCORE_NO_VERSION_CHECK=1 HIDE_PROGRESS=1

# nf-core keeps `nextflow config` of a pipeline in $NXF_HOME/nf-core/wf-config-cache-<key>.json, the key
# hashing nextflow.config and main.nf only (nf_core.utils.fetch_wf_config, 4.2.1): a change in conf/*.config
# would be linted against the old configuration. Remove this pipeline's cached copy first.
python3 - "$root" <<'PYTHON'
import hashlib, os, pathlib, sys
root = pathlib.Path(sys.argv[1])
digests = "".join(hashlib.sha256((root / name).read_bytes()).hexdigest()
                  for name in ("nextflow.config", "main.nf") if (root / name).is_file())
home = pathlib.Path(os.environ.get("NXF_HOME") or pathlib.Path.home() / ".nextflow")
key = hashlib.sha256(digests.encode()).hexdigest()[:25]
(home / "nf-core" / f"wf-config-cache-{key}.json").unlink(missing_ok=True)
PYTHON

# `nextflow config` also reads a nextflow.config in the current folder: run from an empty one, so that
# no configuration but the pipeline's is linted.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
nf-core pipelines lint --dir "$root" --plain-text "$@"
