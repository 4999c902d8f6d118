"""bam_records.py: a `samtools view -u` stream decoded with numpy, and the records overlapping each interval.

The oracles are a record-by-record comparison (htslib's overlap rule, written out in the test) on random
streams, and samtools itself (`samtools view -c <bam> <region>`, see test_overlap_sweep.py for the counting task's
use of it). Chunks are made tiny here so that records and intervals straddle chunk boundaries.
"""

import io
import random
import subprocess
import tracemalloc

import bam_records as br
import overlap_sweep as sweep
import pytest
from make_test_data import Read, write_bam

CIGARS = ["10M", "1M", None, "5S", "4I", "3M20N4M", "2M5D2M", "60M", "1M500N1M", "3S2M1D2M3S", "2=1X2="]


def uncompressed_bam(path, contigs, reads):
    """The bytes `samtools view -u` writes for the reads (BGZF level 0)."""
    write_bam(str(path), contigs, reads, index=False)
    return subprocess.run(["samtools", "view", "-u", str(path)], capture_output=True, check=True).stdout


def brute_force(reads, intervals):
    """Overlaps by htslib's rule, record by record: [pos, bam_endpos) against [start, end)."""
    counts = []
    for contig, start, end in intervals:
        counts.append(
            sum(
                read.contig == contig
                and read.pos < end
                and sweep.reference_end(read.pos, read.flag, (read.cigar or "*").encode()) > start
                for read in reads
            )
        )
    return counts


def query_length(cigar):
    return sum(int(n) for n, op in sweep.CIGAR_OP.findall(cigar) if op in b"MIS=X")


def random_reads(rng, contigs):
    reads = []
    for i in range(rng.randint(0, 300)):
        contig, length = rng.choice(contigs)
        cigar = rng.choice(CIGARS)
        flag = rng.choice([0, 0x4, 0x10, 0x1 | 0x4, 0x100])
        length_read = query_length(cigar.encode()) if cigar else 20
        reads.append(Read(f"r{i}", flag, contig, rng.randrange(0, length), cigar, length=length_read))
    return reads


@pytest.mark.parametrize("read_bytes", [300, 5000, br.READ_BYTES])
def test_counts_equal_record_by_record_overlaps_on_random_streams(tmp_path, monkeypatch, read_bytes):
    """300 bytes a chunk: a record (~100 bytes) straddles most chunk boundaries, and an interval's bounds
    fall in many chunks."""
    monkeypatch.setattr(br, "READ_BYTES", read_bytes)
    rng = random.Random(read_bytes)
    contigs = [("a", 400), ("b", 300), ("c", 50)]
    for n in range(40):
        reads = random_reads(rng, contigs)
        intervals = []
        for _ in range(rng.randint(1, 30)):
            start = rng.randint(0, 420)
            intervals.append((rng.choice("abcz"), start, start + rng.choice([1, 2, 5, 30, 200, 1000])))
        intervals += rng.sample(intervals, min(len(intervals), 3))  # duplicates
        data = uncompressed_bam(tmp_path / f"s{n}.bam", contigs, reads)
        assert br.overlap_counts(io.BytesIO(data), intervals) == brute_force(reads, intervals)


def test_counts_equal_samtools_on_the_tricky_records(tmp_path):
    """Spliced, deleted, clipped-only, unmapped-but-placed reads (see test_overlap_sweep.py) and a pile at one base,
    on regions at their first and last bases: each count is `samtools view -c <bam> <region>`."""
    from test_overlap_sweep import CONTIGS, TRICKY_REGIONS, tricky_reads

    bam = write_bam(str(tmp_path / "tricky.bam"), CONTIGS, tricky_reads(random.Random(3)))
    data = subprocess.run(["samtools", "view", "-u", bam], capture_output=True, check=True).stdout
    expected = [
        int(subprocess.run(["samtools", "view", "-c", bam, f"{{{c}}}:{s + 1}-{e}"], capture_output=True).stdout)
        for c, s, e in TRICKY_REGIONS
    ]
    assert br.overlap_counts(io.BytesIO(data), TRICKY_REGIONS) == expected
    assert sum(expected) > 5000


def test_the_header_gives_contig_names_as_count_unit_does(tmp_path):
    """Names with ':' '*' and bytes outside UTF-8 in the header: matched by the same str as the unit file's."""
    contigs = [("HLA-A*01:01", 1000), ("chr1", 1000)]
    data = uncompressed_bam(tmp_path / "n.bam", contigs, [Read("r", 0, "HLA-A*01:01", 10, "50M", length=50)])
    names, chunks = br.record_chunks(io.BytesIO(data))
    assert names == ["HLA-A*01:01", "chr1"]
    assert [(list(r), list(p), list(e)) for r, p, e in chunks] == [([0], [10], [60])]


def test_a_stream_cut_inside_a_record_or_not_bam_is_an_error(tmp_path):
    contigs = [("a", 10_000)]
    reads = [Read(f"r{i}", 0, "a", i, "50M", length=50) for i in range(200)]
    bam = write_bam(str(tmp_path / "cut.bam"), contigs, reads, index=False)
    level0 = subprocess.run(["samtools", "view", "-u", bam], capture_output=True, check=True).stdout
    # A BGZF stream of the same records with its last member cut in the middle of a record.
    with pytest.raises(br.BamStreamError, match="not a complete BGZF stream|ends inside"):
        br.overlap_counts(io.BytesIO(level0[: len(level0) // 2]), [("a", 0, 100)])
    with pytest.raises(br.BamStreamError, match="not a complete BGZF stream"):
        br.overlap_counts(io.BytesIO(b"not SAM\n"), [("a", 0, 100)])
    with pytest.raises(br.BamStreamError, match="ends inside the BAM header"):
        br.overlap_counts(io.BytesIO(b""), [("a", 0, 100)])


def test_memory_is_one_chunk_whatever_the_stream(tmp_path):
    """200,000 records (70 MB uncompressed) against 2,000 intervals: the peak stays near a few chunks."""
    sam = tmp_path / "big.sam"
    with open(sam, "wb") as out:
        out.write(b"@SQ\tSN:c\tLN:1000000\n")
        for i in range(200_000):
            out.write(b"r%d\t0\tc\t%d\t60\t150M\t*\t0\t0\t%s\t%s\n" % (i, 1 + 5 * i, b"A" * 150, b"I" * 150))
    intervals = [("c", start, start + 200) for start in range(0, 1_000_000, 500)]
    process = subprocess.Popen(["samtools", "view", "-u", str(sam)], stdout=subprocess.PIPE)
    tracemalloc.start()
    try:
        counts = br.overlap_counts(process.stdout, intervals)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        process.wait()
    # Read i spans [5i, 5i + 150): it overlaps [s, s + 200) when s - 150 < 5i < s + 200.
    near = [range(max(0, s // 5 - 40), s // 5 + 41) for _, s, _ in intervals]
    assert counts == [sum(s - 150 < 5 * i < s + 200 for i in reads) for (_, s, _), reads in zip(intervals, near)]
    assert counts[:2] == [40, 69]
    assert peak < 12 * br.READ_BYTES, peak
