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
    """The checker on these files, or on the pipeline's own without any."""
    command = [nextflow_bin, "-q", "-C", os.devnull, "run", CHECKER, *(["--files", ",".join(files)] if files else [])]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_every_pipeline_file_parses_in_sll_mode(nextflow_bin, tmp_path):
    result = check(nextflow_bin, [], tmp_path)
    assert result.returncode == 0, result.stderr
    checked = dict(line.split("\t") for line in result.stdout.splitlines())
    assert set(checked.values()) == {"SLL"}
    # The files where nf-core's form of declarations appears, and the entry and configuration, among them.
    expected = glob.glob(f"{ROOT}/modules/local/*/main.nf") + glob.glob(f"{ROOT}/subworkflows/local/*/main.nf")
    expected += [f"{ROOT}/main.nf", f"{ROOT}/nextflow.config", f"{ROOT}/workflows/regioncount.nf"]
    assert set(expected) <= set(checked) and len(expected) > 10, sorted(checked)


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
