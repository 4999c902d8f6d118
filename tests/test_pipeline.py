"""End-to-end runs of the real pipeline (real Nextflow, real samtools) on BAMs written by the tests.

Every count is compared with `samtools view -c` on the same file with the same options.
"""

import glob
import os
import random
import shutil

import pysam
import pytest
from conftest import ROOT, expected_count_text, read_text, samtools_count
from make_test_data import Read, random_pairs, write_bam
from tsv_files import read_tsv

pytestmark = pytest.mark.pipeline

# Names a shell or a region parser would mangle: ':' ',' '*' and shell metacharacters.
TRICKY_CONTIGS = [
    ("chr1", 120_000),
    ("chr1:100-200", 30_000),
    ("HLA-A*01:01:01:01", 3_503),
    ("chrUn,alt", 6_000),
    ("x$y;z&w|v'q`", 4_000),
    ("chrEmpty", 5_000),
    ("chrM", 16_569),
]


@pytest.fixture(scope="module")
def tricky_bam(tmp_path_factory):
    """Paired reads with duplicates, secondary, supplementary, placed-unmapped and fully unmapped records."""
    folder = tmp_path_factory.mktemp("tricky")
    reads = random_pairs(TRICKY_CONTIGS, 2500, random.Random(11))
    kinds = {flag for read in reads for flag in (0x4, 0x100, 0x400, 0x800) if read.flag & flag}
    assert kinds == {0x4, 0x100, 0x400, 0x800}
    assert any(r.contig is None for r in reads) and any(r.flag & 0x4 and r.contig for r in reads)
    return write_bam(str(folder / "tricky.bam"), TRICKY_CONTIGS, reads, seed=11)


def assert_counts_match_samtools(run, sample, bam, samtools_args=""):
    assert run.result.returncode == 0, run.log
    expected = expected_count_text(bam, samtools_args)
    assert read_text(os.path.join(run.outdir, sample, f"{sample}_count.txt")) == expected
    table = read_text(os.path.join(run.outdir, sample, f"{sample}.counts.tsv")).splitlines()
    with pysam.AlignmentFile(bam) as aln:
        lengths = dict(zip(aln.references, aln.lengths))
    counts = [line.removeprefix("Region ").rsplit(": ", 1) for line in expected.splitlines()[:-1]]
    assert table == ["region\tlength\tcount"] + [f"{name}\t{lengths[name]}\t{count}" for name, count in counts]


@pytest.mark.parametrize(
    "plan",
    [[], ["--split_size", "7000", "--max_units", "3", "--units_per_cpu", "16", "--min_unit_reads", "0"]],
    ids=["default", "chunked"],
)
def test_counts_equal_samtools_for_tricky_names(run_pipeline, tricky_bam, plan):
    run = run_pipeline("--input", tricky_bam, *plan)
    assert_counts_match_samtools(run, "tricky", tricky_bam)
    processes = [row["process"] for row in run.trace_rows()]
    assert processes.count("PLAN_UNITS") == 1 and processes.count("REDUCE_COUNTS") == 1
    # Default: a small BAM is worth one counting task (--min_unit_reads); chunked: exactly the bound.
    assert processes.count("COUNT_UNIT") == (3 if plan else 1)


@pytest.mark.parametrize(
    ("local_cpus", "options", "expected_tasks"),
    [(3, [], 3), (3, ["--units_per_cpu", "2"], 6), (4, ["--count_cpus", "2"], 2)],
    ids=["1-per-cpu", "2-per-cpu", "1-per-2-cpu-task"],
)
def test_local_executor_bounds_tasks_by_its_cpus(
    run_pipeline, tricky_bam, tmp_path, local_cpus, options, expected_tasks
):
    """Locally a sample gets at most units_per_cpu tasks per task slot (executor CPUs / count_cpus)."""
    config = tmp_path / "cpus.config"
    config.write_text(f"executor.cpus = {local_cpus}\n")
    run = run_pipeline(
        "--input", tricky_bam, "-c", str(config), "--split_size", "7000", "--min_unit_reads", "0", *options
    )
    assert_counts_match_samtools(run, "tricky", tricky_bam)
    assert [row["process"] for row in run.trace_rows()].count("COUNT_UNIT") == expected_tasks


def test_samtools_args_filters(run_pipeline, tricky_bam):
    args = "-F 0x904 -q 20"
    run = run_pipeline("--input", tricky_bam, "--samtools_args", args, "--split_size", "10000")
    assert_counts_match_samtools(run, "tricky", tricky_bam, args)
    assert samtools_count(tricky_bam, "chr1", args) < samtools_count(tricky_bam, "chr1")


def test_glob_of_bams_without_index_and_with_x_bai(run_pipeline, tricky_bam, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(tricky_bam, data / "noindex.bam")
    shutil.copy(tricky_bam, data / "shortbai.bam")
    shutil.copy(tricky_bam + ".bai", data / "shortbai.bai")
    run = run_pipeline("--input", str(data / "*.bam"))
    for sample in ("noindex", "shortbai"):
        assert_counts_match_samtools(run, sample, tricky_bam)
    indexed = [row["tag"] for row in run.trace_rows() if row["process"] == "SAMTOOLS_INDEX"]
    assert indexed == ["noindex"]
    versions = read_text(os.path.join(run.outdir, "pipeline_info", "software_versions.yml"))
    assert "samtools: 1.16.1" in versions and "pysam: 0.22.1" in versions and "Nextflow: " in versions


@pytest.fixture
def two_contig_bam(tmp_path):
    contigs = [("chrA", 200_000), ("chrB", 200_000)]
    rng = random.Random(5)
    reads = [Read(f"r{i}", 0, "chrA" if i < 3000 else "chrB", rng.randrange(0, 199_000), "100M") for i in range(6000)]
    return write_bam(str(tmp_path / "good.bam"), contigs, reads)


def damaged_copy(bam, folder, name, damage):
    """A copy of bam (with its index) whose bytes were changed by damage(bytes) -> bytes."""
    folder.mkdir(exist_ok=True)
    with open(bam, "rb") as handle:
        data = handle.read()
    (folder / name).write_bytes(damage(data))
    shutil.copy(bam + ".bai", folder / f"{name}.bai")
    return str(folder / name)


def test_corruption_inside_a_region_fails_naming_the_region(run_pipeline, two_contig_bam, tmp_path):
    def corrupt_late_block(data):
        at = int(len(data) * 0.75)  # inside chrB's compressed blocks; the EOF marker stays intact
        return data[:at] + bytes(256) + data[at + 256 :]

    broken = damaged_copy(two_contig_bam, tmp_path / "data", "broken.bam", corrupt_late_block)
    run = run_pipeline("--input", broken)
    assert run.result.returncode != 0
    assert "sample 'broken': 1 of 2 regions failed; no count file written" in run.log
    assert "region 'chrB': samtools exited with status 1:" in run.log
    assert "region 'chrA'" not in run.log
    assert not os.path.exists(os.path.join(run.outdir, "broken", "broken_count.txt"))


def test_resume_reruns_nothing(run_pipeline, tricky_bam, tmp_path):
    first = run_pipeline("--input", tricky_bam, "--split_size", "20000")
    assert first.result.returncode == 0, first.log
    before = read_text(os.path.join(first.outdir, "tricky", "tricky_count.txt"))
    second = run_pipeline("--input", tricky_bam, "--split_size", "20000", "-resume")
    assert second.result.returncode == 0, second.log
    statuses = {row["status"] for row in second.trace_rows()}
    assert statuses == {"CACHED"}, second.trace_rows()
    assert read_text(os.path.join(second.outdir, "tricky", "tricky_count.txt")) == before


def test_test_profile(run_pipeline, tmp_path):
    run = run_pipeline(profile="test")
    for sample in ("test1", "test2"):
        bam = shutil.copy(os.path.join(ROOT, "assets", "test-data", f"{sample}.bam"), tmp_path)
        pysam.index(bam)  # test2.bam ships without an index: samtools needs one for the reference counts
        assert_counts_match_samtools(run, sample, bam)


def test_chunk_boundaries_count_every_read_once(run_pipeline, tmp_path):
    """Reads of 100 bp to 20 kb start just before, at and after every chunk boundary; unmapped mates sit
    on the boundaries. 100 kb split in 5 kb chunks: the chunks must add up to samtools view -c."""
    contigs = [("chrBig", 100_000), ("chr:small", 30_000)]
    rng = random.Random(17)
    reads = []
    for boundary in range(5_000, 100_000, 5_000):
        for offset in (-2, -1, 0, 1):
            for span in (100, 1_000, 7_500, 20_000):
                pos = boundary + offset - (span // 2 if rng.random() < 0.5 else 0)
                if 0 <= pos and pos + span <= 100_000:
                    reads.append(Read(f"b{boundary}_{offset}_{span}", 0, "chrBig", pos, f"{span}M", length=span))
        reads.append(Read(f"u{boundary}", 0x1 | 0x4, "chrBig", boundary - 1, None, 0, "chrBig", boundary - 1))
        reads.append(Read(f"v{boundary}", 0x1 | 0x4, "chrBig", boundary, None, 0, "chrBig", boundary))
    for i in range(300):
        span = rng.choice([100, 150, 5_000, 20_000])
        reads.append(Read(f"s{i}", 0, "chr:small", rng.randrange(0, 30_000 - span), f"{span}M", length=span))
    bam = write_bam(str(tmp_path / "spans.bam"), contigs, reads)
    run = run_pipeline(
        "--input", bam, "--split_size", "5000", "--max_units", "4", "--units_per_cpu", "16", "--min_unit_reads", "0"
    )
    assert_counts_match_samtools(run, "spans", bam)
    assert "--split_size 5000 is in bp: did you mean 5000000000?" in run.log  # allowed, but Mb is likelier
    regions = glob.glob(os.path.join(run.launch_dir, "work", "*", "*", "regions", "spans.regions.tsv"))
    with open(regions[0]) as handle:
        items = {row["name"]: row["items"] for row in read_tsv(handle)}
    assert items["chrBig"] == "20"
    assert [row["process"] for row in run.trace_rows()].count("COUNT_UNIT") == 4


def test_stub_run_exercises_the_wiring(run_pipeline):
    """-stub: every process runs its stub block; the outputs land where real ones would."""
    run = run_pipeline("-stub", profile="test")
    assert run.result.returncode == 0, run.log
    processes = {row["process"] for row in run.trace_rows()}
    assert processes == {"SAMTOOLS_INDEX", "PLAN_UNITS", "COUNT_UNIT", "REDUCE_COUNTS", "COUNTS_MATRIX", "MULTIQC"}
    for path in ("test1/test1_count.txt", "test2/test2.counts.tsv", "counts_matrix.tsv", "multiqc/multiqc_report.html"):
        assert os.path.exists(os.path.join(run.outdir, path)), path
