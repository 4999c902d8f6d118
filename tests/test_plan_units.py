"""Unit tests for bin/plan_units.py: regions, BED parsing, splitting, batching and unit packing."""

import os
import random
import subprocess
import sys

import plan_units as pu
import pysam
import pytest
from conftest import ROOT
from make_test_data import TEST_CONTIGS, random_pairs, write_bam

LENGTHS = dict(TEST_CONTIGS)


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
    assert "line 1: contig 'chrNope' is not in the BAM header" in message
    assert "line 2: start 50 is not less than end 50" in message
    assert "line 3: start and end must be non-negative integers, got 'ten', '20'" in message
    assert "line 4: expected at least 3 tab-separated columns, got 2" in message
    assert "line 5" not in message


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


def test_grch38_like_header_gives_bounded_balanced_deterministic_complete_units():
    contigs = [(f"c{i}", (200_000_000 if i < 25 else 50_000)) for i in range(3366)]
    reads = {name: (1_000_000 if i < 25 else 30) for i, (name, _) in enumerate(contigs)}
    total = sum(reads.values())
    n_units = pu.unit_count(total, 16, 1_000_000)
    assert n_units == 16
    items = plan(contigs, reads, 50_000_000, total / n_units / pu.CHUNKS_PER_SHARE, 20_000)
    units = pu.pack_units(items, n_units, 50_000)
    assert len(units) == 16
    packed = [item for unit in units for item in unit]
    assert sorted(packed, key=items.index) == items
    loads = [sum(pu.item_cost(i, 50_000) for i in unit) for unit in units]
    assert max(loads) <= 1.34 * (sum(loads) / len(loads))
    samtools_calls = sum(1 for i in items if i.mode != "batch") + len(units)
    assert samtools_calls < 150


def test_unit_count_follows_reads_within_bounds():
    assert pu.unit_count(24_000_000, 16, 1_000_000) == 16  # the bound
    assert pu.unit_count(24_000_000, 16, 4_000_000) == 6
    assert pu.unit_count(1_500, 16, 1_000_000) == 1  # a tiny input: one task
    assert pu.unit_count(1_500, 16, 0) == 16  # 0: always the bound


def test_pack_units_keeps_empty_contigs_together():
    empty = plan([("a", 10), ("b", 10)], {}, 0, 1.0, 100)
    assert [[i.contig for i in unit] for unit in pu.pack_units(empty, 2, 100)] == [["a", "b"]]
    busy = plan([("a", 10), ("b", 10)], {"a": 10**6, "b": 10**6}, 0, 10**6, 100)
    assert [[i.contig for i in unit] for unit in pu.pack_units(busy, 2, 100)] == [["a"], ["b"]]


def test_main_writes_regions_and_units(tmp_path):
    bam = write_bam(str(tmp_path / "s.bam"), TEST_CONTIGS, random_pairs(TEST_CONTIGS, 300, random.Random(3)))
    code = pu.main(
        [
            "--alignments",
            bam,
            "--index",
            bam + ".bai",
            "--sample",
            "s",
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
    with open(tmp_path / "s.regions.tsv") as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle]
    assert rows[0] == pu.REGION_COLUMNS
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
        subprocess.run(
            [sys.executable, os.path.join(ROOT, "bin", "plan_units.py"), "--alignments", bam, "--sample", "s"]
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
    assert (
        pu.main(["--alignments", path, "--sample", "nosq", "--input-name", "nosq.bam", "--outdir", str(tmp_path)]) == 2
    )
    assert "nosq.bam: the header has no @SQ lines" in caplog.text
    assert not os.path.exists(tmp_path / "nosq.regions.tsv")
