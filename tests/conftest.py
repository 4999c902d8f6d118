"""Shared test helpers: import paths for bin/ and assets/, real samtools and real Nextflow runs."""

import glob
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "bin"), os.path.join(ROOT, "assets")]

from tsv_files import read_tsv  # noqa: E402 (bin/ is on the path from here on)

NEXTFLOW_TIMEOUT_S = 600


def read_text(path):
    with open(path) as handle:
        return handle.read()


def samtools_count(bam, region, samtools_args=""):
    """`samtools view -c` of one region (use '{name}' for whole contigs with ':' in the name)."""
    command = ["samtools", "view", "-c", *shlex.split(samtools_args), bam, region]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    assert result.stderr == "", result.stderr
    return int(result.stdout)


def cram_of(bam, contigs, folder, name="sample"):
    """(CRAM of the BAM, indexed, and its reference): a FASTA of ACGT repeats over the contigs, indexed too."""
    import pysam

    reference = os.path.join(folder, f"{name}.fa")
    with open(reference, "w") as fasta:
        fasta.writelines(f">{contig}\n{'ACGT' * (length // 4)}\n" for contig, length in contigs)
    pysam.faidx(reference)
    cram = os.path.join(folder, f"{name}.cram")
    subprocess.run(["samtools", "view", "-C", "-T", reference, "-o", cram, bam], check=True)
    subprocess.run(["samtools", "index", cram], check=True)
    return cram, reference


def fake_samtools(tmp_path, body):
    """An executable `samtools` in tmp_path: the bash body (which may `exec samtools "$@"`)."""
    path = tmp_path / "samtools"
    path.write_text("#!/bin/bash\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def assert_refused(run, *messages):
    """A run that failed naming every message, and wrote no count file."""
    assert run.result.returncode != 0, run.log
    for message in messages:
        assert message in run.log, run.log
    assert not any(name.endswith("_count.txt") for _, _, files in os.walk(run.outdir) for name in files)


def contig_names(bam):
    import pysam

    with pysam.AlignmentFile(bam) as aln:
        return list(aln.references)


def expected_count_text(bam, samtools_args=""):
    """The count file that samtools itself implies: one line per contig in header order, then the total."""
    counts = [(name, samtools_count(bam, f"{{{name}}}", samtools_args)) for name in contig_names(bam)]
    lines = [f"Region {name}: {count}" for name, count in counts]
    return "\n".join(lines + [f"Total reads: {sum(c for _, c in counts)}"]) + "\n"


class NextflowRun:
    def __init__(self, result, outdir, launch_dir):
        self.result = result
        self.outdir = outdir
        self.launch_dir = launch_dir

    @property
    def log(self):
        return self.result.stdout + self.result.stderr

    def trace_rows(self):
        """Rows of the newest execution trace, as dicts. "process" is the process's own name ('COUNT_UNIT'),
        "qualified_process" the trace's, with the workflows that call it ('REGIONCOUNT:COUNT_UNIT')."""
        traces = sorted(glob.glob(os.path.join(self.outdir, "pipeline_info", "execution_trace_*.txt")))
        assert traces, f"no execution trace under {self.outdir}"
        with open(traces[-1]) as handle:
            rows = read_tsv(handle)
        for row in rows:
            row["qualified_process"] = row["process"]
            row["process"] = row["process"].split(":")[-1]
        return rows


@pytest.fixture(scope="session")
def nextflow_bin():
    path = shutil.which("nextflow")
    if path is None:
        pytest.fail("nextflow is not on PATH: run the tests with `make test`, which sets it up")
    return path


@pytest.fixture
def run_pipeline(nextflow_bin, tmp_path):
    """Run the real pipeline from a launch folder under tmp_path; returns a NextflowRun."""

    def run(*args, outdir=None, launch_dir=None, env=None, profile=None, timeout=NEXTFLOW_TIMEOUT_S):
        launch_dir = str(launch_dir or tmp_path / "launch")
        os.makedirs(launch_dir, exist_ok=True)
        outdir = str(outdir or tmp_path / "results")
        command = pipeline_command(nextflow_bin, outdir, *args, profile=profile)
        result = subprocess.run(
            command, cwd=launch_dir, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
        )
        return NextflowRun(result, outdir, launch_dir)

    return run


def pipeline_command(nextflow_bin, outdir, *args, profile=None):
    return [
        nextflow_bin, "run", ROOT, "-ansi-log", "false", "--outdir", str(outdir), *args,
        *(["-profile", profile] if profile else []),
    ]  # fmt: skip


@pytest.fixture
def start_pipeline(nextflow_bin):
    """Start the real pipeline in the background (its own process group, output to a log file); the
    processes are killed at the end of the test if still running."""
    started = []

    def start(launch_dir, outdir, *args, env=None):
        os.makedirs(launch_dir, exist_ok=True)
        log = open(os.path.join(launch_dir, "run.log"), "w")
        process = subprocess.Popen(
            pipeline_command(nextflow_bin, outdir, *args),
            cwd=launch_dir,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=interruptible,
        )
        started.append((process, log))
        return process

    yield start
    for process, log in started:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait(timeout=30)
        log.close()


def interruptible():
    """SIGINT as a terminal gives it (Ctrl-C). A test suite started in the background (`make test &`, nohup, a
    CI runner's job) inherits SIGINT ignored, and a JVM started so keeps ignoring it: a test's SIGINT would then
    leave the run going on to its end."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def samtools_wrapper(folder, body):
    """A `samtools` placed first on PATH for one test: runs `body`, then the real samtools."""
    folder.mkdir(exist_ok=True)
    script = folder / "samtools"
    script.write_text(f'#!/bin/bash\n{body}\nexec {shutil.which("samtools")} "$@"\n')
    script.chmod(0o755)
    return {"PATH": f"{folder}:{os.environ['PATH']}"}


def wait_for(condition, timeout, what, process=None):
    """Poll condition() every 0.2 s until it is true; fail after timeout seconds or when process ended."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert process is None or process.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.2)
