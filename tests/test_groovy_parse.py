"""tools/groovy_parse_check.nf: the pipeline's Groovy files parse in Groovy's fast (SLL) mode, and a file that
needs the slow full-LL re-parse at every run's start is named (see the script for why it matters)."""

import glob
import os
import subprocess

from conftest import ROOT

CHECKER = os.path.join(ROOT, "tools", "groovy_parse_check.nf")

# A module whose output declaration is a command call with a named argument after a positional one.
COMMAND_CALL_MODULE = """process A {
    output:
    path 'x.tsv', emit: table

    script:
    "touch x.tsv"
}
"""


def check(nextflow_bin, files, cwd):
    command = [nextflow_bin, "-q", "-C", os.devnull, "run", CHECKER, "--files", ",".join(files)]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def pipeline_groovy_files():
    patterns = ["main.nf", "workflows/*.nf", "subworkflows/local/*/main.nf", "modules/local/*/main.nf",
                "nextflow.config", "conf/*.config", "benchmarks/hello/main.nf", "tools/*.nf"]  # fmt: skip
    return sorted(path for pattern in patterns for path in glob.glob(os.path.join(ROOT, pattern)))


def test_every_pipeline_file_parses_in_sll_mode(nextflow_bin, tmp_path):
    files = pipeline_groovy_files()
    assert len([path for path in files if "/modules/local/" in path]) == len(glob.glob(f"{ROOT}/modules/local/*/"))
    result = check(nextflow_bin, files, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{path}\tSLL" for path in files]


def test_a_command_call_with_named_arguments_is_named(nextflow_bin, tmp_path):
    slow = tmp_path / "slow.nf"
    slow.write_text(COMMAND_CALL_MODULE)
    fast = tmp_path / "fast.nf"
    fast.write_text(COMMAND_CALL_MODULE.replace("path 'x.tsv', emit: table", "path('x.tsv', emit: table)"))
    result = check(nextflow_bin, [str(fast), str(slow)], tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"{fast}\tSLL", f"{slow}\tLL"]
    assert result.stderr.strip() == (
        f"Groovy parses {slow} twice (its fast SLL mode fails): write declarations with named arguments in "
        "parentheses, e.g. path('x.tsv', emit: table) instead of path 'x.tsv', emit: table"
    )
