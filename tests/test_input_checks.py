"""bin/input_checks.py: the checks of a staged remote input, on real BAM, CRAM and index files; and the
htslib warning about a staged index's age, which count_unit.py must not take for a counting failure."""

import gzip
import json
import os
import random
import shutil
import subprocess
import sys

import input_checks as ic
import pysam
import pytest
import samtools_pipes as pipes
from conftest import ROOT
from make_test_data import TEST_CONTIGS, random_pairs, write_bam

SCRIPT = os.path.join(ROOT, "bin", "input_checks.py")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checks")
    bam = write_bam(str(folder / "s.bam"), TEST_CONTIGS, random_pairs(TEST_CONTIGS, 300, random.Random(3)))
    shutil.copy(bam, folder / "c.bam")
    pysam.index("-c", str(folder / "c.bam"))
    rng = random.Random(2)
    with open(folder / "ref.fa", "w") as handle:
        for name, length in TEST_CONTIGS:
            handle.write(f">{name}\n" + "".join(rng.choice("ACGT") for _ in range(length)) + "\n")
    pysam.view("-C", "-T", str(folder / "ref.fa"), "-o", str(folder / "s.cram"), bam, catch_stdout=False)
    pysam.index(str(folder / "s.cram"))
    (folder / "regions.bed").write_text("chr1\t0\t100\n")
    pysam.tabix_index(str(folder / "regions.bed"), preset="bed")  # regions.bed.gz + .tbi
    (folder / "truncated.bam").write_bytes((folder / "s.bam").read_bytes()[:-28])
    (folder / "empty.bam").write_bytes(b"")
    (folder / "notes.bam").write_text("not a bam\n")
    (folder / "dir.bam").mkdir()
    return folder


def test_formats_and_index_kinds_from_the_bytes(files):
    assert ic.alignment_format(ic.read_head(files / "s.bam")) == "bam"
    assert ic.alignment_format(ic.read_head(files / "s.cram")) == "cram"
    assert ic.alignment_format(ic.read_head(files / "regions.bed.gz")) is None  # bgzip, but not BAM
    assert ic.alignment_format(b"not a bam\n") is None
    kinds = ["s.bam.bai", "c.bam.csi", "s.cram.crai", "regions.bed.gz.tbi", "s.bam", "notes.bam"]
    assert [ic.index_kind(ic.read_head(files / name)) for name in kinds] == ["bai", "csi", "crai", "tbi", None, None]


@pytest.mark.parametrize(
    "name, problem",
    [
        ("s.bam", None),
        ("s.cram", None),
        ("truncated.bam", "URL: truncated BAM (no BGZF end-of-file marker)"),
        ("empty.bam", "URL: not a BAM or CRAM file (empty file)"),
        ("notes.bam", "URL: not a BAM or CRAM file (unrecognised content)"),
        ("dir.bam", "URL: not a BAM or CRAM file (a folder)"),
    ],
)
def test_alignment_problems_name_the_users_file(files, name, problem):
    assert ic.input_problem(str(files / name), "URL") == problem


def test_index_problems_and_cram_without_reference(files):
    bam, cram = str(files / "s.bam"), str(files / "s.cram")
    assert ic.input_problem(bam, "B", str(files / "c.bam.csi"), "I", "s.bam") is None
    assert ic.input_problem(cram, "C", str(files / "s.cram.crai"), "I", "s.cram") is None
    assert ic.input_problem(cram, "C", str(files / "s.bam.bai"), "I", "s.cram") == (
        "I: a BAI index, which cannot index the CRAM file s.cram (expected .crai)"
    )
    assert ic.input_problem(bam, "B", str(files / "regions.bed.gz.tbi"), "I", "s.bam") == (
        "I: a TBI index, which cannot index the BAM file s.bam (expected .bai or .csi)"
    )
    empty = files / "empty.bai"
    empty.write_bytes(b"")
    assert ic.input_problem(bam, "B", str(empty), "I", "s.bam") == (
        "I: empty index file (0 bytes): remove it (the pipeline then builds one) or give a valid index"
    )
    assert ic.input_problem(cram, "C", has_reference=False) == (
        "C: CRAM input needs --fasta, the reference it was compressed against"
    )


def test_command_line_exit_codes_and_one_line(files):
    def run(name):
        command = [sys.executable, SCRIPT, "--alignments", str(files / name), f"--name=-http://h/{name}"]
        return subprocess.run(command, capture_output=True, text=True)

    good, bad = run("s.bam"), run("truncated.bam")
    assert (good.returncode, good.stderr) == (0, "")
    assert (bad.returncode, bad.stderr) == (
        2,
        "[ERROR] -http://h/truncated.bam: truncated BAM (no BGZF end-of-file marker)\n",
    )


def test_staged_index_older_than_its_bam_is_not_a_counting_failure(files, tmp_path):
    # A staged pair whose index was downloaded first: htslib warns, and counts right.
    bam = shutil.copy(files / "s.bam", tmp_path / "s.bam")
    index = shutil.copy(files / "s.bam.bai", tmp_path / "s.bam.bai")
    os.utime(index, (1_000_000, 1_000_000))
    result = subprocess.run(["samtools", "view", "-c", bam, "chr1"], capture_output=True, text=True)
    assert result.stderr.startswith("[W::hts_idx_load3] The index file is older than the data file"), result.stderr
    assert pipes.check_exit(result, "chr1") == ""
    other = subprocess.CompletedProcess(result.args, 0, "", result.stderr + "[E::other] a real error\n")
    assert pipes.check_exit(other, "chr1") == "samtools reported an error: [E::other] a real error"
    with pysam.AlignmentFile(bam, index_filename=index) as aln:  # plan_units.py reads it through pysam
        assert aln.count("chr1") == int(result.stdout)


def test_plan_units_checks_the_remote_samples_of_its_group(files, tmp_path):
    # The manifest PLAN_UNITS writes: check_name and index_check_name are set for remote inputs only.
    notes = tmp_path / "notes.bai"
    notes.write_text("not an index\n")
    rows = [
        ["good", files / "s.bam", files / "s.bam.bai", "s.bam", "https://h/s.bam", "https://h/s.bam.bai"],
        ["cut", files / "truncated.bam", files / "s.bam.bai", "truncated.bam", "https://h/truncated.bam", ""],
        ["badindex", files / "s.bam", notes, "b.bam", "https://h/b.bam", "https://h/b.bam.bai"],
        ["local", files / "s.bam", files / "s.bam.bai", "s.bam", "", ""],
    ]
    header = ["sample", "alignments", "index", "file_name", "check_name", "index_check_name"]

    def plan(selected, outdir):
        manifest = tmp_path / f"{outdir}.tsv"
        manifest.write_text("\n".join("\t".join(map(str, row)) for row in [header, *selected]) + "\n")
        script = os.path.join(ROOT, "bin", "plan_units.py")
        command = [sys.executable, script, "--samples", str(manifest), "--outdir", str(tmp_path / outdir)]
        return subprocess.run(command, capture_output=True, text=True)

    bad = plan(rows, "bad")
    assert (bad.returncode, bad.stderr) == (
        2,
        "[ERROR] https://h/truncated.bam: truncated BAM (no BGZF end-of-file marker)\n"
        "https://h/b.bam.bai: not a BAI, CSI or CRAI index (unrecognised content), "
        "which cannot index the BAM file b.bam (expected .bai or .csi)\n",
    )
    assert not (tmp_path / "bad" / "units").exists()
    good = plan([rows[0], rows[3]], "good")
    assert good.returncode == 0, good.stderr
    assert sorted(os.listdir(tmp_path / "good" / "regions")) == ["good.regions.tsv", "local.regions.tsv"]


def test_the_drivers_questions_answered_in_order_through_the_command_line(files):
    """--driver: what the Nextflow driver asks of a run's local inputs (and of remote ones, by name) in one call."""
    bam, cram = str(files / "s.bam"), str(files / "s.cram")
    plain = files / "plain.fa.gz"
    with gzip.open(plain, "wt") as handle:  # gzip, not bgzip: samtools faidx cannot index it
        handle.write(">chr1\nACGT\n")
    requests = [
        {"alignments": bam, "name": "s.bam", "shown": "B", "has_reference": False, "index": str(files / "c.bam.csi")},
        {"alignments": str(files / "truncated.bam"), "name": "truncated.bam", "shown": "T", "has_reference": True},
        {"alignments": cram, "name": "s.cram", "shown": "C", "has_reference": False},
        {"alignments": cram, "name": "s.cram", "shown": "C", "has_reference": True, "index": bam, "shown_index": "I"},
        {"alignments": None, "name": "far.cram", "shown": "https://h/far.cram", "has_reference": True},
        {"fasta": str(files / "ref.fa"), "shown": "--fasta ref.fa"},
        {"fasta": str(plain), "shown": "--fasta plain.fa.gz"},
        {"fasta": str(files / "regions.bed.gz"), "shown": "--fasta regions.bed.gz"},
        {"fasta": None, "shown": "--fasta https://h/ref.fa.gz"},
    ]
    command = [sys.executable, SCRIPT, "--driver"]
    result = subprocess.run(command, input=json.dumps(requests), capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (0, "")

    def answer(fmt, problem=None, reference=None, index=None):
        return {"format": fmt, "problem": problem, "reference_problem": reference, "index_problem": index}

    assert json.loads(result.stdout) == [
        answer("bam"),
        answer("bam", "T: truncated BAM (no BGZF end-of-file marker)"),
        answer("cram", reference="C: CRAM input needs --fasta, the reference it was compressed against"),
        answer(
            "cram",
            index="I: not a BAI, CSI or CRAI index (unrecognised content), which cannot index the CRAM "
            "file s.cram (expected .crai)",
        ),
        answer("cram"),
        {"problem": None, "bgzipped": False},
        {
            "problem": "--fasta plain.fa.gz: compressed with gzip, which samtools cannot index: use bgzip (or an "
            "uncompressed FASTA)",
            "bgzipped": False,
        },
        {"problem": None, "bgzipped": True},
        {"problem": None, "bgzipped": True},
    ]


def test_is_bgzf_tells_bgzip_from_gzip(files):
    assert ic.is_bgzf(ic.read_head(files / "s.bam"))
    assert ic.is_bgzf(ic.read_head(files / "regions.bed.gz"))
    assert not ic.is_bgzf(gzip.compress(b">chr1\nACGT\n"))
    assert not ic.is_bgzf(b"not gzip at all")
