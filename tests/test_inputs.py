"""Samplesheets, BED regions, CRAM, parameter validation and every kind of bad input, on the real pipeline.

Bad input: a one-line message naming the file and the problem, a non-zero exit, no count file.
"""

import json
import os
import random
import shutil
import subprocess

import pysam
import pytest
from conftest import ROOT, assert_refused, expected_count_text, read_text, samtools_count
from make_test_data import TEST_CONTIGS, Read, random_pairs, write_bam

pytestmark = pytest.mark.pipeline


@pytest.fixture(scope="module")
def bam(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bam")
    return write_bam(str(folder / "sample.bam"), TEST_CONTIGS, random_pairs(TEST_CONTIGS, 1500, random.Random(21)))


# --- parameters ---------------------------------------------------------------------------------


def test_unknown_wrong_type_and_missing_parameters(run_pipeline, bam):
    run = run_pipeline("--input", bam, "--ouptdir", "x", "--max_units", "many", "--split_size", "-1")
    assert_refused(
        run,
        "--ouptdir: unknown parameter (did you mean --outdir?)",
        "--max_units: expected an integer, got 'many'",
        "--split_size: must be at least 0, got -1",
    )
    run = run_pipeline()  # no --input
    assert_refused(run, "--input: missing, required")


def test_removed_resource_caps_are_refused_with_what_replaced_them(run_pipeline, bam):
    run = run_pipeline("--input", bam, "--max_cpus", "4", "--max_memory", "8.GB", "--max-time", "4.h")
    hint = "replaced by process.resourceLimits, set in a config file: e.g. -c caps.config holding " + (
        "process.resourceLimits = [cpus: 4, memory: 8.GB, time: 4.h]"
    )
    names = ("max_cpus", "max_memory", "max_time")
    assert_refused(run, "Invalid parameters (see --help):", *(f"  --{name}: {hint}" for name in names))
    assert "unknown parameter" not in run.log


def test_help_lists_every_schema_parameter(nextflow_bin, tmp_path):
    result = subprocess.run(
        [nextflow_bin, "run", ROOT, "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    with open(os.path.join(ROOT, "nextflow_schema.json")) as handle:
        schema = json.load(handle)
    for group in schema["$defs"].values():
        for name, spec in group["properties"].items():
            assert f"--{name}" in result.stdout and spec["description"] in result.stdout
            if spec["type"] == "integer":  # every integer has its range, which parameterProblems enforces
                assert f"[range: {spec['minimum']}..{spec['maximum']}]" in result.stdout, name


def test_out_of_range_integers_are_refused_before_any_arithmetic(run_pipeline, bam):
    """4294967296 is a Long that `as int` would wrap to 0 (`/ by zero`); a split size of 50 is Mb, not bp."""
    run = run_pipeline(
        "--input", bam, "--units_per_cpu", "4294967296", "--count_cpus", "2000", "--max_units", "100001",
        "--split_size", "50",
    )  # fmt: skip
    assert_refused(
        run,
        "Invalid parameters (see --help):\n"
        "  --count_cpus: must be at most 1024, got 2000\n"
        "  --max_units: must be at most 100000, got 100001\n"
        "  --units_per_cpu: must be at most 1000, got 4294967296\n"
        "  --split_size 50: must be 0 (never split) or at least 1000 bp (did you mean 50000000?)\n",
    )
    assert "by zero" not in run.log


def test_every_schema_parameter_is_documented():
    with open(os.path.join(ROOT, "nextflow_schema.json")) as handle:
        schema = json.load(handle)
    usage = read_text(os.path.join(ROOT, "docs", "usage.md"))
    for group in schema["$defs"].values():
        for name, spec in group["properties"].items():
            assert f"| `--{name}` | {spec['type']} |" in usage, name
            assert spec["description"].replace("|", "\\|") in usage, name
    assert "docs/usage.md" in read_text(os.path.join(ROOT, "README.md"))


def test_schema_defaults_equal_config_defaults(nextflow_bin, tmp_path):
    result = subprocess.run(
        [nextflow_bin, "config", "-flat", ROOT], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    config = {}
    for line in result.stdout.splitlines():
        if line.startswith("params."):
            key, _, value = line.partition(" = ")
            config[key.removeprefix("params.")] = value
    with open(os.path.join(ROOT, "nextflow_schema.json")) as handle:
        schema = json.load(handle)
    properties = {name: spec for group in schema["$defs"].values() for name, spec in group["properties"].items()}
    assert set(properties) == set(config)
    for name, spec in properties.items():
        expected = spec.get("default")
        shown = (
            "null" if expected is None else (f"'{expected}'" if isinstance(expected, str) else str(expected).lower())
        )
        assert config[name] == shown, name


# --- inputs that work -----------------------------------------------------------------------------


def test_samplesheet_with_relative_paths_and_explicit_index(run_pipeline, bam, tmp_path):
    launch = tmp_path / "launch"
    (launch / "data").mkdir(parents=True)
    shutil.copy(bam, launch / "data" / "a.bam")
    shutil.copy(bam + ".bai", launch / "data" / "a.index.bai")
    shutil.copy(bam, launch / "data" / "b.bam")
    (launch / "samples.csv").write_text("sample,bam,bai\nalpha,data/a.bam,data/a.index.bai\nbeta,data/b.bam,\n")
    run = run_pipeline("--input", "samples.csv", launch_dir=launch)
    assert run.result.returncode == 0, run.log
    expected = expected_count_text(bam)
    assert read_text(os.path.join(run.outdir, "alpha", "alpha_count.txt")) == expected
    assert read_text(os.path.join(run.outdir, "beta", "beta_count.txt")) == expected
    assert [row["tag"] for row in run.trace_rows() if row["process"] == "SAMTOOLS_INDEX"] == ["beta"]


def test_bed_regions_pin_the_off_by_one(run_pipeline, tmp_path):
    # BED chr1 1000-2000 is samtools chr1:1001-2000: 0-based [1000, 2000).
    reads = [
        Read("ends_before", 0, "chr1", 900, "100M"),  # covers [900, 1000): outside
        Read("first_base", 0, "chr1", 1000, "100M"),  # starts at the region's first base
        Read("last_base", 0, "chr1", 1999, "100M"),  # starts at its last base
        Read("after", 0, "chr1", 2000, "100M"),  # starts right after: outside
        Read("spans", 0, "chr1", 500, "2000M", length=2000),  # covers the whole region
    ]
    bam = write_bam(str(tmp_path / "pin.bam"), TEST_CONTIGS, reads)
    bed = tmp_path / "regions.bed"
    bed.write_text("chr1\t1000\t2000\ttarget\nchr1\t0\t1000\n# comment\nchr3:100-200\t0\t50\tcolon\n")
    run = run_pipeline("--input", bam, "--regions", str(bed))
    assert run.result.returncode == 0, run.log
    assert samtools_count(bam, "chr1:1001-2000") == 3
    assert read_text(os.path.join(run.outdir, "pin", "pin_count.txt")) == (
        f"Region target: 3\nRegion chr1:1-1000: {samtools_count(bam, 'chr1:1-1000')}\n"
        f"Region colon: {samtools_count(bam, '{chr3:100-200}:1-50')}\nTotal reads: {3 + 2}\n"
    )
    assert read_text(os.path.join(run.outdir, "pin", "pin.counts.tsv")).splitlines()[1] == "target\t1000\t3"


def test_cram_with_fasta_and_missing_fai(run_pipeline, bam, tmp_path):
    rng = random.Random(4)
    fasta = tmp_path / "ref.fa"
    with open(fasta, "w") as handle:
        for name, length in TEST_CONTIGS:
            handle.write(f">{name}\n" + "".join(rng.choice("ACGT") for _ in range(length)) + "\n")
    cram = str(tmp_path / "sample.cram")
    pysam.view("-C", "-T", str(fasta), "-o", cram, bam, catch_stdout=False)
    os.remove(f"{fasta}.fai")  # made by samtools above; the pipeline must make its own
    run = run_pipeline("--input", cram, "--fasta", str(fasta))
    assert run.result.returncode == 0, run.log
    assert read_text(os.path.join(run.outdir, "sample", "sample_count.txt")) == expected_count_text(bam)
    assert "SAMTOOLS_FAIDX" in {row["process"] for row in run.trace_rows()}
    assert_refused(
        run_pipeline("--input", cram, outdir=tmp_path / "nofasta"),
        f"{cram}: CRAM input needs --fasta, the reference it was compressed against",
    )


def test_empty_bam_counts_zero(run_pipeline, tmp_path):
    empty = write_bam(str(tmp_path / "empty.bam"), TEST_CONTIGS, [])
    run = run_pipeline("--input", empty)
    assert run.result.returncode == 0, run.log
    assert (
        read_text(os.path.join(run.outdir, "empty", "empty_count.txt"))
        == "".join(f"Region {name}: 0\n" for name, _ in TEST_CONTIGS) + "Total reads: 0\n"
    )


def test_stale_index_is_rebuilt(run_pipeline, bam, tmp_path):
    stale = shutil.copy(bam, tmp_path / "stale.bam")
    shutil.copy(bam + ".bai", tmp_path / "stale.bam.bai")
    os.utime(tmp_path / "stale.bam.bai", (1_000_000, 1_000_000))
    run = run_pipeline("--input", stale)
    assert run.result.returncode == 0, run.log
    assert f"{stale}.bai is older than {stale}: re-indexing" in run.log
    assert read_text(os.path.join(run.outdir, "stale", "stale_count.txt")) == expected_count_text(bam)


# --- bad inputs -------------------------------------------------------------------------------------


def test_missing_and_non_bam_files(run_pipeline, tmp_path):
    assert_refused(run_pipeline("--input", str(tmp_path / "nope.bam")), f"{tmp_path}/nope.bam: file not found")
    text = tmp_path / "notes.bam"
    text.write_text("not a bam\n")
    assert_refused(run_pipeline("--input", str(text)), f"{text}: not a BAM or CRAM file (unrecognised content)")
    assert_refused(
        run_pipeline("--input", str(tmp_path / "*.cram")), f"{tmp_path}/*.cram: no file matches this pattern"
    )


def test_a_sample_name_from_a_long_file_name_is_refused(run_pipeline, bam, tmp_path):
    """245 characters pass the file system (249 with .bam) but not <sample>.regions.tsv and the like."""
    long = tmp_path / f"{'n' * 245}.bam"
    shutil.copy(bam, long)
    assert_refused(
        run_pipeline("--input", str(long)),
        f"{long}: sample name '{'n' * 40}...' is 245 characters long, more than the 100 a sample name may hold "
        "(it names the sample's files, e.g. <sample>.counts.tsv)",
    )


def test_bam_without_sq_lines(run_pipeline, tmp_path):
    path = str(tmp_path / "nosq.bam")
    with pysam.AlignmentFile(path, "wb", header={"HD": {"VN": "1.6"}}):
        pass
    assert_refused(run_pipeline("--input", path), "nosq.bam: the header has no @SQ lines")


def test_unsorted_bam_without_index(run_pipeline, tmp_path):
    header = {"HD": {"VN": "1.6", "SO": "unsorted"}, "SQ": [{"SN": "chr1", "LN": 10_000}]}
    path = str(tmp_path / "unsorted.bam")
    with pysam.AlignmentFile(path, "wb", header=header) as out:
        for i, pos in enumerate([5000, 100]):
            read = pysam.AlignedSegment(out.header)
            read.query_name, read.reference_id, read.reference_start, read.cigarstring = f"r{i}", 0, pos, "10M"
            read.query_sequence, read.query_qualities = "A" * 10, pysam.qualitystring_to_array("I" * 10)
            out.write(read)
    assert_refused(run_pipeline("--input", path), "unsorted.bam: cannot index: not sorted by coordinate")


@pytest.mark.parametrize(
    "sheet, message",
    [
        ("", "the samplesheet is empty"),
        ("sample,bam\n", "the samplesheet has a header but no samples"),
        ("name,bam\nx,{bam}\n", "missing column sample (header must be sample,bam[,bai], found: name,bam)"),
        ("sample,bam\nx,{bam}\nx,{bam}\n", "line 3: sample 'x' already on line 2 (sample names must be unique)"),
        (
            "sample,bam\nNA12878,{bam}\nna12878,{bam}\n",
            "line 3: sample 'na12878' is 'NA12878' of line 2 in other case (sample names must differ in more than "
            "case: on a case-insensitive file system, such as macOS', they name one folder)",
        ),
        ("sample,bam\nx,missing.bam\n", "line 2: file not found: missing.bam (relative to the launch folder {launch})"),
        (
            f"sample,bam\n{'s' * 101},{{bam}}\n",
            f"line 2: sample name '{'s' * 40}...' is 101 characters long, more than the 100 a sample name may hold "
            "(it names the sample's files, e.g. <sample>.counts.tsv)",
        ),
    ],
    ids=["empty", "header-only", "missing-column", "duplicate", "duplicate-in-other-case", "missing-file", "long-name"],
)
def test_samplesheet_problems(run_pipeline, bam, tmp_path, sheet, message):
    path = tmp_path / "sheet.csv"
    path.write_text(sheet.format(bam=bam))
    run = run_pipeline("--input", str(path))
    assert_refused(run, f"{path}: ", message.format(launch=run.launch_dir))


def test_tsv_and_upper_case_samplesheets_are_samplesheets(run_pipeline, bam, tmp_path):
    """Relative paths are relative to the launch folder (as in nf-core), whatever folder the sheet is in."""
    launch = tmp_path / "launch"
    (launch / "data").mkdir(parents=True)
    (launch / "sheets").mkdir()
    shutil.copy(bam, launch / "data" / "a.bam")
    (launch / "sheets" / "samples.tsv").write_text("sample\tbam\nalpha, the first\tdata/a.bam\n")
    run = run_pipeline("--input", "sheets/samples.tsv", "--skip_multiqc", launch_dir=launch)
    assert_refused(run, "sheets/samples.tsv: invalid samplesheet: line 2: sample name 'alpha, the first' may only")
    (launch / "sheets" / "samples.tsv").write_text("sample\tbam\nalpha\tdata/a.bam\n")
    run = run_pipeline("--input", "sheets/samples.tsv", "--skip_multiqc", launch_dir=launch)
    assert run.result.returncode == 0, run.log
    assert read_text(os.path.join(run.outdir, "alpha", "alpha_count.txt")) == expected_count_text(bam)
    upper = launch / "sheets" / "SHEET.CSV"
    upper.write_text("sample,bam\nbeta,a.bam\n")  # beside the sheet, but not in the launch folder
    assert_refused(
        run_pipeline("--input", str(upper), outdir=tmp_path / "upper", launch_dir=launch),
        f"{upper}: invalid samplesheet: line 2: file not found: a.bam (relative to the launch folder {launch})",
    )


def test_bed_problems_reported_together_before_counting(run_pipeline, bam, tmp_path):
    bed = tmp_path / "targets.bed"
    bed.write_text("chrNope\t0\t10\nchr1\t100\t50\nchr1\tx\t10\nchr1\t0\t10\n")
    run = run_pipeline("--input", bam, "--regions", str(bed))
    assert_refused(
        run,
        "targets.bed: invalid BED: line 2: start 100 is not less than end 50; "
        "line 3: start and end must be non-negative integers, got 'x', '10'",
        "sample.bam: 1 line of targets.bed names contigs not in its header (1 contig: 'chrNope')",  # item 13
    )
    assert "COUNT_UNIT" not in {row["process"] for row in run.trace_rows()}
