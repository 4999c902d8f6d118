"""The pipeline on a real Slurm cluster: `-profile slurm` against real slurmctld/slurmd/munged daemons.

A one-node cluster is started on this machine (tests/slurm/cluster.py; slurm-wlm and munge are installed
by tests/slurm/install.sh when missing), the pipeline runs with `-profile slurm` and the same run is made
with the local executor. Checked: every task was a Slurm job (the trace's native ids are the job ids
that squeue reports as completed), the counting tasks ran as job arrays, the sbatch options come from
the params and the process labels, and the counts equal the local run's and `samtools view -c`'s.

Every wait is bounded: cluster start-up, the Nextflow runs and the cluster stop fail with the daemons'
and Nextflow's logs instead of hanging.
"""

import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pysam
import pytest
from conftest import ROOT, NextflowRun, expected_count_text, read_text
from make_test_data import TEST_CONTIGS, random_pairs, write_bam

sys.path.insert(0, os.path.join(ROOT, "tests", "slurm"))
from cluster import SlurmCluster, SlurmClusterError, missing_binaries  # noqa: E402

pytestmark = [pytest.mark.slurm, pytest.mark.pipeline]

INSTALL_TIMEOUT_S = 900  # apt-get of slurm-wlm and munge, first run on a fresh machine only
RUN_TIMEOUT_S = 240  # one Nextflow run; the Slurm run takes about 30 s here
ARRAY_SIZE = 4
ACCOUNT = "regioncount-test"
COMMENT = "regioncount-slurm-test"
SAMPLES = ("indexed", "unindexed")

# The test cluster runs jobs at once: poll it often so that the run takes seconds, not minutes
# (the profile's defaults, 15 s and 1 min, are for shared clusters).
FAST_POLLING = """\
executor {
    pollInterval      = '250ms'
    queueStatInterval = '1 sec'
    submitRateLimit   = '50/1s'
    exitReadTimeout   = '30 sec'
}
"""


def ensure_slurm_installed():
    if not missing_binaries():
        return
    try:
        proc = subprocess.run(
            ["bash", os.path.join(ROOT, "tests", "slurm", "install.sh")],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"tests/slurm/install.sh did not finish within {INSTALL_TIMEOUT_S} s", pytrace=False)
    if proc.returncode != 0 or missing_binaries():
        pytest.fail(
            f"tests/slurm/install.sh failed (exit {proc.returncode}); still missing: "
            f"{', '.join(missing_binaries()) or '-'}\n{proc.stdout}{proc.stderr}",
            pytrace=False,
        )


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    ensure_slurm_installed()
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"), start_timeout=60, stop_timeout=15)
    try:
        cluster.start()
    except SlurmClusterError as error:
        pytest.fail(f"the Slurm test cluster did not start: {error}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()
    assert cluster.processes() == [], f"Slurm cluster processes still alive after stop(): {cluster.processes()}"


@pytest.fixture(scope="module")
def bams(tmp_path_factory):
    """Two samples: one BAM with its index, one without (so SAMTOOLS_INDEX runs on the cluster too)."""
    inputs = tmp_path_factory.mktemp("slurm-data")
    truth = tmp_path_factory.mktemp("slurm-truth")
    for number, name in enumerate(SAMPLES, start=1):
        reads = random_pairs(TEST_CONTIGS, 1500, random.Random(40 + number))
        write_bam(str(inputs / f"{name}.bam"), TEST_CONTIGS, reads, seed=40 + number, index=name == "indexed")
        # An indexed copy for `samtools view -c`, outside the input glob.
        write_bam(str(truth / f"{name}.bam"), TEST_CONTIGS, reads, seed=40 + number)
    return SimpleNamespace(inputs=inputs, truth=truth)


class Launch:
    """A Nextflow run in the background, finished with a bounded wait."""

    def __init__(self, args, folder, env):
        self.folder = folder
        self.launch_dir = folder / "launch"
        self.launch_dir.mkdir(parents=True)
        self.args = ["run", ROOT, "-ansi-log", "false", "--outdir", str(folder / "results"), *args]
        self.process = subprocess.Popen(
            [shutil.which("nextflow") or "nextflow", *self.args],
            cwd=self.launch_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(self, deadline, diagnostics=lambda: ""):
        try:
            stdout, stderr = self.process.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            stdout, stderr = self.process.communicate()
            log = self.launch_dir / ".nextflow.log"
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.exists() else "(no log)"
            pytest.fail(
                f"nextflow {' '.join(self.args)} did not finish within {RUN_TIMEOUT_S} s\n{stdout}{stderr}\n"
                f"{diagnostics()}\n.nextflow.log tail:\n{tail}",
                pytrace=False,
            )
        run = NextflowRun(
            subprocess.CompletedProcess(self.args, self.process.returncode, stdout, stderr),
            str(self.folder / "results"),
            str(self.launch_dir),
        )
        assert self.process.returncode == 0, run.log
        return run

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@pytest.fixture(scope="module")
def runs(slurm, bams, tmp_path_factory):
    """The same run with -profile slurm and with the local executor, side by side."""
    if shutil.which("nextflow") is None:
        pytest.fail("nextflow is not on PATH: run the tests with `make test`, which sets it up", pytrace=False)
    folder = tmp_path_factory.mktemp("runs")
    fast = folder / "fast-polling.config"
    fast.write_text(FAST_POLLING)
    # Several work units per sample, so that the counting step makes more tasks than one array holds.
    common = [
        "--input",
        str(bams.inputs / "*.bam"),
        "--split_size",
        "100000",
        "--max_units",
        "4",
        # Local executor only: Slurm's capacity is not this machine's, so its bound is max_units.
        "--units_per_cpu",
        "1",
        "--min_unit_reads",
        "0",
    ]
    slurm_args = [
        *common,
        "-profile",
        "slurm",
        "-c",
        str(fast),
        "--slurm_queue",
        slurm.partition,
        "--slurm_account",
        ACCOUNT,
        # `=`: a value that starts with `--` would be read as the next parameter.
        f"--slurm_cluster_options=--comment={COMMENT}",
        "--slurm_array_size",
        str(ARRAY_SIZE),
    ]
    launches = [Launch(slurm_args, folder / "slurm", slurm.env()), Launch(common, folder / "local", dict(os.environ))]
    deadline = time.monotonic() + RUN_TIMEOUT_S
    try:
        slurm_run = launches[0].finish(deadline, lambda: "squeue -t all:\n" + slurm.run("squeue", "-t", "all").stdout)
        local_run = launches[1].finish(deadline)
    finally:
        for launch in launches:
            launch.kill()
    return SimpleNamespace(slurm=slurm_run, local=local_run)


@pytest.fixture(scope="module")
def slurm_run(runs):
    return runs.slurm


@pytest.fixture(scope="module")
def local_run(runs):
    return runs.local


def squeue_all(cluster):
    """{job id: (name, state)} of every job squeue still shows (finished jobs stay for MinJobAge=300 s)."""
    out = cluster.run("squeue", "--noheader", "-t", "all", "-o", "%i|%j|%T").stdout
    return {job: (name, state) for job, name, state in (line.split("|") for line in out.splitlines() if line)}


def command_run_headers(run, row):
    work = next(Path(run.launch_dir, "work").glob(f"{row['hash']}*"))
    return [line for line in (work / ".command.run").read_text().splitlines() if line.startswith("#SBATCH")]


def test_counts_equal_the_local_run_and_samtools(slurm_run, local_run, bams):
    for sample in SAMPLES:
        for name in (f"{sample}_count.txt", f"{sample}.counts.tsv"):
            on_slurm, local = (os.path.join(run.outdir, sample, name) for run in (slurm_run, local_run))
            assert read_text(on_slurm) == read_text(local), name
        expected = expected_count_text(str(bams.truth / f"{sample}.bam"))
        assert read_text(os.path.join(slurm_run.outdir, sample, f"{sample}_count.txt")) == expected


def test_every_task_was_a_slurm_job(slurm_run, slurm):
    rows = slurm_run.trace_rows()
    assert {"SAMTOOLS_INDEX", "PLAN_UNITS", "COUNT_UNIT", "REDUCE_COUNTS"} <= {row["process"] for row in rows}
    assert all(row["status"] == "COMPLETED" and row["exit"] == "0" for row in rows), rows
    jobs = squeue_all(slurm)
    for row in rows:
        # The native id is the Slurm job id (array element: <array job id>_<index>), not a process id.
        assert re.fullmatch(r"\d+(_\d+)?", row["native_id"]), row
        assert row["native_id"] in jobs, f"{row['name']}: job {row['native_id']} unknown to squeue: {jobs}"
        name, state = jobs[row["native_id"]]
        assert state == "COMPLETED", (row["name"], name, state)
        assert name.startswith(f"nf-{row['qualified_process'].replace(':', '_')}_"), (row["name"], name)


def test_counting_tasks_ran_as_job_arrays(slurm_run, slurm):
    rows = slurm_run.trace_rows()
    counting = [row for row in rows if row["process"] == "COUNT_UNIT"]
    others = [row for row in rows if row["process"] != "COUNT_UNIT"]
    assert len(counting) > ARRAY_SIZE, "too few counting tasks to fill more than one array"
    # Tags are '<group> (<its samples>):unit_NNNN'; the two samples fall in different groups of the two (half of
    # --max_units 4, whatever --units_per_cpu), each group gets up to --max_units counting jobs.
    per_group = {}
    for row in counting:
        per_group.setdefault(re.search(r"\((.*)\):", row["tag"]).group(1), []).append(row)
    assert {samples: len(tasks) for samples, tasks in per_group.items()} == {"indexed": 4, "unindexed": 4}
    arrays = {}
    for row in counting:
        array_id, index = row["native_id"].split("_")
        arrays.setdefault(array_id, []).append(int(index))
    assert len(arrays) >= 2, arrays
    for indexes in arrays.values():
        assert sorted(indexes) == list(range(len(indexes))) and len(indexes) <= ARRAY_SIZE, arrays
    assert all("_" not in row["native_id"] for row in others), others
    # The array job itself: one sbatch with --array, named after the process.
    jobs = squeue_all(slurm)
    for array_id, indexes in arrays.items():
        assert jobs[f"{array_id}_{indexes[-1]}"][0].startswith("nf-REGIONCOUNT_COUNT_UNIT"), jobs
    scripts = [path.read_text() for path in Path(slurm_run.launch_dir, "work").glob("*/*/.command.run")]
    array_headers = sorted(
        re.search(r"^#SBATCH --array (\S+)$", text, re.M).group(1) for text in scripts if "#SBATCH --array" in text
    )
    assert array_headers == sorted(f"0-{len(indexes) - 1}" for indexes in arrays.values())


def test_sbatch_options_come_from_params_and_labels(slurm_run, slurm):
    # conf/base.config, first attempt: process_single 1 GB / 2 h, process_count 1 GB / 4 h.
    label_resources = {"SAMTOOLS_INDEX": 2, "PLAN_UNITS": 2, "COUNT_UNIT": 4, "REDUCE_COUNTS": 2}
    for row in slurm_run.trace_rows():
        headers = command_run_headers(slurm_run, row)
        assert f"#SBATCH -p {slurm.partition}" in headers, headers
        assert f"#SBATCH -A {ACCOUNT}" in headers, headers
        assert f"#SBATCH --comment={COMMENT}" in headers, headers
        if row["process"] in label_resources:
            assert "#SBATCH --mem 1024M" in headers, headers
            assert f"#SBATCH -t {label_resources[row['process']]:02d}:00:00" in headers, headers


def test_reported_versions_are_the_ones_that_ran(slurm_run):
    text = read_text(os.path.join(slurm_run.outdir, "pipeline_info", "software_versions.yml"))
    # The tasks got this test's PATH (sbatch exports the submitting environment).
    samtools = subprocess.run(["samtools", "--version"], capture_output=True, check=True).stdout
    python = subprocess.run(["python3", "--version"], capture_output=True, text=True, check=True).stdout
    assert f"samtools: {samtools.split()[1].decode()}" in text, text
    assert f"pysam: {pysam.__version__}" in text, text
    assert f"python: {python.split()[1]}" in text, text
