"""Records of an uncompressed BAM stream (`samtools view -u`) read with numpy, a block of records at a time,
and the number of them that overlap each of many intervals.

Why: a batch pass streams every record of its stretches past Python. As SAM text a record costs samtools
its formatting and Python a split and an int() (~2.5 us); decoded here from BAM's fixed-size fields with a
handful of numpy operations per 4 MB of records it costs ~1 us (most of it the one Python step left: finding
where each variable-length record starts), so stretches may be merged across wider gaps (count_modes.py).

The overlap rule is htslib's, as `samtools view -c <file> <region>` applies it: a record at 0-based `pos`
overlaps the half-open interval [start, end) when pos < end and bam_endpos > start, where bam_endpos is pos
plus the reference bases its CIGAR consumes (M D N = X), or pos + 1 for an unmapped record (0x4) or one
whose CIGAR consumes none. So, over any set of records (each once, in any order):

    overlapping(interval) = #{pos < end} - #{bam_endpos <= start}

(a record ending at or before the start also starts before the end), and both terms add up over chunks of
records: memory is one chunk, whatever the stream.
"""

import operator
import struct
import sys
import zlib
from typing import NamedTuple

import numpy
from overlap_sweep import RecordOrderError

READ_BYTES = 1 << 20  # uncompressed bytes read at a time, ~3,000 records of 150 bp: samtools_pipes.PIPE_BYTES
BAM_MAGIC = b"BAM\x01"
INT32 = struct.Struct("<i")
# The first 20 bytes of a record: block_size refID pos l_read_name mapq bin n_cigar_op flag (the SAM spec, 4.2).
RECORD_HEAD = numpy.dtype(
    [
        ("block_size", "<i4"),
        ("ref_id", "<i4"),
        ("pos", "<i4"),
        ("l_read_name", "u1"),
        ("mapq", "u1"),
        ("bin", "<u2"),
        ("n_cigar_op", "<u2"),
        ("flag", "<u2"),
    ]
)
FIXED_BYTES = 36  # block_size and the 32 bytes of fixed fields before read_name
UNMAPPED = 0x4
# A BGZF block (the SAM spec, 4.1): a gzip member (RFC 1952) whose extra field holds the subfield BC, BSIZE (the
# block's size minus 1): ID1 ID2 CM FLG MTIME XFL OS XLEN, the XLEN bytes of subfields (SI1 SI2 SLEN and SLEN
# bytes each), the deflate data, CRC32 ISIZE.
GZIP_HEAD = struct.Struct("<BBBBIBBH")
GZIP_MAGIC = b"\x1f\x8b"
SUBFIELD_HEAD = struct.Struct("<BBH")
BC_SUBFIELD = (ord("B"), ord("C"))
BSIZE = struct.Struct("<H")
GZIP_TAIL = struct.Struct("<II")
FTEXT, FEXTRA = 0x1, 0x4
BGZF_BLOCK_MAX = 1 << 16  # the most bytes of a block (BSIZE + 1), and of its inflated data
# CIGAR operation codes (MIDNSHP=X = 0..8) that consume reference bases: M D N = X.
CONSUMES_REFERENCE = numpy.zeros(16, dtype=numpy.int64)
CONSUMES_REFERENCE[[0, 2, 3, 7, 8]] = 1


class BamStreamError(ValueError):
    """The stream is not the BAM samtools writes, or ends inside a record (samtools stopped)."""


class Stream:
    """The uncompressed bytes of a BGZF stream (the SAM spec, 4.1), about READ_BYTES at a time: the raw bytes
    are read raw_bytes at a time into one buffer and each whole block is inflated by one zlib call. Memory: the
    buffer (raw_bytes and one block) and `data`.

    Every block is checked as gzip.GzipFile checked it, and more: the gzip magic, method and flags; the BC
    extra subfield (BSIZE) and its fit with XLEN and the block; a deflate stream that ends exactly at the
    block's CRC32; the block's CRC32 and ISIZE against its inflated bytes; a stream that ends between blocks,
    and after an empty block: samtools (bgzf_close) ends every stream it writes with the end-of-file block, so
    a stream cut at a block boundary that is also a record boundary is an error too, not the counts of the
    records before the cut (the exit status of samtools should tell too; this does not rely on it). An empty
    stream is left to read_header to tell. Any other stream is a BamStreamError.

    A gzip member without the BC subfield is an error too, not read by a fallback gzip reader: samtools
    (htslib's bgzf.c) writes BC in every block it writes, the EOF block included, so such a member means the
    stream is not what `samtools view -u` writes; and a fallback would be a second reader, run by nothing in
    production, that could only turn a stream we do not understand into counts."""

    def __init__(self, raw, raw_bytes=None):
        self._raw = raw
        self._raw_bytes = raw_bytes or READ_BYTES
        self._buffer = bytearray(self._raw_bytes + BGZF_BLOCK_MAX)
        self._view = memoryview(self._buffer)
        self._at = self._end = 0  # the raw bytes read but not yet inflated: _buffer[_at:_end]
        self._buffer_offset = 0  # the stream offset of _buffer[0], for messages
        self._raw_ended = False
        self._last_block_size = None
        self.data = b""

    def more(self):
        """Append the next bytes (READ_BYTES or more, or the rest of the stream) to `data`; False at the end of
        the stream."""
        blocks, n_bytes = [self.data], 0
        while n_bytes < READ_BYTES:
            block = self._next_block()
            if block is None:
                break
            blocks.append(block)
            n_bytes += len(block)
        if n_bytes:
            self.data = b"".join(blocks)
        return n_bytes > 0

    def need(self, n_bytes, what):
        while len(self.data) < n_bytes:
            if not self.more():
                raise BamStreamError(f"the stream ends inside {what}")

    def _error(self, problem):
        return BamStreamError(
            f"not a complete BGZF stream: {problem} (the block at byte {self._buffer_offset + self._at})"
        )

    def _fill(self, n_bytes):
        """Whether the next n_bytes (at most BGZF_BLOCK_MAX) raw bytes are in the buffer, reading more as
        needed: False when the stream ends before."""
        while self._end - self._at < n_bytes:
            if self._raw_ended:
                return False
            if self._end + self._raw_bytes > len(self._buffer):  # move the unread bytes (< one block) to the front
                left = self._end - self._at
                self._buffer[:left] = self._buffer[self._at : self._end]
                self._buffer_offset += self._at
                self._at, self._end = 0, left
            got = self._raw.readinto(self._view[self._end : self._end + self._raw_bytes])
            if got:
                self._end += got
            else:
                self._raw_ended = True
        return True

    def _cut(self):
        return self._error(f"the stream ends inside a block ({self._end - self._at} bytes of it)")

    def _next_block(self):
        """The inflated bytes of the next block; None at the end of the stream."""
        complete = self._fill(GZIP_HEAD.size)
        at, buffer = self._at, self._buffer
        if at == self._end:  # the end of the stream, between blocks
            if self._last_block_size:  # not None (no block: an empty stream, for read_header to tell) nor 0
                raise BamStreamError(
                    "not a complete BGZF stream: it ends without BGZF's end-of-file block (an empty block) at byte "
                    f"{self._buffer_offset + at}: samtools stopped before the end"
                )
            return None
        magic = bytes(buffer[at : min(at + 2, self._end)])
        if not GZIP_MAGIC.startswith(magic):  # said first, even of a stream too short for a block
            raise self._error(f"no gzip magic ({magic!r}): not gzip, so not BAM")
        if not complete:
            raise self._cut()
        _, _, method, flags, _, _, _, xlen = GZIP_HEAD.unpack_from(buffer, at)
        if method != 8:
            raise self._error(f"gzip compression method {method}, not deflate (8)")
        if flags & ~FTEXT != FEXTRA:  # FNAME, FCOMMENT or FHCRC: samtools writes none; no extra field: not BGZF
            raise self._error(f"gzip flags {flags:#04x}, not a BGZF block's (0x04: an extra field alone)")
        head_size = GZIP_HEAD.size + xlen
        if head_size + GZIP_TAIL.size > BGZF_BLOCK_MAX:
            raise self._error(f"an extra field of XLEN {xlen} bytes, too long for any BGZF block")
        if not self._fill(head_size):  # may move the block to the buffer's front
            raise self._cut()
        at = self._at
        block_size, subfield_at = None, at + GZIP_HEAD.size
        while subfield_at < at + head_size:
            if subfield_at + SUBFIELD_HEAD.size > at + head_size:
                raise self._error(f"the extra field's subfields overrun its length XLEN {xlen}")
            si1, si2, subfield_size = SUBFIELD_HEAD.unpack_from(buffer, subfield_at)
            subfield_at += SUBFIELD_HEAD.size
            if subfield_at + subfield_size > at + head_size:
                raise self._error(f"the extra field's subfields overrun its length XLEN {xlen}")
            if (si1, si2) == BC_SUBFIELD:
                if subfield_size != 2 or block_size is not None:
                    raise self._error("a BC subfield that is not one 2-byte BSIZE")
                block_size = BSIZE.unpack_from(buffer, subfield_at)[0] + 1
            subfield_at += subfield_size
        if block_size is None:
            raise self._error("a gzip member without the BC subfield (BSIZE), not a BGZF block")
        if block_size < head_size + GZIP_TAIL.size:
            raise self._error(f"BSIZE {block_size - 1} too small for the block's XLEN {xlen}")
        if not self._fill(block_size):
            raise self._cut()
        at = self._at
        payload = self._view[at + head_size : at + block_size - GZIP_TAIL.size]
        crc, isize = GZIP_TAIL.unpack_from(buffer, at + block_size - GZIP_TAIL.size)
        inflater = zlib.decompressobj(-15)
        try:
            block = inflater.decompress(payload, BGZF_BLOCK_MAX + 1)  # no deflate bomb: one block's bytes, and one
        except zlib.error as err:
            raise self._error(f"its deflate data is corrupt: {err}") from None
        finally:
            payload.release()
        if len(block) > BGZF_BLOCK_MAX:
            raise self._error(f"it inflates to more than {BGZF_BLOCK_MAX} bytes, any BGZF block's most")
        if not inflater.eof or inflater.unused_data:
            raise self._error("its deflate data does not end exactly at its CRC32 (BSIZE does not fit)")
        if len(block) != isize:
            raise self._error(f"{len(block)} inflated bytes, its ISIZE says {isize}")
        if zlib.crc32(block) != crc:
            raise self._error("its inflated bytes do not match its CRC32")
        self._at = at + block_size
        self._last_block_size = isize
        return block


def read_header(stream):
    """The contig names of the stream's header (str, as count_unit.py names them), in reference id order; the
    stream's data then starts at the first record."""
    stream.need(12, "the BAM header")
    if stream.data[:4] != BAM_MAGIC:
        raise BamStreamError("not BAM: no BAM magic at the start")
    offset = 8 + INT32.unpack_from(stream.data, 4)[0]
    stream.need(offset + 4, "the BAM header")
    n_references = INT32.unpack_from(stream.data, offset)[0]
    offset += 4
    names = []
    append, size_at, data = names.append, INT32.unpack_from, stream.data
    for _ in range(n_references):  # l_name, name (NUL-terminated), l_ref; more data read only when needed
        if offset + 4 > len(data):
            stream.need(offset + 4, "the BAM header")
            data = stream.data
        name_bytes = size_at(data, offset)[0]
        following = offset + 8 + name_bytes
        if following > len(data):
            stream.need(following, "the BAM header")
            data = stream.data
        append(data[offset + 4 : following - 5].decode("utf-8", "surrogateescape"))
        offset = following
    stream.data = data[offset:]
    return names


def record_starts(data):
    """Offsets of the complete records at the start of `data`, and the offset after the last of them."""
    if sys.byteorder != "little":
        return record_starts_unpacked(data)
    # The int32 at any offset, by one index: the offset's residue mod 4 picks one of four views of data cast to
    # native (here little-endian) int32s, starting at bytes 0 to 3 (~0.2 us a record, 0.4 with struct); an
    # offset past the last whole int32 is an IndexError.
    size = len(data)
    words = [memoryview(data)[k : k + max(0, size - k) // 4 * 4].cast("i") for k in range(4)]
    offsets = []
    append = offsets.append
    offset = 0
    try:
        while True:
            block_size = words[offset & 3][offset >> 2]
            if block_size < FIXED_BYTES - 4:
                raise BamStreamError(f"a record of {block_size} bytes, shorter than any BAM record")
            following = offset + 4 + block_size
            if following > size:
                break
            append(offset)
            offset = following
    except IndexError:  # fewer than 4 bytes left
        pass
    return numpy.array(offsets, dtype=numpy.int64), offset


def record_starts_unpacked(data):
    """record_starts, by struct (any byte order)."""
    offsets = []
    append, size_at = offsets.append, INT32.unpack_from
    offset, size = 0, len(data)
    while offset + 4 <= size:
        block_size = size_at(data, offset)[0]
        if block_size < FIXED_BYTES - 4:
            raise BamStreamError(f"a record of {block_size} bytes, shorter than any BAM record")
        following = offset + 4 + block_size
        if following > size:
            break
        append(offset)
        offset = following
    return numpy.array(offsets, dtype=numpy.int64), offset


def gathered(data, positions, dtype):
    """The values of `dtype` at byte offsets `positions` of data (unaligned, little-endian)."""
    raw = data[positions[:, None] + numpy.arange(numpy.dtype(dtype).itemsize)]
    return numpy.ascontiguousarray(raw).view(dtype).ravel()


def record_spans(data, offsets, n_references):
    """(reference ids, pos, bam_endpos) of the records at `offsets` of `data` (numpy uint8)."""
    head = gathered(data, offsets, RECORD_HEAD)
    n_ops = head["n_cigar_op"].astype(numpy.int64)
    cigar_at = offsets + FIXED_BYTES + head["l_read_name"]
    if numpy.any(cigar_at + 4 * n_ops > offsets + 4 + head["block_size"]) or numpy.any(
        (head["ref_id"] < -1) | (head["ref_id"] >= n_references)
    ):
        raise BamStreamError("a malformed BAM record (its CIGAR or reference id is out of bounds)")
    first_op = numpy.cumsum(n_ops) - n_ops
    op_at = numpy.repeat(cigar_at - 4 * first_op, n_ops) + 4 * numpy.arange(int(n_ops.sum()))
    ops = gathered(data, op_at, "<u4")
    consumed = (ops >> 4).astype(numpy.int64) * CONSUMES_REFERENCE[ops & 0xF]
    # Exact below 2^53 (float64 weights): a record's span is below 2^28 x 65,535 operations.
    span = numpy.bincount(numpy.repeat(numpy.arange(len(offsets)), n_ops), consumed, len(offsets))
    span = span.astype(numpy.int64)
    span[(head["flag"] & UNMAPPED) != 0] = 0
    span[span == 0] = 1
    pos = head["pos"].astype(numpy.int64)
    return head["ref_id"], pos, pos + span


def record_chunks(raw):
    """The contig names of a `samtools view -u` stream, and an iterator of (reference ids, pos, bam_endpos)
    numpy arrays, a chunk of records at a time. BamStreamError for a stream that is not BAM or ends inside a
    record."""
    stream = Stream(raw)
    names = read_header(stream)

    def chunks():
        while True:
            more = stream.more()
            offsets, used = record_starts(stream.data)
            if len(offsets):
                yield record_spans(numpy.frombuffer(stream.data, dtype=numpy.uint8), offsets, len(names))
            stream.data = stream.data[used:]
            if not more:
                if stream.data:
                    raise BamStreamError(f"the stream ends inside a record ({len(stream.data)} bytes left)")
                return

    return names, chunks()


class OverlapTally:
    """Records overlapping each of one contig's intervals, added a chunk of records at a time (see the module
    docstring): an interval ending at or before a chunk's first record gets none of its records for the
    first term, one ending past its last record all of them (a suffix sum), and only those between are
    looked up; likewise for the starts and the record ends. Cost per chunk: its records' sort plus the
    intervals whose bounds fall inside it."""

    def __init__(self, starts, ends):
        self.by_end = numpy.argsort(ends, kind="stable")
        self.ends = numpy.asarray(ends, dtype=numpy.int64)[self.by_end]
        self.by_start = numpy.argsort(starts, kind="stable")
        self.starts = numpy.asarray(starts, dtype=numpy.int64)[self.by_start]
        n = len(self.ends)
        self.started_suffix = numpy.zeros(n + 1, dtype=numpy.int64)  # records with pos < end, as suffix adds
        self.started = numpy.zeros(n, dtype=numpy.int64)
        self.ended_suffix = numpy.zeros(n + 1, dtype=numpy.int64)  # records with bam_endpos <= start
        self.ended = numpy.zeros(n, dtype=numpy.int64)

    def add(self, pos, endpos):
        pos, endpos = numpy.sort(pos), numpy.sort(endpos)
        first = numpy.searchsorted(self.ends, pos[0], "right")
        past = numpy.searchsorted(self.ends, pos[-1], "right")
        self.started_suffix[past] += len(pos)
        self.started[first:past] += numpy.searchsorted(pos, self.ends[first:past], "left")
        first = numpy.searchsorted(self.starts, endpos[0], "left")
        past = numpy.searchsorted(self.starts, endpos[-1], "left")
        self.ended_suffix[past] += len(endpos)
        self.ended[first:past] += numpy.searchsorted(endpos, self.starts[first:past], "right")

    def counts(self):
        """Overlapping records of each interval, in the order given."""
        counts = numpy.zeros(len(self.ends), dtype=numpy.int64)
        counts[self.by_end] = self.started + numpy.cumsum(self.started_suffix)[:-1]
        counts[self.by_start] -= self.ended + numpy.cumsum(self.ended_suffix)[:-1]
        return counts


def overlap_counts(raw, intervals):
    """For each (contig, start, end) interval (0-based, half-open), the records of the BAM stream `raw` that
    overlap it by htslib's rule, each record counted once per interval; a list of ints in the order given."""
    return grouped_overlap_counts(raw, IntervalGroups.of(intervals))


class IntervalGroups(NamedTuple):
    """Intervals by contig: {contig: (their indexes, starts, ends)}, and how many in all. A unit's are grouped
    once for all its samples (count_modes.batch_intervals), not per sample."""

    by_contig: dict
    n_intervals: int

    @classmethod
    def of(cls, intervals):
        """The IntervalGroups of (contig, start, end) intervals: grouped by a stable sort of their contigs'
        numbers, in C, not appended one by one (92,868 intervals: ~30 ms, 100 ms appended)."""
        n = len(intervals)
        numbers = {}  # contig -> its number, in order of first appearance
        codes = numpy.fromiter((numbers.setdefault(c, len(numbers)) for c, _, _ in intervals), numpy.int64, n)
        starts, ends = (numpy.fromiter(map(operator.itemgetter(k), intervals), numpy.int64, n) for k in (1, 2))
        order = numpy.argsort(codes, kind="stable")  # each contig's indexes ascending
        edges = numpy.cumsum(numpy.bincount(codes, minlength=len(numbers))).tolist()
        by_contig = {}
        for contig, first, end in zip(numbers, [0, *edges], edges):
            indexes = order[first:end]
            by_contig[contig] = (indexes, starts[indexes], ends[indexes])
        return cls(by_contig, n)


def grouped_overlap_counts(raw, groups):
    """overlap_counts of IntervalGroups."""
    names, chunks = record_chunks(raw)
    tallies = {}  # reference id -> (indexes of its intervals, OverlapTally)
    for ref_id, name in enumerate(names):
        if name in groups.by_contig:
            indexes, starts, ends = groups.by_contig[name]
            tallies[ref_id] = (indexes, OverlapTally(starts, ends))
    order = PassOrder(names)
    for ref_ids, pos, endpos in chunks:
        order.check(ref_ids, pos)
        for ref_id in numpy.unique(ref_ids).tolist():
            if ref_id in tallies:
                chosen = ref_ids == ref_id
                tallies[ref_id][1].add(pos[chosen], endpos[chosen])
    counts = numpy.zeros(groups.n_intervals, dtype=numpy.int64)
    for indexes, tally in tallies.values():
        counts[indexes] = tally.counts()
    return counts.tolist()


class PassOrder:
    """The check that a pass's records come in coordinate order, chunk by chunk: each contig's records together
    (a contig never comes back after another's) and by position; RecordOrderError otherwise, so that the pass
    is counted again in parts (as overlap_sweep's SAM reader does). The tally itself does not need the order,
    but a pass that returns records twice breaks it: samtools 1.16.1's multi-region iterator did so on a CRAM
    (tests/test_cram_batches.py), and each repeated record would be counted twice."""

    def __init__(self, names):
        self.names = names
        self.finished = set()
        self.last = None  # (contig id, position) of the pass's last record so far

    def check(self, ref_ids, pos):
        if not len(ref_ids):
            return
        changes = ref_ids[1:] != ref_ids[:-1]  # where the next record is of another contig
        runs = ref_ids[numpy.concatenate(([0], numpy.flatnonzero(changes) + 1))].tolist()  # the chunk's contigs
        backwards = bool(numpy.any((pos[1:] < pos[:-1]) & ~changes))  # back in position within a contig
        continuing = self.last is not None and runs[0] == self.last[0]
        if continuing:
            backwards = backwards or int(pos[0]) < self.last[1]
        elif self.last is not None:
            self.finished.add(self.last[0])
        if backwards:
            raise RecordOrderError("records are not in coordinate order")
        for k, ref_id in enumerate(runs):
            if ref_id in self.finished:
                name = self.names[ref_id] if 0 <= ref_id < len(self.names) else ref_id
                raise RecordOrderError(f"records of {name} are not contiguous")
            if k < len(runs) - 1:  # the last contig's records may go on in the next chunk
                self.finished.add(ref_id)
        self.last = (runs[-1], int(pos[-1]))
