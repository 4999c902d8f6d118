"""Unit tests for bin/plan_units.py: regions, BED parsing, splitting, batching and unit packing."""

import gzip
import math
import os
import pathlib
import random
import shutil
import subprocess
import sys

import count_unit
import plan_units as pu
import pysam
import pytest
import reduce_counts
import task_files
from conftest import ROOT, cram_of, expected_count_text, fake_samtools, read_tsv, samtools_count
from make_test_data import TEST_CONTIGS, Read, random_pairs, write_bam

LENGTHS = dict(TEST_CONTIGS)
SCRIPT = os.path.join(ROOT, "bin", "plan_units.py")
# Contigs whose names look like BED header lines, and one that does not.
HEADERISH = [("track1", 5_000), ("browser.alt", 5_000), ("#hash", 5_000), ("chr1", 20_000)]
BED_TEXT = (
    "track name=targets description='header lines first'\n"
    "browser position chr1:1-1000\n"
    "#chrom\tstart\tend\tname\n"
    "\n"
    "track1\t0\t5000\tall_of_track1\n"
    "browser.alt\t99\t2000\t.\t0\t+\n"
    "# a comment between data lines\n"
    "#hash\t10\t2000\n"
    "chr1\t0\t15000\tbusy\r\n"
)
BED_REGIONS = [
    ("all_of_track1", "track1", 0, 5000),
    ("browser.alt:100-2000", "browser.alt", 99, 2000),
    ("#hash:11-2000", "#hash", 10, 2000),
    ("busy", "chr1", 0, 15000),
]


def test_header_regions_keep_header_order_and_names():
    regions = pu.header_regions([("chr2", 10), ("chr1:1-5", 20), ("HLA-A*01:01", 30)])
    assert [(r.region_id, r.name, r.start, r.end) for r in regions] == [
        (1, "chr2", 0, 10),
        (2, "chr1:1-5", 0, 20),
        (3, "HLA-A*01:01", 0, 30),
    ]


def test_bed_regions_names_and_one_based_default_names():
    lines = ["chr1\t0\t100\tfirst\n", "# comment\n", "\n", "chr3:100-200\t9\t20\n"]
    regions = pu.bed_regions(lines, LENGTHS, "x.bed")
    assert [(r.name, r.contig, r.start, r.end) for r in regions] == [
        ("first", "chr1", 0, 100),
        ("chr3:100-200:10-20", "chr3:100-200", 9, 20),
    ]


def test_bed_problems_are_reported_together_with_line_numbers():
    lines = ["chrNope\t0\t10\n", "chr1\t50\t50\n", "chr1\tten\t20\n", "chr1\t0\n", "chr1\t0\t10\n"]
    with pytest.raises(pu.InputError) as err:
        pu.bed_regions(lines, LENGTHS, "targets.bed")
    message = str(err.value)
    assert message.startswith("targets.bed: invalid BED: ")
    # The BED's own problems on one line, then the contigs the alignments file lacks on another (item 13).
    assert message.endswith("\nthe BAM: 1 line of targets.bed names contigs not in its header (1 contig: 'chrNope')")
    assert "line 2: start 50 is not less than end 50" in message
    assert "line 3: start and end must be non-negative integers, got 'ten', '20'" in message
    assert "line 4: expected at least 3 tab-separated columns, got 2" in message
    assert "line 5" not in message


def test_header_like_lines_are_data_when_their_first_field_is_a_contig():
    regions = pu.bed_regions(BED_TEXT.splitlines(keepends=True), dict(HEADERISH), "t.bed")
    assert [(r.name, r.contig, r.start, r.end) for r in regions] == BED_REGIONS


@pytest.mark.parametrize(
    "line",
    ["track name=x\n", "track\t0\t10\n", "browser hide all\n", "browserX\t0\t10\n", "#chr1\t0\t10\n", " \t\n", "\n"],
)
def test_header_and_blank_lines_are_skipped_when_their_first_field_is_not_a_contig(line):
    regions = pu.bed_regions([line, "chr1\t0\t10\n"], dict(HEADERISH), "t.bed")
    assert [(r.region_id, r.contig, r.start, r.end) for r in regions] == [(1, "chr1", 0, 10)]


def test_bed6_name_dot_means_no_name():
    lines = ["chr1\t0\t10\t.\t0\t+\n", "chr1\t10\t20\t\t0\t-\n", "chr1\t20\t30\n", "chr1\t30\t40\t.x\n"]
    lines.append("chr1\t4\t9\t .\n")
    regions = pu.bed_regions(lines, LENGTHS, "t.bed")
    assert [r.name for r in regions] == ["chr1:1-10", "chr1:11-20", "chr1:21-30", ".x", "chr1:5-9"]


def write_bed(path, text, how):
    """A BED file written plain, with the gzip module, with bgzip (pysam.tabix_compress) or with BGZFile."""
    data = text.encode()
    if how == "plain":
        path.write_bytes(data)
    elif how == "gzip":
        path.write_bytes(gzip.compress(data, mtime=0))
    elif how == "bgzip":
        plain = path.parent / (path.name + ".txt")
        plain.write_bytes(data)
        pysam.tabix_compress(str(plain), str(path), force=True)
    else:
        with pysam.BGZFile(str(path), "wb") as out:
            out.write(data)
    head = path.read_bytes()[:2]
    assert (head == b"\x1f\x8b") == (how != "plain")
    return str(path)


@pytest.fixture(scope="module")
def headerish_bam(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("headerish") / "h.bam")
    return write_bam(path, HEADERISH, random_pairs(HEADERISH, 400, random.Random(11)))


def run_script(*args):
    """plan_units.py as the pipeline runs it: a separate process, its exit status and stderr."""
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


def manifest(folder, *samples, file_name=None):
    """The planner's --samples manifest for (sample, bam) pairs; the index beside each BAM or CRAM (if any)."""
    path = pathlib.Path(folder) / "samples.tsv"
    lines = ["sample\talignments\tindex\tfile_name"]
    for sample, bam in samples:
        index = next((bam + suffix for suffix in (".bai", ".crai") if os.path.exists(bam + suffix)), "")
        lines.append(f"{sample}\t{bam}\t{index}\t{file_name or os.path.basename(bam)}")
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def count_manifest(folder, *samples):
    """count_unit.py's --samples manifest."""
    path = folder / "count_samples.tsv"
    rows = [f"{sample}\t{bam}\t{bam}.bai" for sample, bam in samples]
    path.write_text("\n".join(["sample\talignments\tindex", *rows]) + "\n")
    return str(path)


def planner_args(bam, bed, outdir, *extra, file_name=None):
    # The pipeline stages the BED as regions.bed whatever its name: gzip must be told by content.
    folder = f"{outdir}-manifest"  # beside outdir: some tests check that nothing is written into it
    os.makedirs(folder, exist_ok=True)
    samples = manifest(folder, ("h", bam), file_name=file_name)
    return ["--samples", samples, "--bed", bed, "--outdir", str(outdir), *extra]


@pytest.mark.parametrize("how", ["plain", "gzip", "bgzip", "bgzf"])
def test_plain_gzip_and_bgzip_beds_give_the_same_regions(headerish_bam, tmp_path, how):
    bed = write_bed(tmp_path / "regions.bed", BED_TEXT, how)
    result = run_script(*planner_args(headerish_bam, bed, tmp_path, "--bed-name=t.bed.gz"))
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "regions" / "h.regions.tsv") as handle:
        rows = read_tsv(handle)
    assert [(r["name"], r["contig"], int(r["start"]), int(r["end"])) for r in rows] == BED_REGIONS


def test_headerish_contigs_from_a_bgzipped_bed_count_as_samtools_does(headerish_bam, tmp_path):
    """The user's case end to end: plan, count every unit, reduce; each count is samtools view -c's."""
    bed = write_bed(tmp_path / "regions.bed", BED_TEXT, "bgzip")
    plan_args = ["--max-units", "3", "--min-unit-reads", "1", "--split-size", "4000", "--bed-name=t.bed.gz"]
    assert pu.main(planner_args(headerish_bam, bed, tmp_path, *plan_args)) == 0
    results = []
    samples = count_manifest(tmp_path, ("h", headerish_bam))
    for unit in sorted((tmp_path / "units").iterdir()):
        results.append(str(tmp_path / f"{unit.stem}.result.tsv"))
        assert count_unit.main(["--samples", samples, "--unit", str(unit), "--out", results[-1]]) == 0
    assert len(results) > 1
    regions_tsv = str(tmp_path / "regions" / "h.regions.tsv")
    assert reduce_counts.main(["--regions", regions_tsv, "--outdir", str(tmp_path), *results]) == 0
    with open(tmp_path / "h" / "h.counts.tsv") as handle:
        counts = [(row["region"], int(row["count"])) for row in read_tsv(handle)]
    expected = [(name, samtools_count(headerish_bam, f"{{{c}}}:{s + 1}-{e}")) for name, c, s, e in BED_REGIONS]
    assert counts == expected
    assert all(count > 0 for _, count in counts)  # every region holds reads: the comparison means something


def corrupt(data):
    """The compressed data with one byte in the middle flipped."""
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


LARGE_BED = "".join(f"chr1\t{i}\t{i + 10}\tr{i}\n" for i in range(0, 19_990, 3))  # > 64 kb: several BGZF blocks
EOF_TRUNCATED = "Compressed file ended before the end-of-stream marker was reached"


@pytest.mark.parametrize(
    "how, damage, detail",
    [
        ("gzip", lambda d: d[:-1], EOF_TRUNCATED),
        ("gzip", lambda d: d[: len(d) // 2], EOF_TRUNCATED),
        ("bgzip", lambda d: d[:-5], "no BGZF end-of-file block"),
        ("bgzip", lambda d: d[:-28], "no BGZF end-of-file block"),  # cut exactly at a block boundary
        ("bgzip", lambda d: d[: len(d) // 2], "no BGZF end-of-file block"),
    ],
    ids=["gzip-1-byte", "gzip-half", "bgzip-5-bytes", "bgzip-eof-block", "bgzip-half"],
)
def test_truncated_gzip_bed_is_one_line_exit_2_and_no_output(headerish_bam, tmp_path, how, damage, detail):
    bed = tmp_path / "regions.bed"
    write_bed(bed, LARGE_BED, how)
    bed.write_bytes(damage(bed.read_bytes()))
    outdir = tmp_path / "out"
    result = run_script(*planner_args(headerish_bam, str(bed), outdir, "--bed-name=t.bed.gz"))
    assert (result.returncode, result.stderr) == (2, f"[ERROR] t.bed.gz: truncated or corrupt gzip file ({detail})\n")
    assert not outdir.exists()


@pytest.mark.parametrize("how", ["gzip", "bgzip"])
def test_corrupt_gzip_bed_is_one_line_exit_2_and_no_output(headerish_bam, tmp_path, how):
    bed = tmp_path / "regions.bed"
    write_bed(bed, LARGE_BED, how)
    bed.write_bytes(corrupt(bed.read_bytes()))
    outdir = tmp_path / "out"
    result = run_script(*planner_args(headerish_bam, str(bed), outdir, "--bed-name=t.bed.gz"))
    assert result.returncode == 2
    assert result.stderr.startswith("[ERROR] t.bed.gz: truncated or corrupt gzip file (")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not outdir.exists()


@pytest.mark.parametrize(
    "content, line",
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), 1),  # an image
        ("chr1\t0\t10\tok\nchr1\t10\t20\tg\u00e8ne\n".encode("latin-1"), 2),  # text, but not UTF-8
        (gzip.compress(b"chr1\t0\t10\n\x00\x01\x02\n"), 2),  # NUL: binary even though valid UTF-8
    ],
    ids=["image", "latin-1", "nul-in-gzip"],
)
def test_binary_bed_is_one_line_exit_2(headerish_bam, tmp_path, content, line):
    bed = tmp_path / "regions.bed"
    bed.write_bytes(content)
    outdir = tmp_path / "out"
    result = run_script(*planner_args(headerish_bam, str(bed), outdir, "--bed-name=t.bed"))
    message = f"[ERROR] t.bed: not a BED text file (line {line} holds binary data, not UTF-8 text)\n"
    assert (result.returncode, result.stderr) == (2, message)
    assert not outdir.exists()


def test_bam_given_as_bed_is_refused_as_binary(headerish_bam, tmp_path):
    """A BAM is BGZF too: it decompresses, then fails as text."""
    result = run_script(*planner_args(headerish_bam, headerish_bam, tmp_path / "out", "--bed-name=h.bam"))
    message = "[ERROR] h.bam: not a BED text file (line 1 holds binary data, not UTF-8 text)\n"
    assert (result.returncode, result.stderr) == (2, message)


def test_utf8_bed_with_byte_order_mark_is_read(headerish_bam, tmp_path):
    bed = tmp_path / "regions.bed"
    bed.write_bytes("chr1\t0\t10\tg\u00e8ne\n".encode("utf-8-sig"))
    assert pu.main(planner_args(headerish_bam, str(bed), tmp_path)) == 0
    with open(tmp_path / "regions" / "h.regions.tsv") as handle:
        assert [(r["name"], r["contig"]) for r in read_tsv(handle)] == [("g\u00e8ne", "chr1")]


def test_missing_or_empty_bed_is_one_line_naming_the_users_file(headerish_bam, tmp_path):
    result = run_script(*planner_args(headerish_bam, str(tmp_path / "absent.bed"), tmp_path, "--bed-name=t.bed"))
    assert (result.returncode, result.stderr) == (2, "[ERROR] t.bed: cannot read: No such file or directory\n")
    empty = write_bed(tmp_path / "regions.bed", "track name=empty\n# nothing here\n", "gzip")
    result = run_script(*planner_args(headerish_bam, empty, tmp_path, "--bed-name=t.bed.gz"))
    assert (result.returncode, result.stderr) == (2, "[ERROR] t.bed.gz: BED file has no regions\n")


def test_names_starting_with_a_dash_are_values_not_options(headerish_bam, tmp_path):
    bed = write_bed(tmp_path / "regions.bed", "chrNope\t0\t10\n", "plain")
    result = run_script(*planner_args(headerish_bam, bed, tmp_path, "--bed-name=-t.bed", file_name="-x.bam"))
    message = "[ERROR] -x.bam: 1 line of -t.bed names contigs not in its header (1 contig: 'chrNope')\n"
    assert (result.returncode, result.stderr) == (2, message)
    nosq = str(tmp_path / "nosq.bam")
    with pysam.AlignmentFile(nosq, "wb", header={"HD": {"VN": "1.6"}}):
        pass
    for name in ("-x.bam", "--max-units"):
        samples = manifest(tmp_path, ("n", nosq), file_name=name)
        result = run_script("--samples", samples, "--outdir", str(tmp_path))
        message = f"[ERROR] {name}: the header has no @SQ lines (no reference sequences to count on)\n"
        assert (result.returncode, result.stderr) == (2, message)
    good = write_bed(tmp_path / "good.bed", "chr1\t0\t10\n", "plain")
    result = run_script(*planner_args(headerish_bam, good, tmp_path, "--bed-name=-t.bed", file_name="-x.bam"))
    assert result.returncode == 0, result.stderr


def test_split_region_covers_every_base_exactly_once():
    region = pu.Region(1, "c", "c", 7, 1_000_003)
    pieces = pu.split_region(region, 100_000, 500.0, target_reads=100.0)
    assert len(pieces) == 10
    assert pieces[0][0] == 7 and pieces[-1][1] == 1_000_003
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))
    assert all(end - start <= 100_000 for start, end, _ in pieces)
    assert sum(reads for _, _, reads in pieces) == pytest.approx(500.0)


def test_busy_short_region_is_split_by_reads():
    chrm = pu.Region(1, "chrM", "chrM", 0, 16_569)  # chrM-heavy data: one short contig holds most reads
    pieces = pu.split_region(chrm, 50_000_000, 9_000_000.0, target_reads=1_000_000.0)
    assert len(pieces) == 9 and pieces[-1][1] == 16_569


def test_no_split_within_share_or_when_split_size_is_zero():
    region = pu.Region(1, "c", "c", 0, 10**9)
    assert pu.split_region(region, 1000, 3.0, target_reads=3.0) == [(0, 10**9, 3.0)]
    assert pu.split_region(region, 0, 300.0, target_reads=3.0) == [(0, 10**9, 300.0)]


def plan(contigs, reads, split_size, target_reads, batch_max_reads):
    regions = pu.header_regions(contigs)
    lengths = dict(contigs)
    region_reads = [pu.expected_reads(r, reads, lengths) for r in regions]
    return pu.plan_items(regions, region_reads, lengths, split_size, target_reads, batch_max_reads)


def test_modes_chunk_single_and_batch():
    contigs = [("big", 1000), ("busy", 100), ("quiet", 100), ("#hash", 100)]
    reads = {"big": 100_000, "busy": 50_000, "quiet": 3, "#hash": 1}
    items = plan(contigs, reads, split_size=400, target_reads=60_000, batch_max_reads=1000)
    modes = [(i.contig, i.mode, i.whole_contig) for i in items]
    assert modes == [("big", "single", False)] + [("big", "chunk", False)] * 2 + [
        ("busy", "single", True),
        ("quiet", "batch", True),
        ("#hash", "single", True),
    ]


@pytest.mark.parametrize("sorted_bed", [True, False], ids=["sorted", "unsorted"])
def test_the_expected_reads_by_other_counts_are_made_in_the_same_loop(sorted_bed):
    """reads_and_overheads(also=(counts, list)): the list filled with each region's expected_reads by those counts
    (plan_shared's summed counts), the reads and overheads as without it; a BED out of order too (second pass)."""
    lengths = {"c1": 1000, "c2": 400, "empty": 0}
    regions = [
        pu.Region(1, "a", "c1", 0, 100),
        pu.Region(2, "b", "c1", 150, 1200),  # past the contig's end: counted to it
        pu.Region(3, "c", "c2", 10, 30),
        pu.Region(4, "d", "empty", 0, 10),
    ]
    if not sorted_bed:
        regions = [regions[1], regions[0], regions[3], regions[2]]
    densest, summed = {"c1": 5000, "c2": 40}, {"c1": 12000, "c2": 41}
    also = [0.0] * len(regions)
    assert pu.reads_and_overheads(regions, densest, lengths, also=(summed, also)) == pu.reads_and_overheads(
        regions, densest, lengths
    )
    assert also == [pu.expected_reads(r, summed, lengths) for r in regions]
    by_id = {r.region_id: reads for r, reads in zip(regions, also)}
    assert by_id == {1: 1200.0, 2: 12000 * 850 / 1000, 3: 41 * 20 / 400, 4: 0.0}


def test_a_scale_multiplies_the_expected_reads_once_the_modes_and_pieces_are_chosen():
    """plan_shared's scale (summed / densest reads of a contig): the modes and chunks of the unscaled reads,
    each item's expected reads times its contig's factor, as scaled_items of the unscaled plan makes them."""
    contigs = [("big", 1000), ("busy", 100), ("quiet", 100)]
    regions = pu.header_regions(contigs)
    lengths = dict(contigs)
    region_reads = [100_000.0, 50_000.0, 3.0]
    scale = {"big": 2.5, "busy": 3.0, "quiet": 0.5}
    args = (regions, region_reads, lengths, 400, 60_000, 1000)
    items = pu.plan_items(*args, scale=scale)
    assert [(i.contig, i.mode, i.start, i.end, i.expected_reads) for i in items] == [
        ("big", "single", 0, 333, 100_000 / 3 * 2.5),
        ("big", "chunk", 333, 666, 100_000 / 3 * 2.5),
        ("big", "chunk", 666, 1000, 100_000 / 3 * 2.5),
        ("busy", "single", 0, 100, 150_000.0),
        ("quiet", "batch", 0, 100, 1.5),
    ]
    assert items == pu.scaled_items(pu.plan_items(*args), scale)


def test_grch38_like_header_gives_bounded_balanced_deterministic_complete_units():
    contigs = [(f"c{i}", (200_000_000 if i < 25 else 50_000)) for i in range(3366)]
    reads = {name: (1_000_000 if i < 25 else 30) for i, (name, _) in enumerate(contigs)}
    total = sum(reads.values())
    n_units = pu.unit_count(total, 16, 1_000_000)
    assert n_units == 16
    items = plan(contigs, reads, 50_000_000, total / n_units / pu.CHUNKS_PER_SHARE, 20_000)
    units = pu.partition_units(items, n_units, 50_000)
    assert len(units) == 16
    assert [item for unit in units for item in unit] == items  # contiguous runs, in order, each item once
    loads = [sum(pu.item_cost(i, 50_000) for i in unit) for unit in units]
    assert max(loads) <= 1.34 * (sum(loads) / len(loads))
    samtools_calls = sum(1 for i in items if i.mode != "batch") + len(units)
    assert samtools_calls < 150


def test_unit_count_follows_reads_within_bounds():
    assert pu.unit_count(24_000_000, 16, 1_000_000) == 16  # the bound
    assert pu.unit_count(24_000_000, 16, 4_000_000) == 6
    assert pu.unit_count(1_500, 16, 1_000_000) == 1  # a tiny input: one task
    assert pu.unit_count(1_500, 16, 0) == 16  # 0: always the bound


def test_partition_keeps_empty_contigs_together():
    empty = plan([("a", 10), ("b", 10)], {}, 0, 1.0, 100)
    assert [[i.contig for i in unit] for unit in pu.partition_units(empty, 2, 100)] == [["a", "b"]]
    busy = plan([("a", 10), ("b", 10)], {"a": 10**6, "b": 10**6}, 0, 10**6, 100)
    assert [[i.contig for i in unit] for unit in pu.partition_units(busy, 2, 100)] == [["a"], ["b"]]


def test_the_units_of_a_panel_are_cut_where_the_cost_midpoints_cross_a_share():
    """unit_bounds: where unit_numbers' units begin, by a binary search over the cost midpoints (which never
    decrease); None, for unit_numbers to number each run, when a cost is negative or all are 0."""
    costs = [1.0, 1.0, 4.0, 0.0, 2.0, 0.0]  # midpoints 0.5, 1.5, 4, 6, 7, 8
    assert pu.unit_numbers(costs, 2) == [0, 0, 1, 1, 1, 1]  # a share of 4; the last midpoint, 8, in the last unit
    assert pu.unit_bounds(costs, 2) == [0, 2, 6]
    assert pu.unit_numbers(costs, 3) == [0, 0, 1, 2, 2, 2]
    assert pu.unit_bounds(costs, 3) == [0, 2, 3, 6]
    assert pu.unit_bounds(costs, 16) == [0, 0, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 6]  # shares of 0.5
    assert pu.unit_bounds([1.0, -1.0, 2.0], 2) is None
    assert pu.unit_bounds([0.0, 0.0], 2) is None
    items = [pu.Item(i, "c", i, i + 1, "batch", cost, False) for i, cost in enumerate(costs)]
    assert [[i.region_id for i in unit] for unit in pu.partition_units(items, 3, 0)] == [[0, 1], [2], [3, 4, 5]]


def test_panel_units_are_contiguous_stretches_of_the_genome():
    """Two units of a BED panel read disjoint halves of the file: each unit is one genomic stretch."""
    contigs = [("chr1", 1_000_000), ("chr2", 1_000_000)]
    lengths = dict(contigs)
    order = {"": {name: i for i, (name, _) in enumerate(contigs)}}
    rng = random.Random(2)
    regions = []
    for i in range(2000):  # BED order is not genomic order
        contig = rng.choice(["chr1", "chr2"])
        start = rng.randrange(0, 999_000)
        regions.append(pu.Region(i + 1, f"r{i}", contig, start, start + rng.randint(100, 300)))
    reads = [pu.expected_reads(r, {"chr1": 10**6, "chr2": 10**6}, lengths) for r in regions]
    items = pu.genomic_order(pu.plan_items(regions, reads, lengths, 0, math.inf, 20_000), order)
    units = pu.partition_units(items, 2, 50_000)
    assert len(units) == 2
    spans = [((u[0].contig, u[0].start), (u[-1].contig, u[-1].start)) for u in units]
    assert spans[0][1] <= spans[1][0]  # the first unit ends where the second starts
    loads = [sum(pu.item_cost(i, 50_000) for i in unit) for unit in units]
    assert max(loads) <= 1.01 * min(loads)


def pass_sample(sample, reads_per_contig, n_contigs=3):
    """A sample's pass items (whole contigs of the header), reads_per_contig expected in each."""
    regions = [pu.Region(i + 1, f"c{i}", f"c{i}", 0, 1000, whole_contig=True) for i in range(n_contigs)]
    return pu.pass_items(regions, [reads_per_contig] * n_contigs, sample)


def test_one_pass_only_for_header_regions_within_a_units_share():
    header = [pu.Region(1, "c1", "c1", 0, 1000, whole_contig=True), pu.Region(2, "c2", "c2", 0, 10, whole_contig=True)]
    bed = [pu.Region(1, "c1", "c1", 0, 1000)]  # a BED region spanning its contig is still a range
    assert pu.counted_in_one_pass(header, 1000, 1000)
    assert not pu.counted_in_one_pass(header, 1001, 1000)  # more than a unit: split by contig and position
    assert not pu.counted_in_one_pass(bed, 10, 1000)
    assert not pu.counted_in_one_pass(header + bed, 10, 1000)


def test_a_pass_sample_goes_whole_to_one_unit_and_pays_one_call():
    """Three samples counted in one pass each, of 3 x 100, 3 x 400 and 3 x 300 reads: never cut, the
    cut falls between samples (by cost midpoints), and the fixed cost counts once per sample."""
    items = pass_sample("a", 100) + pass_sample("b", 400) + pass_sample("c", 300)
    runs = pu.unit_atoms(items, fixed_cost_reads=50)
    assert [(run[0].sample, len(run), cost) for run, cost in runs] == [("a", 3, 350), ("b", 3, 1250), ("c", 3, 950)]
    units = pu.partition_units(items, 2, 50)
    assert [sorted({i.sample for i in unit}) for unit in units] == [["a", "b"], ["c"]]
    assert [i for unit in units for i in unit] == items


def test_group_of_samples_shares_units_and_keeps_each_samples_regions(tmp_path):
    reads = [random_pairs(TEST_CONTIGS, 50 + i, random.Random(i)) for i in range(5)]
    bams = [(f"s{i}", write_bam(str(tmp_path / f"s{i}.bam"), TEST_CONTIGS, reads[i])) for i in range(5)]
    code = pu.main(["--samples", manifest(tmp_path, *bams), "--max-units", "2", "--min-unit-reads", "200",
                    "--outdir", str(tmp_path)])  # fmt: skip
    assert code == 0
    assert sorted(os.listdir(tmp_path / "regions")) == [f"s{i}.regions.tsv" for i in range(5)]
    units = sorted(os.listdir(tmp_path / "units"))
    assert units == ["unit_0001.tsv", "unit_0002.tsv"]  # 5 samples, 2 counting tasks
    with open(tmp_path / "unit_samples.tsv") as handle:
        unit_samples = [(row["unit"], row["sample"]) for row in read_tsv(handle)]
    planned, units_of = {}, {}
    for unit in units:
        with open(tmp_path / "units" / unit) as handle:
            for row in read_tsv(handle):
                planned.setdefault(row["sample"], []).append(row["contig"])
                units_of.setdefault(row["sample"], set()).add(unit)
                assert (unit, row["sample"]) in unit_samples
                # small samples counted per contig, their contigs starting at pos >= 0: one scan of each file
                assert row["mode"] == "scan"
    assert all(len(u) == 1 for u in units_of.values())  # ... in one unit
    assert {s: sorted(set(c)) for s, c in planned.items()} == {s: sorted(n for n, _ in TEST_CONTIGS) for s, _ in bams}
    # Count and reduce the group: every sample's counts are samtools view -c's, in its own folder.
    results = []
    for unit in units:
        results.append(str(tmp_path / f"{unit}.result.tsv"))
        samples = count_manifest(tmp_path, *bams)
        assert (
            count_unit.main(["--samples", samples, "--unit", str(tmp_path / "units" / unit), "--out", results[-1]]) == 0
        )
    regions = [str(tmp_path / "regions" / f"{s}.regions.tsv") for s, _ in bams]
    assert reduce_counts.main(["--outdir", str(tmp_path), *results, "--regions", *regions]) == 0
    for sample, bam in bams:
        assert (tmp_path / sample / f"{sample}_count.txt").read_text() == expected_count_text(bam)
    assert (tmp_path / "failures.txt").read_text() == ""


def test_samples_on_one_panel_share_one_regions_table(tmp_path):
    """Samples of one reference on a BED get one table (hard links to the rows written once), identical to
    what each gets planned alone, also one whose header has a contig the BED does not name."""
    other = [*TEST_CONTIGS, ("chrExtra", 5000)]
    bams = [
        ("a", write_bam(str(tmp_path / "a.bam"), TEST_CONTIGS, random_pairs(TEST_CONTIGS, 200, random.Random(1)))),
        ("b", write_bam(str(tmp_path / "b.bam"), TEST_CONTIGS, random_pairs(TEST_CONTIGS, 300, random.Random(2)))),
        ("c", write_bam(str(tmp_path / "c.bam"), other, random_pairs(TEST_CONTIGS, 100, random.Random(3)))),
    ]
    bed = tmp_path / "panel.bed"
    bed.write_text("".join(f"{name}\t{i * 10}\t{i * 10 + 500}\n" for name, _ in TEST_CONTIGS for i in range(40)))
    common = ["--bed", str(bed), "--max-units", "1", "--min-unit-reads", "1"]
    assert pu.main(["--samples", manifest(tmp_path, *bams), *common, "--outdir", str(tmp_path / "group")]) == 0
    tables = {s: tmp_path / "group" / "regions" / f"{s}.regions.tsv" for s, _ in bams}
    assert os.path.samefile(tables["a"], tables["b"]) and os.path.samefile(tables["a"], tables["c"])
    for sample, bam in bams:
        alone = tmp_path / f"alone_{sample}"
        os.makedirs(alone)
        assert pu.main(["--samples", manifest(alone, (sample, bam)), *common, "--outdir", str(alone)]) == 0
        assert tables[sample].read_text() == (alone / "regions" / f"{sample}.regions.tsv").read_text()
    assert len(tables["a"].read_text().splitlines()) == 1 + 40 * len(TEST_CONTIGS)


def test_samples_on_one_panel_are_planned_once_and_count_as_samtools(tmp_path):
    """Two BAMs of one reference on one BED: one plan for both (items of sample '*', every unit holding both
    samples), each region's mode decided by the denser sample (a region over --batch-max-reads in b only is
    counted alone in a as well), and every count of both is samtools view -c's after counting and reducing."""
    sparse = write_bam(str(tmp_path / "a.bam"), TEST_CONTIGS, random_pairs(TEST_CONTIGS, 100, random.Random(4)))
    dense = write_bam(str(tmp_path / "b.bam"), TEST_CONTIGS, random_pairs(TEST_CONTIGS, 3000, random.Random(5)))
    regions = [(name, i * 997, i * 997 + 3000) for name, length in TEST_CONTIGS if length > 20_000 for i in range(12)]
    bed = tmp_path / "panel.bed"
    bed.write_text("".join(f"{c}\t{s}\t{e}\tr{i}\n" for i, (c, s, e) in enumerate(regions)))
    bams = [("a", sparse), ("b", dense)]
    code = pu.main(["--samples", manifest(tmp_path, *bams), "--bed", str(bed), "--max-units", "2",
                    "--min-unit-reads", "1", "--batch-max-reads", "5", "--outdir", str(tmp_path)])  # fmt: skip
    assert code == 0
    units = sorted(os.listdir(tmp_path / "units"))
    with open(tmp_path / "unit_samples.tsv") as handle:
        assert [(r["unit"], r["sample"]) for r in read_tsv(handle)] == [(u, s) for u in units for s in ("a", "b")]
    rows = []
    for unit in units:
        with open(tmp_path / "units" / unit) as handle:
            rows += read_tsv(handle)
    assert {row["sample"] for row in rows} == {"*"} and len(rows) == len(regions)  # one item a region, for both
    # Expected reads by the index statistics: over 5 in b's regions, far fewer in a's. Alone, a's are batched.
    assert {row["mode"] for row in rows} == {"single"}
    alone = tmp_path / "alone"
    os.makedirs(alone)
    pu.main(["--samples", manifest(alone, bams[0]), "--bed", str(bed), "--max-units", "2", "--min-unit-reads", "1",
             "--batch-max-reads", "5", "--outdir", str(alone)])  # fmt: skip
    with open(alone / "units" / "unit_0001.tsv") as handle:
        assert {row["mode"] for row in read_tsv(handle)} == {"batch"}
    results = []
    for unit in units:
        results.append(str(tmp_path / f"{unit}.result.tsv"))
        samples = count_manifest(tmp_path, *bams)
        unit_file = str(tmp_path / "units" / unit)
        assert count_unit.main(["--samples", samples, "--unit", unit_file, "--out", results[-1]]) == 0
    tables = [str(tmp_path / "regions" / f"{s}.regions.tsv") for s, _ in bams]
    assert reduce_counts.main(["--outdir", str(tmp_path), *results, "--regions", *tables]) == 0
    for sample, bam in bams:
        counts = [samtools_count(bam, f"{{{c}}}:{s + 1}-{e}") for c, s, e in regions]
        lines = [f"Region r{i}: {n}" for i, n in enumerate(counts)] + [f"Total reads: {sum(counts)}"]
        assert (tmp_path / sample / f"{sample}_count.txt").read_text() == "\n".join(lines) + "\n"
    assert (tmp_path / "failures.txt").read_text() == ""


def test_only_samples_of_one_panel_one_reference_and_one_format_share_a_plan():
    regions = [pu.Region(1, "r", "c", 0, 10)]
    lengths, order = {"c": 100}, {"c": 0}

    def of(regions=regions, lengths=lengths, cram=False):
        return pu.SampleRegions(regions, dict(lengths), {"c": 5}, order, cram)

    assert pu.shared_panel(["a", "b"], {"a": of(), "b": of()})
    assert not pu.shared_panel(["a"], {"a": of()})  # alone: its own plan
    assert not pu.shared_panel(["a", "b"], {"a": of(), "b": of(regions=list(regions))})  # another contig set's
    assert not pu.shared_panel(["a", "b"], {"a": of(), "b": of(lengths={"c": 200})})  # another reference
    assert pu.shared_panel(["a", "b"], {"a": of(), "b": of(lengths={"c": 100, "chrEBV": 5})})  # a contig more
    assert not pu.shared_panel(["a", "b"], {"a": of(), "b": of(cram=True)})  # a CRAM: ends past contigs alone
    header = [pu.Region(1, "c", "c", 0, 100, True)]
    assert not pu.shared_panel(["a", "b"], {"a": of(regions=header), "b": of(regions=header)})  # per contig


def planned_modes(tmp_path, *samples, reference=None):
    """{sample: the modes of its items} of a plan of (sample, alignments) pairs, small enough for a pass."""
    os.makedirs(tmp_path, exist_ok=True)
    args = ["--samples", manifest(tmp_path, *samples), "--outdir", str(tmp_path / "plan")]
    assert pu.main(args + (["--reference", reference] if reference else [])) == 0
    modes = {}
    for unit in sorted(os.listdir(tmp_path / "plan" / "units")):
        with open(tmp_path / "plan" / "units" / unit) as handle:
            for row in read_tsv(handle):
                modes.setdefault(row["sample"], set()).add(row["mode"])
    return modes


def test_a_pass_is_a_scan_only_when_every_contig_of_the_bam_starts_at_pos_zero_or_after(tmp_path):
    """A scan counts every record of a contig; a record at pos -1 that `{name}` skips, or a CRAM (whose index
    does not tell), or no index, keeps the filtered pass. Each plan counted equals samtools view -c."""
    reads = random_pairs(TEST_CONTIGS, 200, random.Random(8))
    placed = write_bam(str(tmp_path / "placed.bam"), TEST_CONTIGS, reads)
    minus_one = write_bam(str(tmp_path / "minus_one.bam"), TEST_CONTIGS, reads + [Read("m", 0x4, "chr2", -1, None)])
    unindexed = str(tmp_path / "unindexed.bam")
    shutil.copy(placed, unindexed)
    (tmp_path / "c").mkdir()
    cram, reference = cram_of(placed, TEST_CONTIGS, tmp_path / "c")
    samples = [("placed", placed), ("minus_one", minus_one), ("unindexed", unindexed)]
    assert planned_modes(tmp_path, *samples) == {"placed": {"scan"}, "minus_one": {"pass"}, "unindexed": {"pass"}}
    for sample, bam in samples[:2]:
        results = str(tmp_path / f"{sample}.result.tsv")
        unit = tmp_path / f"{sample}.unit.tsv"
        with open(tmp_path / "plan" / "units" / "unit_0001.tsv") as handle:
            lines = [line for i, line in enumerate(handle) if i == 0 or line.startswith(f"{sample}\t")]
        unit.write_text("".join(lines))
        samples_file = count_manifest(tmp_path, (sample, bam))
        assert count_unit.main(["--samples", samples_file, "--unit", str(unit), "--out", results]) == 0
        with open(unit) as handle:
            items = task_files.read_unit(handle)
        with open(results) as handle:
            counts = {row["contig"]: int(row["count"]) for row in task_files.read_result_rows(handle, items)}
        assert counts == {name: samtools_count(bam, f"{{{name}}}") for name, _ in TEST_CONTIGS}, sample
    assert planned_modes(tmp_path / "c", ("cram", cram), reference=reference) == {"cram": {"pass"}}


def test_main_writes_regions_and_units(tmp_path):
    bam = write_bam(str(tmp_path / "s.bam"), TEST_CONTIGS, random_pairs(TEST_CONTIGS, 300, random.Random(3)))
    code = pu.main(
        [
            "--samples",
            manifest(tmp_path, ("s", bam)),
            "--split-size",
            "100000",
            "--max-units",
            "3",
            "--min-unit-reads",
            "1",
            "--outdir",
            str(tmp_path),
        ]
    )
    assert code == 0
    with open(tmp_path / "regions" / "s.regions.tsv") as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle]
    assert rows[0] == task_files.REGION_COLUMNS
    assert [row[1] for row in rows[1:]] == [name for name, _ in TEST_CONTIGS]
    assert int(rows[1][6]) >= 4  # chr1 (400 kb, most reads): chunks of at most 100 kb
    units = sorted(os.listdir(tmp_path / "units"))
    assert units == ["unit_0001.tsv", "unit_0002.tsv", "unit_0003.tsv"]


def test_plan_is_identical_across_processes(tmp_path):
    """-resume caches only if the planner writes the same files every time: two processes with
    different hash seeds (set and dict order) must give byte-identical plans."""
    bam = write_bam(str(tmp_path / "s.bam"), TEST_CONTIGS, random_pairs(TEST_CONTIGS, 300, random.Random(5)))
    plans = []
    for seed in ("1", "2"):
        outdir = tmp_path / f"seed{seed}"
        outdir.mkdir()
        subprocess.run(
            [sys.executable, os.path.join(ROOT, "bin", "plan_units.py"), "--samples", manifest(outdir, ("s", bam))]
            + ["--split-size", "50000", "--max-units", "4", "--min-unit-reads", "1", "--outdir", str(outdir)],
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        files = sorted(p.relative_to(outdir) for p in outdir.rglob("*.tsv"))
        plans.append({str(p): (outdir / p).read_bytes() for p in files})
    assert len(plans[0]) >= 3 and plans[0] == plans[1]


def test_main_rejects_header_without_sq(tmp_path, caplog):
    path = str(tmp_path / "nosq.bam")
    with pysam.AlignmentFile(path, "wb", header={"HD": {"VN": "1.6"}}):
        pass
    assert pu.main(["--samples", manifest(tmp_path, ("nosq", path)), "--outdir", str(tmp_path)]) == 2
    assert "nosq.bam: the header has no @SQ lines" in caplog.text
    assert not os.path.exists(tmp_path / "regions")


def test_a_plan_of_too_many_chunk_calls_is_a_warning_for_the_user(tmp_path, caplog):
    """--split_size 1000 on a 3 Mb contig: 3,000 chunks, each its own samtools call; a larger size: none."""
    contigs = [("big", 3_000_000)]
    bam = write_bam(str(tmp_path / "s.bam"), contigs, random_pairs(contigs, 100, random.Random(8)))
    for split_size in ("1000", "100000"):
        outdir = tmp_path / split_size
        warnings = tmp_path / f"warnings_{split_size}.txt"
        args = ["--samples", manifest(tmp_path, ("s", bam)), "--split-size", split_size, "--max-units", "2"]
        assert pu.main([*args, "--min-unit-reads", "0", "--outdir", str(outdir), "--warnings", str(warnings)]) == 0
        chunks = [
            sum(row["mode"] == "chunk" for row in read_tsv(open(unit))) for unit in sorted(outdir.glob("units/*.tsv"))
        ]
        assert len(chunks) == 2
        if split_size == "100000":
            assert not warnings.exists() and max(chunks) <= pu.CHUNK_CALLS_WARNING
            continue
        expected = (
            f"--split_size 1000 cuts the busy regions into {sum(chunks)} chunks, up to {max(chunks)} in one of 2 "
            "counting tasks, each chunk a samtools call: a larger --split_size (or 0) makes fewer"
        )
        assert sum(chunks) == 2999 and warnings.read_text() == expected + "\n"
        assert expected in caplog.text


@pytest.mark.parametrize("start, end", [("1\u00b2", "20"), ("\uff11\uff10\uff10", "200"), ("10", "2\u0662")])
def test_bed_coordinates_are_ascii_digits_only(start, end):
    """'1²' made a ValueError traceback, full-width '１００' was read as 100 (issue 19, item 8)."""
    with pytest.raises(pu.InputError) as err:
        pu.bed_regions([f"chr1\t{start}\t{end}\n"], LENGTHS, "t.bed")
    problem = f"line 1: start and end must be non-negative integers, got '{start}', '{end}'"
    assert str(err.value) == f"t.bed: invalid BED: {problem}"


def test_bed_ends_past_the_largest_bam_position_are_refused():
    """samtools -L reads a 20-digit end as 0 records (exit 0) and crashes on ends near 2^63: refused."""
    lines = [f"chr1\t0\t{pu.MAX_BED_COORDINATE}\n", "chr1\t5\t99999999999999999999\n"]
    with pytest.raises(pu.InputError) as err:
        pu.bed_regions(lines, LENGTHS, "t.bed")
    problem = "line 2: end 99999999999999999999 is past the largest BAM/CRAM position (2147483647)"
    assert str(err.value) == f"t.bed: invalid BED: {problem}"


@pytest.mark.parametrize("lines_before", [0, 5000], ids=["line-by-line", "in-a-block"])
def test_a_bed_name_holding_a_carriage_return_is_refused(tmp_path, lines_before):
    """A name with a CR inside (not a CRLF line end) was planned and counted, then read back from the regions
    table as two lines: reduce_counts.py's IndexError traceback after all the counting (fuzz campaign 3). Now one
    problem of the BED, whether its line is read alone or in a block of usual lines (usual_block_regions); a CRLF
    line end stays a line end."""
    lines = [f"chr1\t{i}\t{i + 10}\tr{i}\r\n" for i in range(lines_before)]
    lines += ["chr1\t0\t100\ta\rb\n", "chr1\t0\t20\tplain\r\n"]
    with pytest.raises(pu.InputError) as err:
        pu.bed_regions(lines, LENGTHS, "t.bed")
    problem = f"line {lines_before + 1}: the name 'a\\rb' holds a carriage return (CR): name it without one"
    assert str(err.value) == f"t.bed: invalid BED: {problem}"
    bams = [("s", numbered_bam(str(tmp_path / "s.bam"), [("chr1", 248_956_422)]))]
    bed = tmp_path / "regions.bed"
    bed.write_text("".join(lines), newline="")
    result = run_script("--samples", manifest(tmp_path, *bams), "--bed", str(bed), "--outdir", str(tmp_path / "o"))
    assert (result.returncode, result.stderr) == (2, f"[ERROR] {bed}: invalid BED: {problem}\n")
    assert not (tmp_path / "o").exists()


def test_many_bed_problems_are_one_bounded_line():
    lines = [f"chr1\t{i}\tx\n" for i in range(5000)]
    with pytest.raises(pu.InputError) as err:
        pu.bed_regions(lines, LENGTHS, "t.bed")
    message = str(err.value)
    assert "\n" not in message and message.count("line ") == pu.SHOWN_PROBLEMS
    assert message.endswith("got '9', 'x'; ... (5000 invalid lines in all)")


def numbered_bam(path, contigs):
    """A BAM (indexed) of (name, length) contigs without reads: for header problems."""
    header = {"HD": {"VN": "1.6"}, "SQ": [{"SN": name, "LN": length} for name, length in contigs]}
    with pysam.AlignmentFile(path, "wb", header=header):
        pass
    pysam.index(path)
    return path


CONVENTION = "names of another convention)"


@pytest.mark.parametrize(
    "bed_contigs, bam_contigs, hint",
    [
        (["chr1", "chr2", "chrM", "chrX"], ["1", "2", "MT", "X"], "; the BED uses chr1.., the BAM 1.. (" + CONVENTION),
        (["1", "2", "MT", "X"], ["chr1", "chr2", "chrM", "chrX"], "; the BED uses 1.., the BAM chr1.. (" + CONVENTION),
        (["scaffold_1", "scaffold_2", "scaffold_2", "x"], ["chr1"], ""),
    ],
    ids=["chr-bed", "chr-bam", "other"],
)
def test_contigs_missing_from_a_bam_are_one_line_per_bam_printed_once(tmp_path, bed_contigs, bam_contigs, hint):
    """A chr-named BED on a 1/2/MT BAM was one 2.6 MB line listing every BED line, printed 4 times, naming no
    BAM (issue 19, item 13): now one line per BAM of the group, with the first 3 contigs and the likely cause."""
    lines = [f"{contig}\t{i * 10}\t{i * 10 + 5}\n" for i in range(2000) for contig in bed_contigs]
    bams = [(s, numbered_bam(str(tmp_path / f"{s}.bam"), [(c, 100_000) for c in bam_contigs])) for s in ("a", "b")]
    bed = tmp_path / "regions.bed"
    bed.write_text("".join(lines))
    result = run_script("--samples", manifest(tmp_path, *bams), "--bed", str(bed), "--bed-name=panel.bed",
                        "--outdir", str(tmp_path / "out"))  # fmt: skip
    distinct = list(dict.fromkeys(bed_contigs))
    shown = ", ".join(f"'{c}'" for c in distinct[:3]) + (", ..." if len(distinct) > 3 else "")
    problem = f"{len(lines)} lines of panel.bed name contigs not in its header ({len(distinct)} contigs: {shown}){hint}"
    expected = f"[ERROR] a.bam: {problem}\nb.bam: {problem}\n"
    assert (result.returncode, result.stderr) == (2, expected)
    assert not (tmp_path / "out").exists()


def test_the_beds_own_problems_are_printed_once_for_a_group(tmp_path):
    bams = [(s, numbered_bam(str(tmp_path / f"{s}.bam"), [("chr1", 1000)])) for s in ("a", "b", "c")]
    bed = tmp_path / "regions.bed"
    bed.write_text("chr1\t5\t1\n")
    result = run_script("--samples", manifest(tmp_path, *bams), "--bed", str(bed), "--outdir", str(tmp_path / "o"))
    message = f"[ERROR] {bed}: invalid BED: line 1: start 5 is not less than end 1\n"
    assert (result.returncode, result.stderr) == (2, message)


PAST_CONTIGS = [("c1", 1000), ("c2", 500), ("c3", 30_000)]


@pytest.fixture(scope="module")
def past_end_bam(tmp_path_factory):
    """Reads every 7 bp on each contig and 600 bp past its @SQ length (pysam writes what samtools would refuse
    to make, htslib indexes and counts it), 50 to 120 bp long."""
    path = str(tmp_path_factory.mktemp("past") / "past.bam")
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": n, "LN": length} for n, length in PAST_CONTIGS]}
    rng = random.Random(7)
    with pysam.AlignmentFile(path, "wb", header=header) as out:
        for tid, (_, length) in enumerate(PAST_CONTIGS):
            for number, pos in enumerate(range(0, length + 600, 7)):
                record = pysam.AlignedSegment(out.header)
                record.query_name, record.flag, record.mapping_quality = f"r{tid}_{number}", 0, 30
                record.reference_id, record.reference_start = tid, pos
                span = rng.randint(50, 120)
                record.cigarstring, record.query_sequence = f"{span}M", "A" * span
                out.write(record)
    pysam.index(path)
    return path


PAST_BED = [
    ("c1", 900, 2000),  # the case: {c1}:901-2000
    ("c1", 0, 1000),
    ("c1", 999, 1001),
    ("c1", 1000, 1300),  # starts at the length: only records placed past the end
    ("c1", 1500, 2_147_483_647),
    ("c2", 0, 100_000),
    ("c2", 450, 700),
    ("c3", 29_000, 31_000),
    ("c3", 0, 30_600),  # a busy region ending past the length: its chunks reach the end
    ("c3", 100, 200),
]


@pytest.mark.parametrize(
    "plan_args, modes",
    [
        (["--batch-max-reads", "1e9"], {"batch", "single"}),  # single: c1:1501-2147483647 (BATCH_PAST_END_BP)
        (["--batch-max-reads", "-1"], {"single"}),
        (["--batch-max-reads", "-1", "--max-units", "4", "--min-unit-reads", "1", "--split-size", "300"],
         {"single", "chunk"}),
        (["--batch-max-reads", "50", "--max-units", "3", "--min-unit-reads", "1", "--split-size", "2000"],
         {"batch", "single", "chunk"}),
    ],
    ids=["batch", "single", "chunks", "mixed"],
)  # fmt: skip
def test_bed_ends_past_the_contig_count_as_samtools_in_every_mode(past_end_bam, tmp_path, plan_args, modes):
    """A BED end past its contig's length was refused; samtools counts {c1}:901-2000 to the BED end, records
    placed past the @SQ length included (issue 19, item 17). One warning for the sample, in the warnings file."""
    bed = tmp_path / "regions.bed"
    bed.write_text("".join(f"{c}\t{s}\t{e}\n" for c, s, e in PAST_BED))
    warnings = tmp_path / "warnings.txt"
    args = ["--samples", manifest(tmp_path, ("p", past_end_bam)), "--bed", str(bed), "--bed-name=pad.bed",
            "--outdir", str(tmp_path), "--warnings", str(warnings), *plan_args]  # fmt: skip
    result = run_script(*args)
    assert result.returncode == 0, result.stderr
    warning = (
        "pad.bed: 8 lines end past the length of the contig in past.bam (first: c1:901-2000, c1 has 1000 bp): "
        "counted to the BED end, as samtools view -c counts them"
    )
    assert f"[WARNING] {warning}\n" in result.stderr
    assert warnings.read_text() == warning + "\n"
    results, planned = [], set()
    samples = count_manifest(tmp_path, ("p", past_end_bam))
    for unit in sorted((tmp_path / "units").iterdir()):
        planned |= {row["mode"] for row in read_tsv(unit.open())}
        results.append(str(tmp_path / f"{unit.stem}.result.tsv"))
        assert count_unit.main(["--samples", samples, "--unit", str(unit), "--out", results[-1]]) == 0
    assert planned == modes
    regions_tsv = str(tmp_path / "regions" / "p.regions.tsv")
    assert reduce_counts.main(["--regions", regions_tsv, "--outdir", str(tmp_path), *results]) == 0
    with open(tmp_path / "p" / "p.counts.tsv") as handle:
        counts = [(row["region"], int(row["count"])) for row in read_tsv(handle)]
    expected = [(f"{c}:{s + 1}-{e}", samtools_count(past_end_bam, f"{{{c}}}:{s + 1}-{e}")) for c, s, e in PAST_BED]
    assert counts == expected
    assert all(count > 0 for _, count in counts)


def test_no_warning_and_no_warnings_file_when_every_bed_end_is_within_its_contig(past_end_bam, tmp_path):
    bed = tmp_path / "regions.bed"
    bed.write_text("c1\t0\t1000\n")
    warnings = tmp_path / "warnings.txt"
    result = run_script("--samples", manifest(tmp_path, ("p", past_end_bam)), "--bed", str(bed),
                        "--outdir", str(tmp_path), "--warnings", str(warnings))  # fmt: skip
    assert (result.returncode, "WARNING" in result.stderr, warnings.exists()) == (0, False, False)


@pytest.mark.parametrize("batch_max_reads, mode", [("1e9", "batch"), ("-1", "single")])
def test_bed_ends_past_the_contig_count_as_samtools_in_a_cram(past_end_bam, tmp_path, batch_max_reads, mode):
    """The same regions in a CRAM of the same records: samtools' counts. A region past a contig's end is
    counted alone: a -M -L pass over a CRAM finds records placed past the length that `samtools view -c
    x.cram {c1}:1001-1300` does not. (A CRAM index gives the planner no read counts: no chunks.)"""
    cram, reference = cram_of(past_end_bam, PAST_CONTIGS, str(tmp_path))
    bed = tmp_path / "regions.bed"
    bed.write_text("".join(f"{c}\t{s}\t{e}\n" for c, s, e in PAST_BED))
    args = ["--samples", manifest(tmp_path, ("p", cram)), "--bed", str(bed), "--reference", reference,
            "--outdir", str(tmp_path), "--batch-max-reads", batch_max_reads]  # fmt: skip
    assert pu.main(args) == 0
    samples = tmp_path / "count_samples.tsv"
    samples.write_text(f"sample\talignments\tindex\np\t{cram}\t{cram}.crai\n")
    results, planned = [], set()
    for unit in sorted((tmp_path / "units").iterdir()):
        planned |= {row["mode"] for row in read_tsv(unit.open())}
        results.append(str(tmp_path / f"{unit.stem}.result.tsv"))
        command = ["--samples", str(samples), "--reference", reference, "--unit", str(unit), "--out", results[-1]]
        assert count_unit.main(command) == 0
    # The regions past a contig's end: single, whatever the plan (a CRAM index's slices stop at the length).
    assert planned == {mode, "single"}
    assert reduce_counts.main(["--regions", str(tmp_path / "regions" / "p.regions.tsv"), "--outdir", str(tmp_path),
                               *results]) == 0  # fmt: skip
    with open(tmp_path / "p" / "p.counts.tsv") as handle:
        counts = [(row["region"], int(row["count"])) for row in read_tsv(handle)]
    regions = [f"{{{c}}}:{s + 1}-{e}" for c, s, e in PAST_BED]
    in_cram = [samtools_count(cram, r, f"-T {reference}") for r in regions]
    assert counts == [(f"{c}:{s + 1}-{e}", n) for (c, s, e), n in zip(PAST_BED, in_cram)]
    # samtools counts no record placed past c1's end in `{c1}:1001-1300` of the CRAM, 56 in the BAM's.
    assert counts[3][1] == 0 < samtools_count(past_end_bam, regions[3])


def test_a_bed_on_samples_of_different_references_is_named(past_end_bam, tmp_path):
    """The BED's contigs with other lengths in other files of the group (item 12): one warning naming them, each
    file once, however many samples share it."""
    other = numbered_bam(str(tmp_path / "other.bam"), [("c1", 1200), ("c2", 500), ("c3", 30_000)])
    bed = tmp_path / "regions.bed"
    bed.write_text("c1\t0\t100\nc2\t0\t100\n")
    warnings = tmp_path / "warnings.txt"
    samples = manifest(tmp_path, ("p", past_end_bam), ("o", other), ("p_again", past_end_bam))
    result = run_script("--samples", samples, "--bed", str(bed), "--outdir", str(tmp_path), "--warnings", str(warnings))
    assert result.returncode == 0, result.stderr
    assert warnings.read_text() == (
        "samples on different references: contigs of the BED have other lengths in other files: 'c1' is 1000 bp "
        "in past.bam and 1200 bp in other.bam: the same BED lines are counted on different references\n"
    )


def idxstats_records(bam):
    """(contig, length, mapped + unmapped) of each contig, as `samtools idxstats` prints them ('*' left out)."""
    lines = subprocess.run(["samtools", "idxstats", bam], capture_output=True, text=True, check=True).stdout
    rows = [line.split("\t") for line in lines.splitlines()]
    return [(name, int(length), int(mapped) + int(unmapped)) for name, length, mapped, unmapped in rows if name != "*"]


def test_the_index_statistics_of_a_run_per_contig_hold_every_contig(tmp_path):
    """Counted per contig, every contig of the header is a region: each sample's every idxstats row is written."""
    reads = [random_pairs(TEST_CONTIGS, 300, random.Random(i)) for i in range(2)]
    bams = [(f"s{i}", write_bam(str(tmp_path / f"s{i}.bam"), TEST_CONTIGS, reads[i])) for i in range(2)]
    plan = tmp_path / "plan"
    assert pu.main(["--samples", manifest(tmp_path, *bams), "--outdir", str(plan)]) == 0
    with open(plan / task_files.INDEX_STATISTICS_FILE) as handle:
        statistics = task_files.read_index_statistics(handle)
    assert statistics == {sample: idxstats_records(bam) for sample, bam in bams}
    assert all(len(rows) == len(TEST_CONTIGS) for rows in statistics.values())


def test_the_plans_index_statistics_are_idxstats_and_spare_each_count_its_idxstats_calls(tmp_path):
    """A panel of 1,200 regions on two of seven contigs, shared by three samples: index_statistics.tsv holds
    each sample's `samtools idxstats` records of the panel's contigs; a unit counted with it asks samtools for
    no idxstats and writes the same result, byte for byte, as one that asks once per sample; the counts are
    samtools view -c's."""
    reads = [random_pairs(TEST_CONTIGS, 800 * (i + 1), random.Random(i)) for i in range(3)]
    bams = [(f"s{i}", write_bam(str(tmp_path / f"s{i}.bam"), TEST_CONTIGS, reads[i])) for i in range(3)]
    bed = tmp_path / "panel.bed"  # 1,200 regions: enough for the counter to merge them by the densities
    bed.write_text("".join(f"{c}\t{s}\t{s + 60}\n" for c in ("chr1", "chr2") for s in range(1_000, 241_000, 400)))
    plan = tmp_path / "plan"
    arguments = ["--samples", manifest(tmp_path, *bams), "--bed", str(bed), "--max-units", "1", "--outdir", str(plan)]
    assert pu.main(arguments) == 0
    with open(plan / task_files.INDEX_STATISTICS_FILE) as handle:
        statistics = task_files.read_index_statistics(handle)
    # Only the contigs of the panel: the others' densities are never asked (each sample has 7 contigs).
    panel_rows = {sample: [row for row in idxstats_records(bam) if row[0] in ("chr1", "chr2")] for sample, bam in bams}
    assert statistics == panel_rows and all(len(rows) == 2 for rows in panel_rows.values())
    unit = str(plan / "units" / "unit_0001.tsv")
    with open(unit) as handle:
        assert {row["sample"] for row in read_tsv(handle)} == {task_files.ALL_SAMPLES}  # one plan for the three
    results, calls = [], []
    for how in ("statistics", "idxstats"):
        log = tmp_path / f"{how}.calls"
        samtools = fake_samtools(tmp_path, f'echo "$1" >> {log}\nexec samtools "$@"')
        extra = ["--index-statistics", str(plan / task_files.INDEX_STATISTICS_FILE)] if how == "statistics" else []
        out = tmp_path / f"{how}.result.tsv"
        command = ["--samples", count_manifest(tmp_path, *bams), "--unit", unit, "--out", str(out)]
        assert count_unit.main([*command, "--samtools", samtools, *extra]) == 0
        results.append(out.read_bytes())
        calls.append(log.read_text().split())
    assert results[0] == results[1]
    assert calls[0].count("idxstats") == 0 and calls[1].count("idxstats") == len(bams)
    assert calls[0].count("view") == calls[1].count("view")  # the same passes, one per sample
    with open(unit) as handle:
        items = task_files.read_unit(handle)
    rows = task_files.read_result_rows(results[0].decode().splitlines(keepends=True), items)
    assert len(rows) == 3 * 1200 and all(row["status"] == "ok" for row in rows)
    bam_of = dict(bams)
    for row in rows[::97]:  # every 97th row: each sample's, on both contigs
        region = f"{{{row['contig']}}}:{int(row['start']) + 1}-{row['end']}"
        assert int(row["count"]) == samtools_count(bam_of[row["sample"]], region), row


# --- a group whose samples share no plan, planned without holding every sample's items (StreamedPlan)


def held_plan_files(samples, regions_of, args, scannable, outdir):
    """The files the planner wrote for a group that shares no plan before it streamed them (a verbatim copy of
    its plan_group branch and main's writing then): every sample's items held, then written. The reference of
    the streamed plan's files."""
    region_reads, overheads = {}, {}
    for s in samples:
        sample = regions_of[s]
        region_reads[s], overheads[s] = pu.reads_and_overheads(
            sample.regions, sample.contig_reads, sample.contig_lengths
        )
    total_cost = sum(sum(reads) for reads in region_reads.values()) + sum(sum(o) for o in overheads.values())
    n_units = pu.unit_count(total_cost, args.max_units, args.min_unit_reads)
    target_reads = total_cost / n_units / pu.CHUNKS_PER_SHARE if n_units > 1 else math.inf
    items = []
    for sample in samples:
        regions, contig_lengths = regions_of[sample].regions, regions_of[sample].contig_lengths
        if pu.counted_in_one_pass(regions, sum(region_reads[sample]), total_cost / n_units):
            items += pu.pass_items(regions, region_reads[sample], sample, scannable(sample))
            continue
        items += pu.plan_items(
            regions, region_reads[sample], contig_lengths, args.split_size, target_reads, args.batch_max_reads,
            sample, overheads[sample], regions_of[sample].cram,
        )  # fmt: skip
    items = pu.genomic_order(items, {s: regions_of[s].contig_order for s in samples})
    units = pu.partition_units(items, min(n_units, len(items)), args.fixed_cost_reads)
    os.makedirs(os.path.join(outdir, "units"))
    os.makedirs(os.path.join(outdir, "regions"))
    pu.write_region_tables(os.path.join(outdir, "regions"), samples, regions_of, pu.items_by_sample(items, samples))
    for number, unit in enumerate(units, start=1):
        task_files.write_unit(os.path.join(outdir, "units", task_files.unit_file_name(number)), unit)
    unit_samples = [
        [task_files.unit_file_name(number), sample]
        for number, unit in enumerate(units, start=1)
        for sample in pu.unit_sample_names(unit, samples)
    ]
    task_files.write_unit_samples(os.path.join(outdir, task_files.UNIT_SAMPLES_FILE), unit_samples)
    return pu.chunk_warnings([[i.mode for i in unit].count("chunk") for unit in units], args.split_size)


def folder_files(folder):
    """{relative path: bytes} of every file under folder."""
    return {
        os.path.relpath(os.path.join(root, name), folder): pathlib.Path(root, name).read_bytes()
        for root, _, names in os.walk(folder)
        for name in names
    }


def two_references(tmp_path, rng):
    """Two BAMs of TEST_CONTIGS with random reads, the second's chr1 one base longer (another reference: no
    shared plan), and a third of one contig with 40 times the reads (counted through its index, never in one
    pass); each indexed."""
    longer = [(name, length + (name == "chr1")) for name, length in TEST_CONTIGS]
    return [
        write_bam(str(tmp_path / "a.bam"), TEST_CONTIGS, random_pairs(TEST_CONTIGS, 400, rng)),
        write_bam(str(tmp_path / "b.bam"), longer, random_pairs(TEST_CONTIGS, 300, rng)),
        write_bam(str(tmp_path / "c.bam"), TEST_CONTIGS, random_pairs(TEST_CONTIGS[:1], 6_000, rng)),
    ]


@pytest.mark.parametrize("seed", range(12))
def test_a_group_sharing_no_plan_is_streamed_to_the_files_it_held(tmp_path, seed):
    """Random groups whose samples share no plan (BED regions on two references; per contig, samples counted in
    one pass or scan and others not), with random knobs (chunks, batches, single calls, 1 to 9 units): the
    streamed plan writes byte for byte the unit files, regions tables and unit_samples.tsv, and the same
    warnings, as the planner that held every sample's items."""
    rng = random.Random(seed)
    bams = two_references(tmp_path, rng)
    # Both references in every group of two or more (a group of one is streamed too: every run of one sample).
    samples = [(f"s{i}", bams[i] if i < 2 else rng.choice(bams)) for i in range(1 if seed == 1 else rng.randint(2, 6))]
    if seed % 3 == 0:  # per contig
        bed_args = []
    else:
        contigs = [(name, length) for name, length in TEST_CONTIGS if name != "chrEmpty"]
        lines = ["chr1\t100\t200\n"]  # a contig of other lengths: the samples share no plan
        for _ in range(rng.randint(1, 400)):
            name, length = rng.choice(contigs)
            start = rng.randrange(0, length)
            lines.append(f"{name}\t{start}\t{min(length + 5, start + rng.choice((1, 50, 2_000, 90_000)))}\n")
        bed = tmp_path / "panel.bed"
        bed.write_text("".join(lines))
        bed_args = ["--bed", str(bed)]
    knobs = ["--max-units", str(rng.randint(1, 9)), "--split-size", str(rng.choice((0, 1_000, 30_000, 500_000))),
             "--min-unit-reads", str(rng.choice((10, 500, 1_000_000))),
             "--batch-max-reads", str(rng.choice((0, 5, 20_000)))]  # fmt: skip
    samples_tsv = manifest(tmp_path, *samples)
    streamed = tmp_path / "streamed"
    arguments = ["--samples", samples_tsv, *bed_args, *knobs, "--outdir", str(streamed)]
    assert pu.main([*arguments, "--warnings", str(tmp_path / "streamed.warnings")]) == 0

    args = pu.parse_args(arguments)
    with open(samples_tsv) as handle:
        group = list(task_files.read_samples(handle, samples_tsv).values())
    bed_lines = pu.bed_text_lines(pu.read_bed_bytes(str(bed), "panel.bed"), "panel.bed") if bed_args else None
    cache = {}
    regions_of = {files.sample: pu.sample_regions(files, None, bed_lines, "panel.bed", cache) for files in group}
    names = [files.sample for files in group]
    assert len(names) == 1 or not pu.shared_panel(names, regions_of)  # streamed, not plan_shared
    files_of = {files.sample: files for files in group}
    held = tmp_path / "held"
    warnings = held_plan_files(names, regions_of, args, lambda s: pu.starts_placed(files_of[s], None), str(held))
    written = folder_files(streamed)
    assert written.pop(task_files.INDEX_STATISTICS_FILE)
    assert written == folder_files(held)
    streamed_warnings = tmp_path / "streamed.warnings"
    lines = streamed_warnings.read_text().splitlines() if streamed_warnings.exists() else []
    assert [line for line in lines if line.startswith("--split_size")] == warnings
    modes = {
        row["mode"] for name in os.listdir(streamed / "units") for row in read_tsv(open(streamed / "units" / name))
    }
    print(seed, sorted(modes), len(os.listdir(streamed / "units")))


def unit_rows(folder):
    """The rows of every unit file in folder/units, unit by unit."""
    units = []
    for name in sorted(os.listdir(folder / "units")):
        with open(folder / "units" / name) as handle:
            units.append([tuple(row.values()) for row in read_tsv(handle)])
    return units


def test_units_of_a_group_sharing_no_plan_hold_at_most_max_unit_items(tmp_path, monkeypatch):
    """A counting task holds its unit's items: a unit of more than MAX_UNIT_ITEMS items (here 150) is cut into
    parts of about equal items, in order, a sample counted in one pass never cut; the items are the same, in
    the same order, as without the bound, and unit_samples.tsv names each part's samples."""
    rng = random.Random(7)
    bams = two_references(tmp_path, rng)
    bed = tmp_path / "panel.bed"
    bed.write_text("".join(f"chr{1 + i % 2}\t{i * 300}\t{i * 300 + 100}\n" for i in range(500)))
    samples = manifest(tmp_path, ("a", bams[0]), ("b", bams[1]), ("c", bams[2]))
    arguments = ["--samples", samples, "--bed", str(bed), "--max-units", "2", "--min-unit-reads", "10"]
    assert pu.main([*arguments, "--outdir", str(tmp_path / "unbounded")]) == 0
    monkeypatch.setattr(pu, "MAX_UNIT_ITEMS", 150)
    assert pu.main([*arguments, "--outdir", str(tmp_path / "bounded")]) == 0
    unbounded, bounded = unit_rows(tmp_path / "unbounded"), unit_rows(tmp_path / "bounded")
    assert len(unbounded) == 2 and sum(map(len, unbounded)) == 1500  # 3 x 500 items, 2 units balanced by reads
    assert len(bounded) == sum(math.ceil(len(unit) / 150) for unit in unbounded)  # each cut into equal parts
    assert all(125 <= len(unit) <= 150 for unit in bounded), [len(unit) for unit in bounded]
    assert sum(bounded, []) == sum(unbounded, [])
    with open(tmp_path / "bounded" / task_files.UNIT_SAMPLES_FILE) as handle:
        named = [(row["unit"], row["sample"]) for row in read_tsv(handle)]
    assert named == [
        (task_files.unit_file_name(number), sample)
        for number, unit in enumerate(bounded, start=1)
        for sample in dict.fromkeys(row[0] for row in unit)
    ]
    # Per contig, a sample counted in one pass is one atom: never cut, whatever its items.
    samples = manifest(tmp_path, *[(f"s{i}", bams[i % 2]) for i in range(4)])
    monkeypatch.setattr(pu, "MAX_UNIT_ITEMS", 3)
    assert pu.main(["--samples", samples, "--max-units", "1", "--outdir", str(tmp_path / "contigs")]) == 0
    assert [{row[6] for row in unit} for unit in unit_rows(tmp_path / "contigs")] == [{"scan"}] * 4
    assert [len(unit) for unit in unit_rows(tmp_path / "contigs")] == [len(TEST_CONTIGS)] * 4


def test_units_of_a_shared_plan_hold_at_most_max_unit_items(tmp_path, monkeypatch):
    """Samples that share a panel share its items (ALL_SAMPLES): a unit of more than MAX_UNIT_ITEMS items (here
    150) is cut into parts of about equal items, in order, every part counted in every sample."""
    rng = random.Random(8)
    bams = two_references(tmp_path, rng)  # a.bam and c.bam: one reference, so one plan for both
    bed = tmp_path / "panel.bed"
    bed.write_text("".join(f"chr{1 + i % 2}\t{i * 300}\t{i * 300 + 100}\n" for i in range(500)))
    samples = manifest(tmp_path, ("a", bams[0]), ("c", bams[2]))
    arguments = ["--samples", samples, "--bed", str(bed), "--max-units", "2", "--min-unit-reads", "10"]
    assert pu.main([*arguments, "--outdir", str(tmp_path / "unbounded")]) == 0
    monkeypatch.setattr(pu, "MAX_UNIT_ITEMS", 150)
    assert pu.main([*arguments, "--outdir", str(tmp_path / "bounded")]) == 0
    unbounded, bounded = unit_rows(tmp_path / "unbounded"), unit_rows(tmp_path / "bounded")
    assert {row[0] for unit in unbounded for row in unit} == {task_files.ALL_SAMPLES}  # the shared plan
    assert len(unbounded) == 2 and sum(map(len, unbounded)) == 500 and max(map(len, unbounded)) > 150
    assert len(bounded) == sum(math.ceil(len(unit) / 150) for unit in unbounded)
    assert all(len(unit) <= 150 for unit in bounded) and min(map(len, bounded)) >= 100, list(map(len, bounded))
    assert sum(bounded, []) == sum(unbounded, [])
    with open(tmp_path / "bounded" / task_files.UNIT_SAMPLES_FILE) as handle:
        named = [(row["unit"], row["sample"]) for row in read_tsv(handle)]
    assert named == [(task_files.unit_file_name(n), s) for n in range(1, len(bounded) + 1) for s in ("a", "c")]
