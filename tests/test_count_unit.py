"""Unit tests for bin/count_unit.py, counting with the real samtools on BAMs written here."""

import os
import random
import stat
import subprocess

import count_unit as cu
import pysam
import pytest
from conftest import samtools_count
from make_test_data import Read, write_bam

CONTIGS = [("chr1", 50_000), ("chr1:100-200", 5_000), ("x$y;z&w|v'q", 3_000), ("empty", 1_000)]


def varied_reads(rng, n=3000):
    """Reads of 20 bp to 5 kb on the reference (deletions, skips, clips), unmapped ones placed at a mate."""
    reads = []
    for i in range(n):
        contig, length = rng.choice(CONTIGS[:3])
        pos = rng.randrange(0, length - 10)
        if rng.random() < 0.1:
            reads.append(Read(f"u{i}", 0x1 | 0x4, contig, pos, None, 0, contig, pos))
            continue
        match = rng.randint(10, 100)
        cigar = rng.choice(
            [
                f"{match}M",
                f"5S{match}M",
                f"{match}M{rng.randint(1, 50)}D10M",
                f"10M{rng.randint(100, 4000)}N{match}M",
                f"{match}M3I10M2S",
            ]
        )
        reads.append(
            Read(
                f"r{i}",
                rng.choice([0, 0x10, 0x100, 0x400, 0x800]),
                contig,
                pos,
                cigar,
                rng.randint(0, 60),
                length=sum(int(n) for n, op in cu.CIGAR_OP.findall(cigar) if op in "MIS=X"),
            )
        )
    return reads


@pytest.fixture(scope="module")
def bam(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("bam") / "varied.bam")
    return write_bam(path, CONTIGS, varied_reads(random.Random(7)))


def item(contig, start, end, mode, whole=False, region_id="1"):
    return cu.Item(region_id, contig, start, end, whole, mode)


def run(items, bam, tmp_path, samtools_args="", samtools="samtools"):
    return cu.count_unit(items, samtools, bam, bam + ".bai", None, 0, samtools_args, str(tmp_path))


def test_reference_end_matches_htslib(bam):
    with pysam.AlignmentFile(bam) as aln:
        for segment in aln.fetch(until_eof=True):
            expected = segment.reference_end if not segment.is_unmapped else segment.reference_start + 1
            assert cu.reference_end(segment.reference_start, segment.flag, segment.cigarstring or "*") == expected


def test_region_strings_never_parse_names_as_ranges():
    assert cu.region_string(item("chr1:100-200", 0, 5000, "single", whole=True)) == "{chr1:100-200}"
    assert cu.region_string(item("chr1:100-200", 9, 20, "single")) == "{chr1:100-200}:10-20"


def test_split_user_args_extracts_expressions_and_drops_count():
    assert cu.split_user_args("-F 0x904 -c -q 20 -e 'mapq > 5' --expr=flag.paired") == (
        ["-F", "0x904", "-q", "20"],
        ["mapq > 5", "flag.paired"],
    )
    assert cu.filter_expression(["mapq > 5"], starts_before=10) == "(mapq > 5) && pos <= 10"
    assert cu.filter_expression([]) == ""


@pytest.mark.parametrize("samtools_args", ["", "-F 0x904 -q 20", "-e 'mapq >= 30'"])
def test_every_mode_equals_samtools_view_c(bam, tmp_path, samtools_args):
    intervals = [
        ("chr1", 0, 50_000, True),
        ("chr1", 999, 2000, False),
        ("chr1", 1500, 1501, False),
        ("chr1:100-200", 0, 5000, True),
        ("chr1:100-200", 10, 400, False),
        ("x$y;z&w|v'q", 0, 3000, True),
        ("x$y;z&w|v'q", 2999, 3000, False),
        ("empty", 0, 1000, True),
    ]
    for mode in ("single", "batch"):
        items = [item(c, s, e, mode, whole) for c, s, e, whole in intervals]
        outcomes = run(items, bam, tmp_path, samtools_args)
        for it, outcome in zip(items, outcomes):
            region = cu.region_string(it)
            assert (outcome.status, outcome.count) == ("ok", samtools_count(bam, region, samtools_args)), (mode, region)


@pytest.mark.parametrize("samtools_args", ["", "-F 0x4", "-e 'mapq >= 20'"])
@pytest.mark.parametrize("first, last", [(0, 50_000), (1_234, 40_321)], ids=["whole-contig", "sub-region"])
def test_pieces_add_up_to_the_region(bam, tmp_path, samtools_args, first, last):
    bounds = [*range(first, last, 997), last]
    pieces = [item("chr1", a, b, "single" if a == first else "chunk") for a, b in zip(bounds, bounds[1:])]
    outcomes = run(pieces, bam, tmp_path, samtools_args)
    assert all(o.status == "ok" for o in outcomes)
    region = "chr1" if (first, last) == (0, 50_000) else f"chr1:{first + 1}-{last}"
    assert sum(o.count for o in outcomes) == samtools_count(bam, region, samtools_args)


def test_overlap_counting_of_adjacent_ranges_double_counts(bam, tmp_path):
    bounds = [*range(0, 50_000, 997), 50_000]
    # Overlap counting of the same ranges counts reads that span a boundary more than once.
    overlap = [item("chr1", a, b, "single") for a, b in zip(bounds, bounds[1:])]
    assert sum(o.count for o in run(overlap, bam, tmp_path)) > samtools_count(bam, "chr1")


def test_samtools_error_output_fails_the_item_with_its_message(bam, tmp_path):
    outcomes = run([item("chr1", 0, 50_000, "single", True), item("nope", 0, 10, "single", True)], bam, tmp_path)
    assert outcomes[0].status == "ok"
    assert outcomes[1].status == "error"
    assert 'region "{nope}" specifies an invalid region or unknown reference' in outcomes[1].message


def fake_samtools(tmp_path, body):
    path = tmp_path / "samtools"
    path.write_text("#!/bin/bash\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_killed_samtools_is_retryable(bam, tmp_path):
    samtools = fake_samtools(tmp_path, "echo Killed >&2; exit 137")
    with pytest.raises(cu.RetryableFailure) as failure:
        run([item("chr1", 0, 10, "single")], bam, tmp_path, samtools=samtools)
    assert failure.value.exit_code == 137


def test_main_writes_results_and_returns_retry_status(bam, tmp_path):
    unit = tmp_path / "unit_0001.tsv"
    unit.write_text(
        "region_id\tcontig\tstart\tend\twhole\tmode\n1\tchr1\t0\t50000\t1\tbatch\n2\tempty\t0\t1000\t1\tsingle\n"
    )
    out = tmp_path / "unit_0001.result.tsv"
    assert cu.main(["--alignments", bam, "--index", bam + ".bai", "--unit", str(unit), "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].split("\t") == cu.RESULT_COLUMNS
    assert lines[1:] == [
        f"1\tchr1\t0\t50000\tbatch\t{samtools_count(bam, 'chr1')}\tok\t",
        "2\tempty\t0\t1000\tsingle\t0\tok\t",
    ]
    os.remove(out)
    samtools = fake_samtools(tmp_path, "exit 140")
    assert cu.main(["--alignments", bam, "--unit", str(unit), "--out", str(out), "--samtools", samtools]) == 140
    assert not out.exists()


def test_harmless_cram_warning_is_not_a_failure():
    result = subprocess.CompletedProcess([], 0, "", "[W::hts_itr_multi_cram] No index entry for region 5:0-10000\n")
    assert cu.check_exit(result, "x") == ""
    result.stderr += '[main_samview] region "x" specifies an invalid region or unknown reference. Continue anyway.\n'
    assert cu.check_exit(result, "x").startswith("samtools reported an error: [main_samview] region")


def test_adjacent_ranges_in_one_call_double_count_without_multi_region_iterator(bam):
    """Why batches use -M: without it samtools counts a read spanning two listed ranges twice."""
    ranges = ["chr1:1-10000", "chr1:10001-20000"]

    def view_c(*options):
        return int(pysam.view("-c", *options, bam, *ranges))

    merged = samtools_count(bam, "chr1:1-20000")
    assert view_c("-M") == merged
    assert view_c() > merged


def test_failed_batch_is_recounted_item_by_item(bam, tmp_path):
    """A batch pass that fails (here: a samtools that fails multi-region calls) does not fail every item."""
    samtools = fake_samtools(
        tmp_path,
        'if [[ " $* " == *" -M "* ]]; then echo "[E::bgzf_read] bad block" >&2; exit 1; fi\nexec samtools "$@"',
    )
    items = [item("chr1", 0, 50_000, "batch", True), item("empty", 0, 1_000, "batch", True, region_id="2")]
    outcomes = run(items, bam, tmp_path, samtools=samtools)
    assert [(o.status, o.count) for o in outcomes] == [("ok", samtools_count(bam, "chr1")), ("ok", 0)]
