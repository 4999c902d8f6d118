"""The batch pass's sweep: records of one `samtools view -M -L` pass assigned to
the regions they overlap, in records + regions + overlaps, holding only the records that span one base.

The oracle is samtools: every batched region's count must equal `samtools view -c <bam> <region>`. The BAM
holds the records an overlap rule gets wrong first: spliced reads (N) and deletions, reads spanning many
regions, unmapped reads placed at a position (with and without a CIGAR: htslib gives them one base),
records whose CIGAR consumes no reference (one base too); the regions are nested, overlapping, adjacent,
duplicated, empty of reads, one base long at a read's first and last base, and many random ones.
"""

import math
import random
import time
import tracemalloc

import count_modes as modes
import overlap_sweep as sweep
import pysam
import pytest
import task_files as tf
import unit_counting as uc
from conftest import fake_samtools, samtools_count
from make_test_data import Read, write_bam

CONTIGS = [("c1", 100_000), ("c2", 30_000), ("lonely", 10_000)]
# (CIGAR, flag): what htslib's bam_endpos treats differently from "POS + read length".
TRICKY = [
    ("100M", 0),
    ("150M", 0x10),
    ("30M2000N30M", 0),  # spliced
    ("10M40000N10M", 0x100),  # spans many regions (c1 only)
    ("40M300D40M", 0x400),  # a deletion
    ("20S", 0),  # no reference-consuming operation: one base
    ("10I", 0x800),
    ("5S10I5S", 0),
    (None, 0x1 | 0x4 | 0x80),  # unmapped, placed at its mate's position: one base
    ("60M", 0x4),  # unmapped with a CIGAR: still one base
    ("5M1D5M1N5M", 0),
]


def query_length(cigar):
    return sum(int(n) for n, op in sweep.CIGAR_OP.findall(cigar.encode()) if op in b"MIS=X")


def tricky_reads(rng):
    reads = []
    for i in range(5000):
        contig = "c1" if i % 5 else "c2"
        cigar, flag = rng.choice(TRICKY if contig == "c1" else TRICKY[:3] + TRICKY[4:])
        # c2's reads end before 23 kb: [25000, 26000) holds none.
        pos = rng.randrange(0, 99_000 if contig == "c1" else 20_000)
        length = query_length(cigar) if cigar else 50
        reads.append(Read(f"r{i}", flag, contig, pos, cigar, rng.randint(0, 60), contig, pos, 0, length))
    reads.append(Read("edge", 0, "c1", 50_000, "100M"))  # [50000, 50100): regions at its first and last base
    reads += [Read(f"pile{i}", 0, "c1", 70_000, "50M", length=50) for i in range(30)]  # one position, 30 times
    return reads


@pytest.fixture(scope="module")
def bam(tmp_path_factory):
    return write_bam(str(tmp_path_factory.mktemp("sweep") / "tricky.bam"), CONTIGS, tricky_reads(random.Random(3)))


@pytest.fixture(params=["bam", "sam"])
def reader(request, monkeypatch):
    """Each counting-task test runs twice: the pass read as BAM with numpy (bam_records.py), and as SAM text by
    the sweep below (overlap_sweep.overlap_counts, used where numpy is missing)."""
    if request.param == "sam":
        monkeypatch.setattr(modes, "bam_records", None)
    return request.param


def batch_item(contig, start, end, region_id="r"):
    return tf.UnitItem("s", region_id, contig, start, end, False, "batch")


def batch_counts(items, bam, tmp_path, samtools="samtools"):
    outcomes = uc.count_unit(items, {"s": tf.SampleFiles("s", bam, bam + ".bai")}, samtools, None, 0, "", str(tmp_path))
    assert all(o.status == "ok" for o in outcomes), [o.message for o in outcomes if o.status != "ok"][:3]
    return [o.count for o in outcomes]


def samtools_region(it):
    return f"{{{it.contig}}}:{it.start + 1}-{it.end}"


TRICKY_REGIONS = [
    ("c1", 1000, 9000),  # nested three deep
    ("c1", 2000, 3000),
    ("c1", 2500, 2600),
    ("c1", 10_000, 12_000),  # overlapping
    ("c1", 11_000, 13_000),
    ("c1", 20_000, 21_000),  # adjacent
    ("c1", 21_000, 22_000),
    ("c1", 22_000, 22_001),
    ("c1", 30_000, 31_000),  # the same interval twice (and a third time under another id below)
    ("c1", 30_000, 31_000),
    ("c1", 49_999, 50_000),  # one base before, at the first, last and one past the last base of `edge`
    ("c1", 50_000, 50_001),
    ("c1", 50_099, 50_100),
    ("c1", 50_100, 50_101),
    ("c1", 69_999, 70_000),  # around the pile of 30 records at one position
    ("c1", 70_000, 70_001),
    ("c1", 70_049, 70_050),
    ("c1", 70_050, 70_051),
    ("c1", 0, 100_000),  # the whole contig as an interval, over every other region
    ("c1", 99_999, 100_000),
    ("c2", 0, 30_000),
    ("c2", 25_000, 26_000),  # no reads
    ("c2", 19_000, 19_001),
    ("lonely", 0, 10_000),  # a contig without reads
    ("lonely", 5, 6),
]


def test_tricky_regions_count_as_samtools_does(bam, tmp_path, reader):
    items = [batch_item(c, s, e, region_id=str(i)) for i, (c, s, e) in enumerate(TRICKY_REGIONS)]
    items.append(batch_item("c1", 30_000, 31_000, region_id="9"))  # a duplicate with the same id as another
    items.append(items[9])
    expected = [samtools_count(bam, samtools_region(it)) for it in items]
    assert batch_counts(items, bam, tmp_path) == expected
    named = dict(zip(TRICKY_REGIONS, expected))
    assert named[("c2", 25_000, 26_000)] == named[("lonely", 0, 10_000)] == 0
    assert named[("c1", 70_000, 70_001)] >= 30 and named[("c1", 49_999, 50_000)] != named[("c1", 50_000, 50_001)]


def test_the_data_holds_the_tricky_records(bam):
    """Each kind of record is there and lies in some region, so the comparisons above mean something."""
    with pysam.AlignmentFile(bam) as aln:
        seen = {(r.cigarstring, r.flag & 0x4) for r in aln.fetch("c1")}
    assert {(cigar, flag & 0x4) for cigar, flag in TRICKY} <= seen


def random_regions(rng, n):
    regions = []
    for _ in range(n):
        contig, length = rng.choice(CONTIGS)
        size = min(length, int(math.exp(rng.uniform(0, math.log(20_000)))))
        start = rng.randrange(0, length - size + 1)
        regions.append((contig, start, start + size))
    return regions


def test_random_regions_count_as_samtools_does(bam, tmp_path, reader):
    items = [batch_item(c, s, e, region_id=str(i)) for i, (c, s, e) in enumerate(random_regions(random.Random(8), 300))]
    assert batch_counts(items, bam, tmp_path) == [samtools_count(bam, samtools_region(it)) for it in items]


def test_thousands_of_random_regions_count_as_htslib_does(bam, tmp_path, reader):
    """5,000 regions in one pass, against htslib's own iterator through pysam (the same overlap rule as
    samtools view -c, checked against samtools on the first 50)."""
    regions = random_regions(random.Random(9), 5000)
    items = [batch_item(c, s, e, region_id=str(i)) for i, (c, s, e) in enumerate(regions)]
    with pysam.AlignmentFile(bam) as aln:
        expected = [aln.count(c, s, e, read_callback="nofilter") for c, s, e in regions]
    assert expected[:50] == [samtools_count(bam, samtools_region(it)) for it in items[:50]]
    assert batch_counts(items, bam, tmp_path) == expected


def test_a_bounded_cigar_cache_changes_no_count(bam, tmp_path, monkeypatch):
    monkeypatch.setattr(modes, "bam_records", None)  # the cache is the SAM sweep's
    monkeypatch.setattr(sweep, "CIGAR_CACHE_SIZE", 2)  # cleared every few records
    items = [batch_item(c, s, e, region_id=str(i)) for i, (c, s, e) in enumerate(TRICKY_REGIONS)]
    assert batch_counts(items, bam, tmp_path) == [samtools_count(bam, samtools_region(it)) for it in items]


# The sweep alone, on SAM lines written here.


def sam_line(contig, pos, flag=0, cigar="10M"):
    """A SAM line (bytes) with a 1-based POS."""
    return f"q\t{flag}\t{contig}\t{pos}\t60\t{cigar}\t*\t0\t0\t*\t*\n".encode()


def brute_force(records, items):
    """Overlaps by htslib's rule, record by record: [POS-1, bam_endpos) against [start, end)."""
    counts = []
    for it in items:
        counts.append(
            sum(
                contig == it.contig
                and pos - 1 < it.end
                and sweep.reference_end(pos - 1, flag, cigar.encode()) > it.start
                for contig, pos, flag, cigar in records
            )
        )
    return counts


def test_the_sweep_equals_record_by_record_overlaps_on_random_streams():
    rng = random.Random(4)
    cigars = ["10M", "1M", "*", "5S", "4I", "3M20N4M", "2M5D2M", "60M", "1M500N1M", "3S2M1D2M3S"]
    for _ in range(2000):
        records = []
        for contig in rng.sample(["a", "b", "c"], rng.randint(1, 3)):  # contigs in any order, each contiguous
            for pos in sorted(rng.randint(1, 300) for _ in range(rng.randint(0, 40))):
                records.append((contig, pos, rng.choice([0, 0x4, 0x10, 0x1 | 0x4]), rng.choice(cigars)))
        items = []
        for _ in range(rng.randint(1, 20)):
            start = rng.randint(0, 320)
            items.append(batch_item(rng.choice(["a", "b", "c", "z"]), start, start + rng.choice([1, 2, 5, 30, 200])))
        items += rng.sample(items, min(len(items), 3))  # duplicates
        lines = [sam_line(*record) for record in records]
        assert sweep.overlap_counts(lines, items) == brute_force(records, items)


@pytest.mark.parametrize(
    "records, where",
    [
        ([("a", 10), ("a", 9)], "a:9 follows 10"),
        ([("a", 5), ("a", 5), ("a", 100), ("a", 50)], "a:50 follows 100"),
        ([("a", 10), ("b", 5), ("a", 20)], "records of a are not contiguous"),
        ([("a", 10), ("b", 5), ("b", 1)], "b:1 follows 5"),  # b has no item: still checked
    ],
)
def test_records_out_of_coordinate_order_stop_the_sweep(records, where):
    lines = [sam_line(contig, pos) for contig, pos in records]
    with pytest.raises(sweep.RecordOrderError, match=where):
        sweep.overlap_counts(lines, [batch_item("a", 0, 1000), batch_item("a", 995, 1000)])


def test_a_pass_out_of_order_or_unreadable_is_recounted_region_by_region(bam, tmp_path, caplog, reader):
    """A -M pass whose records come reversed, or whose output is not SAM (not BAM), fails as a pass (the sweep
    would count wrong); each region is then counted alone, by samtools view -c: the counts are samtools'."""
    items = [batch_item(c, s, e, region_id=str(i)) for i, (c, s, e) in enumerate(TRICKY_REGIONS)]
    expected = [samtools_count(bam, samtools_region(it)) for it in items]
    reversed_pass = fake_samtools(
        tmp_path,
        'if [[ " $* " == *" -M "* ]]; then samtools "$@" | tac; exit "${PIPESTATUS[0]}"; fi\nexec samtools "$@"',
    )
    assert batch_counts(items, bam, tmp_path, samtools=reversed_pass) == expected
    assert ("records out of order" if reader == "sam" else "not a complete BGZF stream") in caplog.text
    garbage = fake_samtools(
        tmp_path, 'if [[ " $* " == *" -M "* ]]; then echo "not SAM"; exit 0; fi\nexec samtools "$@"'
    )
    caplog.clear()
    assert batch_counts(items, bam, tmp_path, samtools=garbage) == expected
    unreadable = "list index out of range" if reader == "sam" else "not a complete BGZF stream: no gzip magic"
    assert f"cannot count the output of samtools ({unreadable}" in caplog.text


def stream_records(n_records):
    """(POS, CIGAR) of n_records reads, made one at a time: 150 bp reads every 2 bases, some spliced over 5 kb."""
    for i in range(n_records):
        yield 1 + 2 * i, "75M5000N75M" if i % 50 == 0 else "150M"


def stream(n_records):
    """The SAM lines of stream_records, made one at a time."""
    for i, (pos, cigar) in enumerate(stream_records(n_records)):
        yield b"read%d\t99\tc\t%d\t60\t%s\t=\t1\t0\t%s\t%s\n" % (i, pos, cigar.encode(), b"A" * 150, b"I" * 150)


def test_the_sweep_holds_only_the_records_spanning_one_base():
    """100,000 records streamed (35 MB of SAM), a region every 300 bp and one over all of them: the peak
    memory stays far below one record set of a contig (the records covering one base: about 75 + spliced)."""
    items = [batch_item("c", start, start + 200) for start in range(0, 200_000, 300)] + [batch_item("c", 0, 10**6)]
    tracemalloc.start()
    try:
        counts = sweep.overlap_counts(stream(100_000), items)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert counts[-1] == 100_000
    assert peak < 1_000_000, peak  # the records' lines alone would take 35 MB, their ends 2.8 MB


def test_the_sweep_costs_records_plus_regions_not_their_product():
    """200,000 regions and 200,000 records on one contig: a comparison of every record with every region
    (4 x 10^10) would take hours; the sweep takes about a second."""
    items = [batch_item("c", start, start + 150) for start in range(0, 400_000, 2)]
    started = time.perf_counter()
    counts = sweep.overlap_counts(stream(200_000), items)
    assert time.perf_counter() - started < 30
    records = [("c", pos, 99, cigar) for pos, cigar in stream_records(1200)]
    sample = items[900:1100:7]
    assert [counts[900 + 7 * k] for k in range(len(sample))] == brute_force(records, sample)
