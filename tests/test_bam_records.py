"""bam_records.py: a `samtools view -u` stream decoded with numpy, and the records overlapping each interval.

The oracles are a record-by-record comparison (htslib's overlap rule, written out in the test) on random
streams, and samtools itself (`samtools view -c <bam> <region>`, see test_overlap_sweep.py for the counting task's
use of it). Chunks are made tiny here so that records and intervals straddle chunk boundaries.
"""

import gzip
import io
import random
import struct
import subprocess
import tracemalloc
import zlib

import bam_records as br
import overlap_sweep as sweep
import pysam
import pytest
from conftest import samtools_count
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
        process.stdout.close()  # samtools may still be writing: a failed count must not hang the test
        process.wait()
    # Read i spans [5i, 5i + 150): it overlaps [s, s + 200) when s - 150 < 5i < s + 200.
    near = [range(max(0, s // 5 - 40), s // 5 + 41) for _, s, _ in intervals]
    assert counts == [sum(s - 150 < 5 * i < s + 200 for i in reads) for (_, s, _), reads in zip(intervals, near)]
    assert counts[:2] == [40, 69]
    assert peak < 12 * br.READ_BYTES, peak


# The BGZF block reader (bam_records.Stream) against the gzip.GzipFile reader it replaced (GzipStream, the
# reference), on streams samtools, pysam and this file write: the same bytes, the same records, and errors for
# every cut, flipped byte and stream that is not BGZF.


class GzipStream:
    """The reader bam_records.Stream replaced, kept as the reference: gzip.GzipFile, READ_BYTES at a time."""

    def __init__(self, raw):
        self._reader = gzip.GzipFile(fileobj=raw, mode="rb")
        self.data = b""

    def more(self):
        try:
            block = self._reader.read(br.READ_BYTES)
        except (OSError, EOFError, zlib.error) as err:
            raise br.BamStreamError(f"not a complete BGZF stream: {err}") from None
        self.data += block
        return bool(block)

    def need(self, n_bytes, what):
        while len(self.data) < n_bytes:
            if not self.more():
                raise br.BamStreamError(f"the stream ends inside {what}")


EOF_BLOCK = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")  # the SAM spec's, 4.1.2


def deflated(data, level=0):
    deflate = zlib.compressobj(level, zlib.DEFLATED, -15)
    return deflate.compress(data) + deflate.flush()


def gzip_member(payload, data, extra, flags=0x4, name=b""):
    """A gzip member of `data` deflated as `payload`, with the extra field `extra` (and a file name: FNAME)."""
    head = struct.pack("<BBBBIBBH", 0x1F, 0x8B, 8, flags, 0, 0, 0xFF, len(extra))
    return head + extra + name + payload + struct.pack("<II", zlib.crc32(data), len(data))


def bgzf_block(data, level=0, before=b"", after=b"", flags=0x4, name=b""):
    """One BGZF block of `data`, with extra subfields `before` and `after` its BC subfield."""
    payload = deflated(data, level)
    size = 12 + len(before) + 6 + len(after) + len(name) + len(payload) + 8
    return gzip_member(payload, data, before + b"BC" + struct.pack("<HH", 2, size - 1) + after, flags, name)


def reblocked(stream, sizes, eof_every=0, **options):
    """The inflated bytes of a BGZF stream written again as blocks of `sizes` bytes (cycled), an EOF block
    after every eof_every blocks (0: none but the last)."""
    data, blocks, at = gzip.decompress(stream), [], 0
    while at < len(data):
        size = sizes[len(blocks) % len(sizes)]
        blocks.append(bgzf_block(data[at : at + size], **options))
        at += size
        if eof_every and len(blocks) % eof_every == 0:
            blocks.append(EOF_BLOCK)
    return b"".join(blocks) + EOF_BLOCK


def record_offsets(data):
    """The offsets of the records in the inflated bytes of a BGZF stream, and the end of the last."""
    data = gzip.decompress(data)
    offset = 8 + struct.unpack_from("<i", data, 4)[0]
    n_references = struct.unpack_from("<i", data, offset)[0]
    offset += 4
    for _ in range(n_references):
        offset += 8 + struct.unpack_from("<i", data, offset)[0]
    offsets = []
    while offset < len(data):
        offsets.append(offset)
        offset += 4 + struct.unpack_from("<i", data, offset)[0]
    return offsets, offset


def all_spans(data, stream=None):
    """The contig names and every record's (reference id, pos, bam_endpos) of a stream, by bam_records' reader
    or by the class `stream` in its place (GzipStream)."""
    if stream is None:
        names, chunks = br.record_chunks(io.BytesIO(data))
        return names, [span for chunk in chunks for span in zip(*(array.tolist() for array in chunk))]
    saved, br.Stream = br.Stream, stream
    try:
        return all_spans(data)
    finally:
        br.Stream = saved


def inflated(data, raw_bytes):
    stream = br.Stream(io.BytesIO(data), raw_bytes)
    pieces = []
    while stream.more():
        pieces.append(stream.data)
        stream.data = b""
    return b"".join(pieces)


@pytest.fixture(scope="module")
def streams(tmp_path_factory):
    """name -> a BGZF stream of generated reads: samtools view -u's (level 0) and the BAM pysam wrote
    (compressed), of ~3,000 records over several 64 KB blocks, and one of 80 records."""
    folder = tmp_path_factory.mktemp("streams")
    rng = random.Random(11)
    contigs = [("a", 5000), ("b", 3000), ("HLA-A*01:01", 2000)]
    reads = [read for _ in range(25) for read in random_reads(rng, contigs)]
    reads += [Read(f"u{i}", 0x4, None, -1, None, length=30) for i in range(20)]  # unplaced: reference id -1
    bam = write_bam(str(folder / "many.bam"), contigs, reads)
    small = write_bam(str(folder / "small.bam"), contigs, reads[:80], index=False)
    with open(bam, "rb") as handle:
        compressed = handle.read()

    def level0(path):
        return subprocess.run(["samtools", "view", "-u", path], capture_output=True, check=True).stdout

    return {"level0": level0(bam), "compressed": compressed, "small": level0(small), "bam": bam, "reads": reads}


def test_the_samtools_and_pysam_streams_have_what_the_tests_need(streams):
    for name in ("level0", "compressed"):
        offsets, end = record_offsets(streams[name])
        assert len(offsets) > 2500 and end == len(gzip.decompress(streams[name]))
    assert len(gzip.decompress(streams["level0"])) > 4 * 65536
    assert streams["level0"].endswith(EOF_BLOCK) and streams["compressed"].endswith(EOF_BLOCK)


@pytest.mark.parametrize("raw_bytes", [1, 7, 1000, 65535, 65536, 70_000, None])
def test_the_block_reader_inflates_what_gzip_does_whatever_the_read_size(streams, raw_bytes):
    """Reads of 1 byte to more than a block: blocks split across reads, the unread part moved to the buffer's
    front again and again."""
    for name in ("level0", "compressed"):
        data = streams[name]
        assert inflated(data, raw_bytes) == gzip.decompress(data)


def test_more_appends_at_least_read_bytes_until_the_end(streams, monkeypatch):
    monkeypatch.setattr(br, "READ_BYTES", 100_000)
    stream, sizes = br.Stream(io.BytesIO(streams["level0"])), []
    while stream.more():
        sizes.append(len(stream.data))
        stream.data = b""
    assert all(100_000 <= size < 100_000 + 65536 for size in sizes[:-1]) and 0 < sizes[-1]
    assert sum(sizes) == len(gzip.decompress(streams["level0"]))
    assert not stream.more()


@pytest.mark.parametrize("read_bytes", [300, 65536, br.READ_BYTES])
def test_records_and_counts_equal_the_gzip_readers_on_every_kind_of_stream(streams, monkeypatch, read_bytes):
    """samtools' and pysam's streams, and their bytes written again: records across many small blocks (of 1
    to 200 bytes), compressed blocks, blocks with other subfields before and after BC, EOF blocks between
    blocks. The spans and the counts are the gzip reader's and the record-by-record count's."""
    monkeypatch.setattr(br, "READ_BYTES", read_bytes)
    level0 = streams["level0"]
    variants = {
        "samtools": level0,
        "pysam": streams["compressed"],
        "small blocks": reblocked(level0, [1, 13, 200, 57, 2]),
        "compressed small blocks": reblocked(level0, [5000, 37], level=6),
        "full blocks": reblocked(level0, [65536], level=6),  # 65,536 bytes inflated: the most a block holds
        "subfields": reblocked(level0, [65000, 999], before=b"XY\x03\x00abc", after=b"Z1\x00\x00"),
        "EOF blocks between": reblocked(level0, [4000], eof_every=1),
        "two EOF blocks at the end": level0 + EOF_BLOCK,
    }
    expected_names, expected = all_spans(level0, GzipStream)
    assert len(expected) > 2500
    for what, data in variants.items():
        assert all_spans(data, GzipStream) == (expected_names, expected), what
        assert all_spans(data) == (expected_names, expected), what
    rng = random.Random(5)
    intervals = [("a", s, s + rng.choice([1, 10, 150, 2000])) for s in rng.sample(range(5100), 60)]
    intervals += [("b", 0, 3000), ("HLA-A*01:01", 5, 6), ("z", 0, 10)]
    counts = brute_force(streams["reads"], intervals)
    for what, data in variants.items():
        assert br.overlap_counts(io.BytesIO(data), intervals) == counts, what


def test_counts_equal_samtools_on_a_stream_of_many_blocks(streams):
    """`samtools view -c` of regions over the pysam-written BAM (whose reads are sorted by write_bam)."""
    bam, regions = streams["bam"], [("a", 0, 5000), ("a", 1000, 1001), ("b", 2990, 3000), ("HLA-A*01:01", 0, 2000)]
    expected = [samtools_count(bam, f"{{{c}}}:{s + 1}-{e}") for c, s, e in regions]
    assert br.overlap_counts(io.BytesIO(streams["level0"]), regions) == expected
    assert br.overlap_counts(io.BytesIO(reblocked(streams["level0"], [3, 1000])), regions) == expected
    assert min(expected) > 0


def cut_streams(data):
    """The stream cut at every offset but its whole length."""
    return (data[:cut] for cut in range(len(data)))


def test_a_stream_cut_anywhere_is_an_error_never_counts(streams, monkeypatch):
    """samtools' small stream cut at each of its offsets, and the same records one block per record (each
    block boundary a record boundary): cut between two blocks, the stream has no EOF block, and that is what
    tells the cut; the gzip reader (checked here) counted the records before it. Reads of 256 bytes: blocks
    split across reads, and a buffer that is quick to make for each of the ~18,000 streams."""
    monkeypatch.setattr(br, "READ_BYTES", 256)
    small = streams["small"]
    offsets, end = record_offsets(small)
    inflated_bytes = gzip.decompress(small)
    bounds = [0, *offsets, end]
    per_record = b"".join(bgzf_block(inflated_bytes[a:b]) for a, b in zip(bounds, bounds[1:])) + EOF_BLOCK
    intervals = [("a", 0, 5000), ("b", 10, 20)]
    expected = br.overlap_counts(io.BytesIO(small), intervals)
    assert br.overlap_counts(io.BytesIO(per_record), intervals) == expected and sum(expected) > 20
    for data in (small, per_record):
        for cut in cut_streams(data):
            with pytest.raises(br.BamStreamError):
                br.overlap_counts(io.BytesIO(cut), intervals)
    at_a_block = per_record[: len(per_record) - len(EOF_BLOCK) - len(bgzf_block(inflated_bytes[offsets[-1] :]))]
    with pytest.raises(br.BamStreamError, match="ends without BGZF's end-of-file block .*samtools stopped"):
        br.overlap_counts(io.BytesIO(at_a_block), intervals)
    names, spans = all_spans(small, GzipStream)
    assert all_spans(at_a_block, GzipStream) == (names, spans[:-1])  # the gzip reader misses the last record


def test_a_stream_cut_inside_a_block_says_so(streams):
    small = streams["small"]
    with pytest.raises(br.BamStreamError, match=r"ends inside a block \(5 bytes of it\) \(the block at byte 0\)"):
        br.overlap_counts(io.BytesIO(small[:5]), [("a", 0, 1)])
    with pytest.raises(br.BamStreamError, match="ends inside a block"):
        br.overlap_counts(io.BytesIO(small[:-1]), [("a", 0, 1)])


def test_each_flipped_byte_is_an_error(streams):
    """Every byte of samtools' small stream flipped in turn (all bits), but for the gzip header's MTIME, XFL
    and OS (no reader checks them): the magic, method, flags, extra field, deflate data, CRC32, ISIZE."""
    small = streams["small"]
    unchecked, at = set(), 0
    while at < len(small):  # each block's MTIME XFL OS bytes
        unchecked.update(range(at + 4, at + 10))
        at += struct.unpack_from("<H", small, at + 16)[0] + 1
    assert at == len(small)
    for offset in range(len(small)):
        if offset not in unchecked:
            flipped = bytearray(small)
            flipped[offset] ^= 0xFF
            with pytest.raises(br.BamStreamError, match="not a complete BGZF stream"):
                br.overlap_counts(io.BytesIO(bytes(flipped)), [("a", 0, 5000)])


def test_a_flipped_byte_of_a_compressed_block_is_an_error(streams):
    """Bytes of the deflate data and the CRC32 of pysam's first record block."""
    data = streams["compressed"]
    first = struct.unpack_from("<H", data, 16)[0] + 1  # the header's block
    size = struct.unpack_from("<H", data, first + 16)[0] + 1
    for offset in [*range(first + 18, first + size, 97), first + size - 8, first + size - 5, first + size - 1]:
        flipped = bytearray(data)
        flipped[offset] ^= 0x10
        with pytest.raises(br.BamStreamError, match="corrupt|CRC32|ISIZE|exactly"):
            br.overlap_counts(io.BytesIO(bytes(flipped)), [("a", 0, 5000)])


def with_crc(block, data):
    return block[:-8] + struct.pack("<II", zlib.crc32(data), len(data))


def test_streams_that_are_not_bgzf_are_errors_that_say_why(streams):
    """Each a BamStreamError that names the problem. The gzip reader refused them too but for the `stricter`
    ones, whose records it read: gzip members without BC, with a malformed extra field or a file name
    (samtools writes none of them), and zero padding after the last block (samtools writes none)."""
    small = streams["small"]
    bam = gzip.decompress(small)
    (_, spans), block = all_spans(small), bgzf_block(bam[:100])
    longer = block[:16] + struct.pack("<H", len(block)) + block[18:-8] + b"\x00" + block[-8:]  # BSIZE + 1
    cases = [
        (
            b"not SAM\n",
            r"^not a complete BGZF stream: no gzip magic \(b'no'\): not gzip, so not BAM \(the block at byte 0\)$",
        ),
        (b"x", r"no gzip magic \(b'x'\)"),
        (bam, r"no gzip magic \(b'BA'\)"),  # uncompressed BAM
        (small[:2] + b"\x07" + small[3:], r"gzip compression method 7, not deflate \(8\) \(the block at byte 0\)"),
        (b"\x1f\x8b\x08\x04" + b"\x00" * 6 + b"\xff\xff" + b"\x00" * 30, "XLEN 65535 bytes, too long"),
        (EOF_BLOCK[:16] + b"\x05\x00" + EOF_BLOCK[18:], "BSIZE 5 too small for the block's XLEN 6"),
        (EOF_BLOCK[:16] + b"\x1a\x00" + EOF_BLOCK[18:27], "its deflate data does not end exactly"),  # BSIZE - 1
        (longer + EOF_BLOCK, "its deflate data does not end exactly at its CRC32"),
        (bgzf_block(b"x" * 70_000, level=9) + EOF_BLOCK, "it inflates to more than 65536 bytes"),
        (bgzf_block(bytes(10))[:-4] + b"\x09\x00\x00\x00" + EOF_BLOCK, "10 inflated bytes, its ISIZE says 9"),
        (bgzf_block(b"\xff" * 100)[:-8] + bytes(4) + b"\x64\x00\x00\x00", "do not match its CRC32"),
    ]
    for data, message in cases:
        with pytest.raises(br.BamStreamError, match=message):
            br.overlap_counts(io.BytesIO(data), [("a", 0, 5000)])
        with pytest.raises(br.BamStreamError):
            all_spans(data, GzipStream)
    stricter = [
        (gzip.compress(bam), r"gzip flags 0x00, not a BGZF block's \(0x04: an extra field alone\)"),
        (bgzf_block(bam, flags=0x4 | 0x8, name=b"s.bam\x00") + EOF_BLOCK, "gzip flags 0x0c"),
        (gzip_member(deflated(bam), bam, b"XY\x00\x00") + EOF_BLOCK, "a gzip member without the BC subfield"),
        (gzip_member(deflated(bam), bam, b"XY\x09\x00") + EOF_BLOCK, "subfields overrun its length XLEN 4"),
        (bgzf_block(bam, after=b"BC\x02\x00\x00\x00") + EOF_BLOCK, "a BC subfield that is not one 2-byte BSIZE"),
        (bgzf_block(bam, after=b"BC\x01\x00\x00") + EOF_BLOCK, "a BC subfield that is not one 2-byte BSIZE"),
        (small + bytes(28), r"no gzip magic \(b'\\x00\\x00'\)"),
    ]
    for data, message in stricter:
        with pytest.raises(br.BamStreamError, match=message):
            br.overlap_counts(io.BytesIO(data), [("a", 0, 5000)])
        assert all_spans(data, GzipStream)[1] == spans
    assert all_spans(bgzf_block(bam, flags=0x5) + EOF_BLOCK)[1] == spans  # FTEXT, a mere hint: read


def test_empty_streams_and_eof_blocks_alone_have_no_header(streams):
    for data in (b"", EOF_BLOCK, EOF_BLOCK * 3):
        with pytest.raises(br.BamStreamError, match="^the stream ends inside the BAM header$"):
            br.overlap_counts(io.BytesIO(data), [("a", 0, 5000)])
    offsets, _ = record_offsets(streams["small"])
    header = bgzf_block(gzip.decompress(streams["small"])[: offsets[0]])
    for data in (header + EOF_BLOCK, header + EOF_BLOCK * 3, EOF_BLOCK + header + EOF_BLOCK):
        assert br.overlap_counts(io.BytesIO(data), [("a", 0, 5000), ("b", 0, 1)]) == [0, 0]
    with pytest.raises(br.BamStreamError, match="end-of-file block"):
        br.overlap_counts(io.BytesIO(header), [("a", 0, 5000)])


def test_record_starts_by_int32_views_equal_record_starts_by_struct(streams):
    """The little-endian record_starts and the struct one, on the records cut at every offset (0 to 3 bytes
    past a record too), and on a record too short for BAM."""
    offsets, end = record_offsets(streams["small"])
    records = gzip.decompress(streams["small"])[offsets[0] : end]
    for cut in range(len(records) + 1):
        by_views, by_struct = br.record_starts(records[:cut]), br.record_starts_unpacked(records[:cut])
        assert by_views[0].tolist() == by_struct[0].tolist() and by_views[1] == by_struct[1], cut
    assert br.record_starts(records)[0].tolist() == [offset - offsets[0] for offset in offsets]
    second = offsets[1] - offsets[0]
    short = records[:second] + struct.pack("<i", 31) + records[second + 4 :]
    for record_starts in (br.record_starts, br.record_starts_unpacked):
        with pytest.raises(br.BamStreamError, match="^a record of 31 bytes, shorter than any BAM record$"):
            record_starts(short)


@pytest.mark.parametrize("read_bytes", [100, 65536, br.READ_BYTES])
def test_a_header_of_thousands_of_contigs_over_many_blocks(tmp_path, monkeypatch, read_bytes):
    """3,000 contigs with names of 1 to 200 bytes: read_header reads on inside each name and each l_ref."""
    monkeypatch.setattr(br, "READ_BYTES", read_bytes)
    rng = random.Random(2)
    contigs = [(f"c{i}_" + "x" * rng.randint(0, 195), 1000 + i) for i in range(3000)]
    reads = [Read("r1", 0, contigs[2999][0], 5, "10M", length=10), Read("r2", 0, contigs[7][0], 0, "1M", length=1)]
    data = uncompressed_bam(tmp_path / "h.bam", contigs, reads)
    assert len(gzip.decompress(data)) > 6 * 65536
    names, spans = all_spans(data)
    assert names == [name for name, _ in contigs] and spans == [(7, 0, 1), (2999, 5, 15)]
    assert all_spans(data, GzipStream) == (names, spans)


@pytest.mark.parametrize(
    "placed, problem",
    [([("a", 10), ("b", 5), ("a", 10)], "records of a are not contiguous"),  # a pass returned again
     ([("a", 10), ("a", 20), ("a", 10)], "records are not in coordinate order"),
     ([("a", 10), ("a", 10), ("b", 0)], None)],
)  # fmt: skip
def test_records_returned_again_are_an_order_error_never_counted_twice(tmp_path, monkeypatch, placed, problem):
    """samtools 1.16.1's multi-region iterator returned a CRAM's records twice (tests/test_cram_batches.py):
    records out of coordinate order make the pass an error (counted again in parts), at any chunk size."""
    header = {"HD": {"VN": "1.6", "SO": "unsorted"}, "SQ": [{"SN": "a", "LN": 100}, {"SN": "b", "LN": 100}]}
    path = str(tmp_path / "again.bam")
    with pysam.AlignmentFile(path, "wb", header=header) as out:
        for i, (contig, pos) in enumerate(placed):
            read = pysam.AlignedSegment(out.header)
            read.query_name, read.reference_name, read.reference_start = f"r{i}", contig, pos
            read.cigarstring, read.query_sequence = "10M", "A" * 10
            out.write(read)
    data = subprocess.run(["samtools", "view", "-u", path], capture_output=True, check=True).stdout
    for read_bytes in (60, 1 << 22):  # a chunk a record, or all records in one
        monkeypatch.setattr(br, "READ_BYTES", read_bytes)
        if problem is None:
            assert br.overlap_counts(io.BytesIO(data), [("a", 0, 15), ("b", 0, 5)]) == [2, 1]
        else:
            with pytest.raises(sweep.RecordOrderError, match=problem):
                br.overlap_counts(io.BytesIO(data), [("a", 0, 15)])
