"""Remote inputs on the real pipeline, served over http:// by a local server (tests/remote_server.py) that
stands in for https:// and s3://: the driver only asks whether files exist (HEAD), the first task that stages
a file checks its content, each BAM is downloaded once per run (Nextflow's staging) and not again on -resume.

Every count is compared with `samtools view -c` on the local copy of the served file; the server's log of
every request tells what was read and when.
"""

import json
import os
import random
import shlex
import shutil
import socket
import subprocess
import sys

import pysam
import pytest
from conftest import ROOT, assert_refused, expected_count_text, read_text, samtools_count, wait_for
from make_test_data import TEST_CONTIGS, random_pairs, write_bam
from remote_requests import log_time

pytestmark = pytest.mark.pipeline

SERVER = os.path.join(ROOT, "tests", "remote_server.py")
# What the driver may read of a BAM before the tasks' staging starts: a few KB (it reads nothing today).
DRIVER_BYTES = 4096
# Small socket buffers, so that the unread bodies of Nextflow's attribute GETs stay far below a whole file.
SEND_BUFFER = 32768
# The line of .nextflow.log that ends the driver's own work: the workflow body, and so every input check,
# has run; from here on the processes stage their inputs.
IGNITION = "Igniting dataflow network"


class Server:
    def __init__(self, root, log, port):
        self.root, self.log, self.port = root, log, port

    def url(self, name):
        return f"http://127.0.0.1:{self.port}/{name}"

    def mark(self):
        """A position in the log: requests() after it are those of a later run."""
        return len(self.requests())

    def requests(self, since=0, name=None):
        with open(self.log) as handle:
            rows = [json.loads(line) for line in handle][since:]
        return [r for r in rows if name is None or r["path"] == f"/{name}"]


def whole_reads(requests, size):
    """Requests that sent a whole file of `size` bytes (a body-less HEAD sends nothing)."""
    return [r for r in requests if r["method"] == "GET" and r["sent"] >= size]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    log, port_file = root.parent / f"{root.name}.log", root.parent / f"{root.name}.port"
    log.write_text("")
    process = subprocess.Popen(
        [sys.executable, SERVER, "--root", str(root), "--log", str(log), "--port-file", str(port_file),
         "--send-buffer", str(SEND_BUFFER)],
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(port_file.exists, 30, "server port", process)
        yield Server(root, str(log), int(port_file.read_text()))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def served(server):
    """The served files: BAMs beside each kind of index, one without, truncated ones, a BED, a CRAM."""
    root = server.root
    # About 15 MB: far more than the driver may read, and than what an unread GET body of Nextflow's gets sent
    # (the socket buffers, and what Java drains to reuse a connection: up to 3 MB seen).
    bam = write_bam(str(root / "sample.bam"), TEST_CONTIGS, random_pairs(TEST_CONTIGS, 60000, random.Random(5)))
    for name in ["csi.bam", "bai.bam", "noindex.bam"]:
        shutil.copy(bam, root / name)
    pysam.index("-c", str(root / "csi.bam"))  # csi.bam.csi
    shutil.copy(bam + ".bai", root / "bai.bai")  # x.bai beside x.bam
    data = (root / "sample.bam").read_bytes()
    (root / "truncated.bam").write_bytes(data[:-28])  # no BGZF end-of-file block
    shutil.copy(bam + ".bai", root / "truncated.bam.bai")
    (root / "truncated_noindex.bam").write_bytes(data[:-28])
    (root / "badindex.bam").write_bytes(data)
    (root / "badindex.bam.bai").write_text("not an index\n")
    (root / "regions.bed").write_text("chr1\t1000\t5000\ttarget\nchr3:100-200\t0\t50\tcolon\nchr2\t0\t20000\n")
    rng = random.Random(4)
    with open(root / "ref.fa", "w") as handle:
        for name, length in TEST_CONTIGS:
            handle.write(f">{name}\n" + "".join(rng.choice("ACGT") for _ in range(length)) + "\n")
    pysam.view("-C", "-T", str(root / "ref.fa"), "-o", str(root / "sample.cram"), bam, catch_stdout=False)
    pysam.index(str(root / "sample.cram"))  # sample.cram.crai; ref.fa.fai was made by samtools above
    assert (root / "ref.fa.fai").exists()
    return root


def downloads(launch_dir, url):
    """How many times Nextflow's staging copied url into the stage folder, by .nextflow.log."""
    with open(os.path.join(launch_dir, ".nextflow.log")) as handle:
        return sum(f"Copying foreign file {url} to work dir" in line for line in handle)


def assert_read_once(server, since, launch_dir, names):
    """Before the processes start staging, the driver read at most DRIVER_BYTES of each alignment file; in
    the whole run, each was sent whole once at most, by the one download of Nextflow's staging. Returns
    {name: [(requests, bytes) before, (requests, bytes) in all]}."""
    ignition = log_time(os.path.join(launch_dir, ".nextflow.log"), IGNITION)
    figures = {}
    for name in names:
        assert downloads(launch_dir, server.url(name)) == 1, name
        requests = server.requests(since, name)
        before = [r for r in requests if r["start"] < ignition]
        size = os.path.getsize(server.root / name)
        assert sum(r["sent"] for r in before) <= DRIVER_BYTES, before
        assert len(whole_reads(requests, size)) <= 1, requests
        figures[name] = [(len(rows), sum(r["sent"] for r in rows)) for rows in (before, requests)]
    return figures


def test_remote_bam_with_index_is_downloaded_once_and_not_again_on_resume(run_pipeline, server, served, tmp_path):
    launch = tmp_path / "launch"
    since = server.mark()
    run = run_pipeline("--input", server.url("sample.bam"), launch_dir=launch)
    assert run.result.returncode == 0, run.log
    expected = expected_count_text(str(served / "sample.bam"))
    assert read_text(os.path.join(run.outdir, "sample", "sample_count.txt")) == expected
    figures = assert_read_once(server, since, launch, ["sample.bam"])
    assert downloads(launch, server.url("sample.bam.bai")) == 1
    # The driver only asked (HEAD), for the BAM and the index candidates in htslib's order up to the first found.
    driver = [r for r in server.requests(since) if r["start"] < log_time(launch / ".nextflow.log", IGNITION)]
    assert {r["method"] for r in driver} == {"HEAD"}, driver
    assert [r["path"] for r in driver if r["path"] != "/sample.bam"] == [
        "/sample.bam.csi", "/sample.csi", "/sample.bam.bai",
    ]  # fmt: skip
    size = os.path.getsize(served / "sample.bam")
    assert len(whole_reads(server.requests(since, "sample.bam"), size)) == 1  # the staging download
    print("remote BAM figures (requests, bytes) before staging / whole run:", figures)

    since = server.mark()
    rerun = run_pipeline("--input", server.url("sample.bam"), "-resume", launch_dir=launch)
    assert rerun.result.returncode == 0, rerun.log
    assert read_text(os.path.join(rerun.outdir, "sample", "sample_count.txt")) == expected
    assert all(row["status"] == "CACHED" for row in rerun.trace_rows()), rerun.trace_rows()
    assert downloads(launch, server.url("sample.bam")) == downloads(launch, server.url("sample.bam.bai")) == 0
    assert f"Local cache found for foreign file {server.url('sample.bam')}" in read_text(launch / ".nextflow.log")
    requests = server.requests(since, "sample.bam")
    # Nextflow's staging cache compares sizes and mtimes with GETs whose bodies it does not read.
    assert not whole_reads(requests, os.path.getsize(served / "sample.bam")), requests
    assert sum(r["sent"] for r in requests) < os.path.getsize(served / "sample.bam") // 2, requests


def test_remote_samplesheet_of_remote_bams_with_remote_bed(run_pipeline, server, served, tmp_path):
    (served / "sheet.csv").write_text(
        "sample,bam,bai\n"
        f"alpha,{server.url('csi.bam')},\n"  # found beside it: csi.bam.csi
        f"beta,{server.url('bai.bam')},\n"  # bai.bai
        f"gamma,{server.url('noindex.bam')},\n"  # none: SAMTOOLS_INDEX builds one
        f"delta,{server.url('sample.bam')},{server.url('sample.bam.bai')}\n"
    )
    launch = tmp_path / "launch"
    since = server.mark()
    run = run_pipeline("--input", server.url("sheet.csv"), "--regions", server.url("regions.bed"), launch_dir=launch)
    assert run.result.returncode == 0, run.log
    bam = str(served / "sample.bam")
    counts = [samtools_count(bam, "chr1:1001-5000"), samtools_count(bam, "{chr3:100-200}:1-50")]
    counts.append(samtools_count(bam, "chr2:1-20000"))
    expected = f"Region target: {counts[0]}\nRegion colon: {counts[1]}\nRegion chr2:1-20000: {counts[2]}\n"
    expected += f"Total reads: {sum(counts)}\n"
    for sample in ["alpha", "beta", "gamma", "delta"]:
        assert read_text(os.path.join(run.outdir, sample, f"{sample}_count.txt")) == expected, sample
    assert [row["tag"] for row in run.trace_rows() if row["process"] == "SAMTOOLS_INDEX"] == ["gamma"]
    assert_read_once(server, since, launch, ["csi.bam", "bai.bam", "noindex.bam", "sample.bam"])
    # gamma's index is the pipeline's; the others' were found (or given) and staged, each once.
    for name in ["csi.bam.csi", "bai.bai", "sample.bam.bai", "regions.bed"]:
        assert downloads(launch, server.url(name)) == 1, name
    assert downloads(launch, server.url("sheet.csv")) == 0  # read by the driver, a few bytes


def test_remote_cram_with_remote_fasta_and_fai(run_pipeline, server, served, tmp_path):
    launch = tmp_path / "launch"
    since = server.mark()
    run = run_pipeline("--input", server.url("sample.cram"), "--fasta", server.url("ref.fa"), launch_dir=launch)
    assert run.result.returncode == 0, run.log
    expected = expected_count_text(str(served / "sample.cram"), f"-T {shlex.quote(str(served / 'ref.fa'))}")
    assert expected == expected_count_text(str(served / "sample.bam"))
    assert read_text(os.path.join(run.outdir, "sample", "sample_count.txt")) == expected
    assert "SAMTOOLS_FAIDX" not in {row["process"] for row in run.trace_rows()}  # the served .fai is used
    assert_read_once(server, since, launch, ["sample.cram"])
    assert downloads(launch, server.url("ref.fa")) == downloads(launch, server.url("ref.fa.fai")) == 1


def test_missing_remote_bam_or_index_is_named_as_a_local_one(run_pipeline, server, served, tmp_path):
    missing = server.url("nope.bam")
    assert_refused(run_pipeline("--input", missing, outdir=tmp_path / "a"), f"{missing}: file not found")
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        unreachable = f"http://127.0.0.1:{closed.getsockname()[1]}/sample.bam"
        assert_refused(
            run_pipeline("--input", unreachable, outdir=tmp_path / "d"),
            f"{unreachable}: cannot reach the server (ConnectException: Connection refused)",
        )
    local = run_pipeline("--input", str(tmp_path / "nope.bam"), outdir=tmp_path / "b")
    assert_refused(local, f"{tmp_path}/nope.bam: file not found")
    sheet = served / "missing.csv"
    sheet.write_text(f"sample,bam,bai\nx,{server.url('sample.bam')},{server.url('nope.bam.bai')}\n")
    assert_refused(
        run_pipeline("--input", server.url("missing.csv"), outdir=tmp_path / "c"),
        f"{server.url('missing.csv')}: invalid samplesheet: line 2: index not found: {server.url('nope.bam.bai')}",
    )


def test_truncated_remote_bams_and_a_bad_index_are_refused_by_name(run_pipeline, server, served, tmp_path):
    # One group (--max_units 1): its planning task reports every sample's problem, one line each.
    sheet = served / "bad.csv"
    sheet.write_text(f"sample,bam\ntruncated,{server.url('truncated.bam')}\nbadindex,{server.url('badindex.bam')}\n")

    def messages(where):
        return [
            f"{where}/truncated.bam: truncated BAM (no BGZF end-of-file marker)",
            f"{where}/badindex.bam.bai: not a BAI, CSI or CRAI index (unrecognised content), "
            "which cannot index the BAM file badindex.bam (expected .bai or .csi)",
        ]

    run = run_pipeline("--input", server.url("bad.csv"), "--max_units", "1", outdir=tmp_path / "a")
    assert_refused(run, *messages(server.url("")[:-1]))
    assert "COUNT_UNIT" not in {row["process"] for row in run.trace_rows()}
    # The same lines as for local copies, which the driver checks before any task.
    local = tmp_path / "local"
    local.mkdir()
    for name in ["truncated.bam", "badindex.bam", "badindex.bam.bai"]:
        shutil.copy(served / name, local / name)
    (local / "bad.csv").write_text(f"sample,bam\ntruncated,{local}/truncated.bam\nbadindex,{local}/badindex.bam\n")
    run = run_pipeline("--input", str(local / "bad.csv"), outdir=tmp_path / "local_results")
    assert_refused(run, *messages(local))
    # Without an index, SAMTOOLS_INDEX is the first task that has it: it checks it before indexing.
    url = server.url("truncated_noindex.bam")
    run = run_pipeline("--input", url, outdir=tmp_path / "b")
    assert_refused(run, f"[ERROR] {url}: truncated BAM (no BGZF end-of-file marker)")
    assert "[ERROR] truncated_noindex.bam: cannot index" not in run.log  # refused before samtools index ran


def test_without_python3_on_the_driver_the_planning_task_checks_local_inputs(run_pipeline, served, tmp_path):
    """The driver's content checks are bin/input_checks.py's. Where python3 cannot run it on the machine that
    runs Nextflow (here a python3 that fails as a too old one would), the first task makes them, as for remote
    inputs: with the same lines."""
    local = tmp_path / "local"
    local.mkdir()
    for name in ["truncated.bam", "truncated.bam.bai", "badindex.bam", "badindex.bam.bai"]:
        shutil.copy(served / name, local / name)
    (local / "bad.csv").write_text(f"sample,bam\ntruncated,{local}/truncated.bam\nbadindex,{local}/badindex.bam\n")
    fake = tmp_path / "fakebin" / "python3"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/bash\n"
        'if [[ " $* " == *" --driver "* ]]; then echo "SyntaxError: invalid syntax" >&2; exit 1; fi\n'
        f'exec {shutil.which("python3")} "$@"\n'
    )
    fake.chmod(0o755)
    path = f"{fake.parent}{os.pathsep}{os.environ['PATH']}"
    run = run_pipeline("--input", str(local / "bad.csv"), "--max_units", "1", env={"PATH": path})
    assert_refused(
        run,
        "python3 could not check the inputs here (SyntaxError: invalid syntax): "
        "the inputs are checked by the first task that reads them",
        f"{local}/truncated.bam: truncated BAM (no BGZF end-of-file marker)",
        f"{local}/badindex.bam.bai: not a BAI, CSI or CRAI index (unrecognised content), "
        "which cannot index the BAM file badindex.bam (expected .bai or .csi)",
    )
    processes = {row["process"].split(":")[-1] for row in run.trace_rows()}
    assert "PLAN_UNITS" in processes and "COUNT_UNIT" not in processes  # refused by the planning task
