"""-resume after an upgrade: a task whose bin/ modules changed runs again, so that a fixed count is never
replaced by the cached count of the version before.

Nextflow hashes the bin/ executables a task script names (count_unit.py), not the modules they import
(task_files.py, unit_counting.py, ...), where most fixes land. Every task script that runs bin/ names a digest
of bin/'s Python files (conf/modules.config, ext.bin_digest). The test plays an upgrade on a copy of the
pipeline: a version whose task_files.py counts one read too many, then the real one, both under -resume.
"""

import os
import random
import shutil
import subprocess

from conftest import ROOT, NextflowRun, expected_count_text, read_text
from make_test_data import Read, write_bam

# What a run needs of the pipeline (the tests, docs and benchmarks stay behind).
PIPELINE_PARTS = ["main.nf", "nextflow.config", "nextflow_schema.json", "assets", "bin", "conf", "modules",
                  "subworkflows", "workflows"]  # fmt: skip

# Appended to the copy's bin/task_files.py: an earlier version's bug, every count one too many, in a module
# that no task script names (count_unit.py imports it).
ONE_TOO_MANY = '''

_written_results = write_results


def write_results(path, blocks):
    """An earlier version's bug (tests/test_resume_upgrade.py): every count one too many."""
    return _written_results(path, (
        (sample, items, [outcome._replace(count=outcome.count + 1) for outcome in outcomes])
        for sample, items, outcomes in blocks
    ))
'''


def copy_pipeline(folder):
    os.makedirs(folder)
    for part in PIPELINE_PARTS:
        source = os.path.join(ROOT, part)
        if os.path.isdir(source):
            shutil.copytree(source, os.path.join(folder, part), ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, folder)
    return folder


def one_too_many(count_text):
    """The count file of the buggy version: each region's samtools count plus one, and their sum."""
    regions = [line.rsplit(": ", 1) for line in count_text.splitlines() if line.startswith("Region ")]
    lines = [f"{name}: {int(count) + 1}" for name, count in regions]
    return "\n".join(lines + [f"Total reads: {sum(int(count) + 1 for _, count in regions)}"]) + "\n"


def run_copy(nextflow_bin, pipeline, launch_dir, outdir, *args):
    command = [nextflow_bin, "run", pipeline, "-ansi-log", "false", "--outdir", outdir, "--skip_multiqc", *args]
    return subprocess.run(command, cwd=launch_dir, capture_output=True, text=True, timeout=600)


def trace_statuses(outdir):
    """{process: {status, ...}} of the newest execution trace (NextflowRun.trace_rows)."""
    statuses = {}
    for row in NextflowRun(None, outdir, None).trace_rows():
        statuses.setdefault(row["process"], set()).add(row["status"])
    return statuses


def test_resume_after_an_upgrade_counts_with_the_new_modules(nextflow_bin, tmp_path):
    contigs = [("chrA", 50_000), ("chrB", 40_000)]
    rng = random.Random(3)
    reads = [Read(f"r{i}", 0, contigs[i % 2][0], rng.randrange(0, 39_000), "100M") for i in range(400)]
    bam = write_bam(str(tmp_path / "upgrade.bam"), contigs, reads)
    expected = expected_count_text(bam)
    pipeline = copy_pipeline(str(tmp_path / "pipeline"))
    modules = os.path.join(pipeline, "bin", "task_files.py")
    launch, outdir = tmp_path / "launch", str(tmp_path / "results")
    launch.mkdir()
    count_file = os.path.join(outdir, "upgrade", "upgrade_count.txt")

    with open(modules, "a") as handle:
        handle.write(ONE_TOO_MANY)
    old = run_copy(nextflow_bin, pipeline, launch, outdir, "--input", bam)
    assert old.returncode == 0, old.stdout + old.stderr
    assert read_text(count_file) == one_too_many(expected)

    shutil.copy2(os.path.join(ROOT, "bin", "task_files.py"), modules)  # the upgrade
    new = run_copy(nextflow_bin, pipeline, launch, outdir, "--input", bam, "-resume")
    assert new.returncode == 0, new.stdout + new.stderr
    assert read_text(count_file) == expected
    statuses = trace_statuses(outdir)
    assert statuses["COUNT_UNIT"] == {"COMPLETED"}, statuses
    assert statuses["REDUCE_COUNTS"] == {"COMPLETED"}, statuses

    again = run_copy(nextflow_bin, pipeline, launch, outdir, "--input", bam, "-resume")
    assert again.returncode == 0, again.stdout + again.stderr
    assert set().union(*trace_statuses(outdir).values()) == {"CACHED"}
    assert read_text(count_file) == expected
