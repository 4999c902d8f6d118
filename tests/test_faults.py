"""Faults on the real pipeline: a task killed once is retried; a run killed midway resumes to the same
counts re-running only unfinished work; re-running into the same --outdir replaces results cleanly."""

import glob
import os
import random
import signal
import subprocess
import time

import pytest
from conftest import ROOT, expected_count_text, read_text, samtools_wrapper
from make_test_data import TEST_CONTIGS, random_pairs, write_bam

pytestmark = pytest.mark.pipeline

# A small BAM split into many counting tasks, so that a run can be interrupted between them.
MANY_UNITS_ARGS = [
    *("--split_size", "20000", "--max_units", "8", "--units_per_cpu", "16", "--min_unit_reads", "0", "--skip_multiqc")
]


@pytest.fixture(scope="module")
def bam(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bam")
    return write_bam(str(folder / "sample.bam"), TEST_CONTIGS, random_pairs(TEST_CONTIGS, 1500, random.Random(8)))


def test_task_killed_once_is_retried_with_correct_counts(run_pipeline, bam, tmp_path):
    marker = tmp_path / "killed-once"
    env = samtools_wrapper(
        tmp_path / "wrapper",
        # The first counting call (a small sample is one scan: idxstats reading the file; else a view).
        f'if [[ ( "$1" == view || "$1" == idxstats ) && ! -e {marker} ]]; then\n'
        f"  touch {marker}; echo Killed >&2; exit 137\nfi",
    )
    run = run_pipeline("--input", bam, env=env)
    assert run.result.returncode == 0, run.log
    assert marker.exists()
    rows = [row for row in run.trace_rows() if row["process"] == "COUNT_UNIT"]
    failed = [row for row in rows if row["status"] == "FAILED"]
    assert len(failed) == 1 and failed[0]["exit"] == "137"
    retried = [row for row in rows if row["name"] == failed[0]["name"] and row["status"] == "COMPLETED"]
    assert retried and retried[0]["attempt"] == "2" and retried[0]["memory"] == "2 GB"
    assert read_text(os.path.join(run.outdir, "sample", "sample_count.txt")) == expected_count_text(bam)


def finished_count_tasks(launch_dir):
    """Counting tasks whose completion Nextflow has processed (its log says so), so that -resume finds them in
    its cache: a task folder's .exitcode alone comes before that, and a kill in between leaves it uncached."""
    log_path = os.path.join(launch_dir, ".nextflow.log")
    if not os.path.exists(log_path):
        return 0
    return sum(
        1
        for line in read_text(log_path).splitlines()
        if "Task completed > TaskHandler" in line
        and "name: REGIONCOUNT:COUNT_UNIT " in line
        and "status: COMPLETED" in line
    )


def test_run_killed_midway_resumes_to_identical_counts(nextflow_bin, run_pipeline, bam, tmp_path):
    launch, outdir = tmp_path / "launch", tmp_path / "results"
    launch.mkdir()
    slow = samtools_wrapper(tmp_path / "slow", 'if [[ "$1" =~ ^(view|idxstats)$ ]]; then sleep 2; fi')
    command = [
        nextflow_bin,
        "run",
        ROOT,
        "-ansi-log",
        "false",
        "--outdir",
        str(outdir),
        *MANY_UNITS_ARGS,
        "--input",
        bam,
    ]
    process = subprocess.Popen(
        command,
        cwd=launch,
        env={**os.environ, **slow},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while finished_count_tasks(launch) < 2:
            assert process.poll() is None, "the run ended before it could be interrupted"
            assert time.monotonic() < deadline, "no counting task finished within 180 s"
            time.sleep(0.5)
        time.sleep(1)  # the cache entries are written asynchronously after the completion
        os.kill(process.pid, signal.SIGKILL)  # the Nextflow JVM: no chance to clean up
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    time.sleep(5)  # let orphaned tasks finish
    assert not os.path.exists(outdir / "sample" / "sample_count.txt")
    assert not glob.glob(str(outdir / "**" / "*.tmp"), recursive=True)

    resumed = run_pipeline(*MANY_UNITS_ARGS, "--input", bam, "-resume", launch_dir=launch, outdir=outdir)
    assert resumed.result.returncode == 0, resumed.log
    rows = [row for row in resumed.trace_rows() if row["process"] == "COUNT_UNIT"]
    statuses = [row["status"] for row in rows]
    assert statuses.count("CACHED") >= 2 and "COMPLETED" in statuses, statuses
    assert read_text(outdir / "sample" / "sample_count.txt") == expected_count_text(bam)


def test_rerun_into_same_outdir_replaces_results(run_pipeline, bam, tmp_path):
    outdir = tmp_path / "results"
    first = run_pipeline("--input", bam, "--samtools_args", "-F 0x904", outdir=outdir, launch_dir=tmp_path / "a")
    assert first.result.returncode == 0, first.log
    assert read_text(outdir / "sample" / "sample_count.txt") == expected_count_text(bam, "-F 0x904")
    second = run_pipeline("--input", bam, outdir=outdir, launch_dir=tmp_path / "b")
    assert second.result.returncode == 0, second.log
    assert read_text(outdir / "sample" / "sample_count.txt") == expected_count_text(bam)
    assert sorted(os.listdir(outdir / "sample")) == ["sample.counts.tsv", "sample_count.txt"]
