"""Read a BAI, CSI or CRAI index, and tell whether it belongs to the BAM or CRAM it is given with.

An index is a map of virtual offsets into one particular file. Given with another BAM (a copy of another run's
`.bai`, a BAM rewritten after it was indexed, a samplesheet row pointing at the wrong file), htslib still
follows it: `samtools view -c REGION` then usually fails on a bad BGZF header, but a batched `-M -L` pass can
drop records and exit 0 with a wrong count. So every index a user gives is checked against its BAM before any
count is made from it (plan_units.py), by what the index claims about the file:

- it lists as many reference sequences as the header (htslib does not compare them);
- no offset points past the end of the file;
- the metadata pseudo-bins (SAM specification 5.2, 5.3) of a sample of the contigs, spread over the whole file,
  each start at a record of that contig, and end where the next contig's records, the unplaced records or the
  file begin: the next contig the index places records on, not one it says has none (records added on the last
  contigs by `samtools cat`, which copies the earlier blocks as they are);
- a sample of the bins, spread over all contigs, each have their first chunk start at a record of their contig
  whose position lies in the bin's interval;
- an index that places no record at all (that of a file of unplaced reads only) has nothing to sample: the
  file's first record must then be unplaced too.

A virtual offset of another file lands on a BGZF block boundary and a record boundary of this one, with the
right contig and position, only by a long chain of coincidences; two files that share their first blocks (a BAM
rewritten after a few records changed) part at the first block that differs, and the sampled bins and pseudo-bins,
which reach every part of the file, find it.

A CRAI lists the byte offset of each container: sampled ones must hold a container header of the slice's
reference whose CRC32 (CRAM 3) is right.

A BAI or CSI is read as 32-bit words, a view of its bytes (pysam has no call for the bins); the records at its
offsets are read from the BAM's BGZF blocks with zlib (BlockRecords: pysam's seek inflates a whole block for
each), the header with pysam. Standard library and pysam.
"""

import array
import bisect
import contextlib
import gzip
import itertools
import os
import re
import struct
import sys
import zlib
from typing import NamedTuple

BAI_MAGIC = b"BAI\x01"
CSI_MAGIC = b"CSI\x01"
GZIP_MAGIC = b"\x1f\x8b"
BAI_MIN_SHIFT, BAI_DEPTH = 14, 5  # a BAI is a CSI of 6 levels of 16 kb bins
INT = struct.Struct("<i")
# Contigs' pseudo-bins and bins checked, spread over the file: each costs about one BGZF block inflated at most,
# as far as the record (BlockRecords: the 768 lookups of a 1M-record panel BAM fall in 387 blocks, ~45 ms of
# inflation); all of a GRCh38 header's 3,366 contigs would cost several times that.
SAMPLED_CONTIGS = 256
SAMPLED_BINS = 256


class ContigIndex(NamedTuple):
    bins: list  # (bin, its first chunk's begin offset) of every bin with chunks but the pseudo-bin
    first: int = -1  # the pseudo-bin's offsets of the contig's first record and just past its last; -1: none
    end: int = -1


class BamIndex(NamedTuple):
    min_shift: int
    depth: int
    contigs: list  # ContigIndex per reference sequence, in header order


def pseudo_bin(depth):
    """The metadata bin of an index of `depth` levels (BAI: depth 5, bin 37450)."""
    return ((1 << (3 * (depth + 1))) - 1) // 7 + 1


BAI_PSEUDO_BIN = pseudo_bin(BAI_DEPTH)  # 37450


class IndexLayout(NamedTuple):
    """Where the bins of a BAI or CSI are, not the bins themselves: a 5 MB index has ~140,000 bins, and the check
    of an index (bam_index_mismatch) looks at 256 of them (bins_at)."""

    min_shift: int
    depth: int
    contigs: list  # ContigIndex per reference sequence; its bins: the word of each bin (bins_at)
    words: memoryview  # the index's unsigned 32-bit words, from its count of reference sequences on (index_words)
    bin_words: int  # the words of a bin before its chunks: bin, chunk count (BAI); bin, loffset, chunk count (CSI)


def read_index(index_bytes):
    """The BamIndex of a BAI or CSI (CSI is BGZF-compressed); None when the bytes are neither (or hold a
    negative count); struct.error when the index is cut short. A contig without a pseudo-bin (htslib and Picard
    write one for every contig with records, other indexers may not) has first = end = -1."""
    layout = index_layout(index_bytes)
    if layout is None:
        return None
    contigs = [ContigIndex(bins_at(layout, bins) if bins else [], first, end) for bins, first, end in layout.contigs]
    return BamIndex(layout.min_shift, layout.depth, contigs)


def bins_at(layout, positions):
    """The (bin, its first chunk's begin offset) of the bins at these words of an IndexLayout."""
    words, chunk = layout.words, layout.bin_words
    return [(words[w], words[w + chunk] | words[w + chunk + 1] << 32) for w in positions]


def index_layout(index_bytes):
    """The IndexLayout of a BAI or CSI (CSI is BGZF-compressed); None when the bytes are neither (or hold a
    negative count); struct.error when the index is cut short where a count, a bin or its first chunk is read."""
    data = gzip.decompress(index_bytes) if index_bytes[:2] == GZIP_MAGIC else index_bytes
    if data[:4] == BAI_MAGIC:
        linear, bin_words, pos, min_shift, depth = True, 2, 4, BAI_MIN_SHIFT, BAI_DEPTH
    elif data[:4] == CSI_MAGIC:
        min_shift, depth, aux_length = struct.unpack_from("<iii", data, 4)
        if aux_length < 0:
            return None
        linear, bin_words, pos = False, 4, 16 + aux_length
    else:
        return None
    metadata_bin = pseudo_bin(depth)
    words, signed = index_words(data, pos, "I"), index_words(data, pos, "i")
    counts = index_words(data, pos + 4 * (bin_words - 1), "i")  # counts[w]: the chunk count of a bin at word w
    try:
        contigs = contig_layouts(signed, counts, words, bin_words, metadata_bin, linear)
        if contigs is None:
            return None
        layout = IndexLayout(min_shift, depth, contigs, words, bin_words)
        if contigs and contigs[-1].bins and not linear:  # a CSI's last bin: no count is read past it
            bins_at(layout, contigs[-1].bins[-1:])  # tells whether its first chunk is cut short
    except IndexError:
        raise struct.error("the index is cut short") from None
    return layout


def index_words(data, pos, code):
    """The little-endian 32-bit words (code: "I" unsigned, "i" signed) of the bytes from pos on (a last partial
    word left out: a count or offset read there is cut short), indexed and sliced as an array: a view of the
    bytes, not a copy (index_layout reads a 5 MB BAI three ways: 30 MB copied and paged in again for every
    sample of a group, ~40% of index_layout); an array byte-swapped on a big-endian machine."""
    end = pos + (len(data) - pos) // 4 * 4
    if sys.byteorder == "big":
        words = array.array(code)
        words.frombytes(data[pos:end])
        words.byteswap()
        return words
    return memoryview(data)[pos:end].cast(code)


# Consecutive chunk counts of 1 (as index_words holds them), matched by the regular expression engine: 137,681 of
# the 138,028 bins of a 5 MB BAI have one chunk.
ONE_CHUNK_RUN = re.compile(b"(?:" + re.escape(array.array("i", [1]).tobytes()) + b")*")
RUN_WINDOW = 256  # bins whose counts are matched at once: a run ends at the first other bin, and the next begins there
RUN_MIN = 32  # a match costs ~1.5 us, a bin read alone ~0.2 us: fewer bins, or bins after a shorter run, are read alone


def contig_layouts(signed, counts, words, bin_words, metadata_bin, linear):
    """The ContigIndex of each reference sequence with the words of its bins, their offsets left unread
    (bins_at), or None when a count is negative; IndexError when the words end where a count or an offset is
    read. The bins of one chunk each follow one another every bin_words + 4 words: a run of them is found by
    one match over their counts (one_chunk_bins), not bin by bin; a bin of other chunks (the pseudo-bin, a bin
    without chunks or of several) is read alone. 88 ms -> 21 ms (index_layout) for the 5 MB BAI of a 1M-record
    BAM, struct.unpack_from of each bin and its first chunk before (2.2 MB BAI of grch38_10M: 16 -> 9 ms)."""
    contigs, w, step = [], 1, bin_words + 4
    for _ in range(signed[0]):
        n_bins = signed[w]
        w += 1
        if n_bins < 0:
            return None
        bins, first, end, left, alone = [], -1, -1, n_bins, 0
        while left:
            if alone:  # after a short run: these bins one by one
                alone -= 1
            elif left >= RUN_MIN:
                window = left if left < RUN_WINDOW else RUN_WINDOW
                run = one_chunk_bins(counts, w, step, window)
                bins += range(w, w + step * run, step)
                w += step * run
                left -= run
                if run == window:  # all of them: the next ones may have one chunk too
                    continue
                if run < RUN_MIN:
                    alone = RUN_MIN
            n_chunks = counts[w]
            left -= 1
            if n_chunks == 1:
                bins.append(w)
                w += step
                continue
            if n_chunks < 0:
                return None
            chunk = w + bin_words
            if n_chunks == 2 and signed[w] == metadata_bin:  # (a pseudo-bin never reaches 2^31: signed will do)
                first, end = words[chunk] | words[chunk + 1] << 32, words[chunk + 2] | words[chunk + 3] << 32
            elif n_chunks:
                bins.append(w)
            w = chunk + 4 * n_chunks
        if linear:  # the linear index
            n_intervals = signed[w]
            if n_intervals < 0:
                return None
            w += 1 + 2 * n_intervals
        contigs.append(ContigIndex(bins, first, end))
    return contigs


def one_chunk_bins(counts, w, step, most):
    """How many bins from word w on, at most `most`, have one chunk each (a bin every `step` words)."""
    return ONE_CHUNK_RUN.match(counts[w : w + step * most : step].tobytes()).end() // 4


def bin_interval(bin_number, min_shift, depth):
    """[begin, end) of the positions a bin covers (hts_bin_first / hts_bin_level of htslib)."""
    level, first = 0, 0
    while level < depth and bin_number >= first + (1 << (3 * level)):
        first += 1 << (3 * level)
        level += 1
    size = 1 << (min_shift + 3 * (depth - level))
    begin = (bin_number - first) * size
    return begin, begin + size


class NoRecord(Exception):
    """No record begins at a virtual offset the index gives."""


class RecordStart(NamedTuple):
    """What the check of an index reads of a record: its reference id and position (pysam's names)."""

    reference_id: int
    reference_start: int


# BGZF (SAM specification 4.1): a gzip member whose extra field is the subfield BC, BSIZE (the block's size - 1).
BGZF_HEAD = struct.Struct("<4BI2BH2BHH")  # ID1, ID2, CM, FLG, MTIME, XFL, OS, XLEN, SI1, SI2, SLEN, BSIZE
FEXTRA = 0x04
# A BAM record's block_size and the fixed fields after it (SAM specification 4.2): block_size, refID, pos,
# l_read_name, mapq, bin, n_cigar_op, flag, l_seq, next_refID, next_pos, tlen.
RECORD_HEAD = struct.Struct("<3iBBHHHi3i")


class BlockRecords:
    """The records that begin at virtual offsets of a BAM file, read from its BGZF blocks with zlib. A block is
    inflated once, and only as far as the offsets asked of it when they come in file order (zlib's max_length):
    htslib's seek (pysam) inflates a block whole every time. The check of a 1M-record panel BAM's index (768
    offsets in 387 blocks): 108-116 ms with pysam's records, 79-85 ms so, ~45 ms of it inflation (~80 whole).

    A record is taken as beginning at an offset when htslib would read one there: a BGZF block begins at the
    offset's block address, the offset lies within its data, and a record follows that bam_read1 and sam_read1
    (htslib 1.16) would accept: a block_size of 32 or more holding the read name (1 byte or more), CIGAR,
    sequence and qualities its fields give, reference ids of the header (or -1), and all of it in the file. The
    blocks' CRC32s are not checked (the counting passes' samtools does). names: the header's reference names."""

    def __init__(self, handle, file_size, names):
        self.handle, self.file_size, self.names = handle, file_size, names
        self._block_at = -1  # the file offset of the block being inflated, its next block's, and its ISIZE
        self._next_block_at, self._size = -1, 0
        self._inflater, self._data, self._rest = None, b"", b""  # its inflater, bytes inflated, deflate data left

    def record(self, offset):
        """The RecordStart at a virtual offset; None at the end of the file; NoRecord when none begins there."""
        head = self._bytes(offset, RECORD_HEAD.size)
        if not head:
            return None
        if len(head) < RECORD_HEAD.size:
            raise no_record(offset)
        size, ref_id, pos, l_read_name, _, _, n_cigar, _, l_seq, next_ref_id, _, _ = RECORD_HEAD.unpack(head)
        n_refs = len(self.names)
        if (
            size < 32
            or l_read_name < 1
            or l_seq < 0
            or 4 * n_cigar + l_read_name + (l_seq + 1) // 2 + l_seq > size - 32
            or not -1 <= ref_id < n_refs
            or not -1 <= next_ref_id < n_refs
            or len(self._bytes(offset, 4 + size)) < 4 + size
        ):
            raise no_record(offset)
        return RecordStart(ref_id, pos)

    def _bytes(self, offset, n_bytes):
        """n_bytes of the inflated stream from a virtual offset, over as many blocks as they take; fewer at the end
        of the file."""
        block_at, within, parts = offset >> 16, offset & 0xFFFF, []
        while n_bytes > 0 and self._load(block_at, offset):
            if within > self._size:
                raise no_record(offset)
            piece = self._inflated(within + n_bytes, offset)[within : within + n_bytes]
            parts.append(piece)
            n_bytes -= len(piece)
            block_at, within = self._next_block_at, 0
        return b"".join(parts)

    def _load(self, block_at, offset):
        """Make the block at a file offset the one being inflated: False past the last block."""
        if block_at == self._block_at:
            return True
        if block_at >= self.file_size:
            return False
        self.handle.seek(block_at)
        head = self.handle.read(BGZF_HEAD.size)
        if len(head) < BGZF_HEAD.size:
            raise no_record(offset)
        id1, id2, method, flags, _, _, _, xlen, si1, si2, slen, bsize = BGZF_HEAD.unpack(head)
        # What htslib's bgzf.c (check_header) takes for a BGZF block: BC as the one extra subfield.
        if (id1, id2, method, xlen, si1, si2, slen) != (31, 139, 8, 6, 66, 67, 2) or not flags & FEXTRA:
            raise no_record(offset)
        rest = self.handle.read(bsize + 1 - BGZF_HEAD.size)
        if len(rest) < bsize + 1 - BGZF_HEAD.size or len(rest) < 8:
            raise no_record(offset)
        self._block_at, self._next_block_at = block_at, block_at + bsize + 1
        self._size = INT.unpack_from(rest, len(rest) - 4)[0] & 0xFFFFFFFF  # ISIZE
        self._inflater, self._data = zlib.decompressobj(-15), b""
        self._rest = rest[:-8]  # the deflate data; the CRC32 and ISIZE after it
        return True

    def _inflated(self, n_bytes, offset):
        """The block's inflated bytes, at least its first n_bytes (or all it holds)."""
        if len(self._data) < min(n_bytes, self._size):
            try:
                more = self._inflater.decompress(self._rest, min(n_bytes, self._size) - len(self._data))
            except zlib.error:
                raise no_record(offset) from None
            self._rest = self._inflater.unconsumed_tail
            self._data += more
            if len(self._data) < min(n_bytes, self._size):  # the deflate data end before ISIZE says
                raise no_record(offset)
        return self._data


def no_record(offset):
    return NoRecord(f"no record begins where it points: {offset_text(offset)}")


@contextlib.contextmanager
def block_records(path, names):
    """The BlockRecords of the BAM at path (names: its header's reference names), open for a with block."""
    with open(path, "rb") as handle:
        yield BlockRecords(handle, os.fstat(handle.fileno()).st_size, names)


def sampled(items, count):
    """At most `count` items, spread evenly over the list (its first and last included)."""
    if len(items) <= count:
        return items
    return [items[i] for i in sampled_indexes(len(items), count)]


def sampled_indexes(length, count):
    """The indexes of the items sampled() takes of `length` items, when there are more than `count`."""
    step = (length - 1) / (count - 1)
    return [round(i * step) for i in range(count)]


def sampled_bins(contigs, count):
    """sampled() of the (tid, bin) of every bin of the contigs (ContigIndex), in index order, without making a
    pair of each: a 5 MB index has ~140,000 bins, and a cohort's group a few such indexes."""
    ends = list(itertools.accumulate(len(contig.bins) for contig in contigs))  # past each contig's last bin
    if not ends or ends[-1] <= count:
        return [(tid, b) for tid, contig in enumerate(contigs) for b in contig.bins]
    bins = []
    for index in sampled_indexes(ends[-1], count):
        tid = bisect.bisect_right(ends, index)  # the contig whose bins hold the index-th of them all
        bins.append((tid, contigs[tid].bins[index - (ends[tid - 1] if tid else 0)]))
    return bins


def offset_text(offset):
    """A virtual offset as a person reads it: the BGZF block's byte in the file, the record's in the block."""
    return f"byte {offset >> 16}, offset {offset & 0xFFFF} in the block"


def contig_problems(records, contig_index, tid, name, next_tid=-1):
    """Why a contig's pseudo-bin does not fit the file, or None. next_tid: the next contig the index places
    records on, in file order (-1: none; the unplaced records or the end of the file follow)."""
    if contig_index.first < 0:
        return None
    record = records.record(contig_index.first)
    if record is None or record.reference_id != tid:
        return f"the first record of '{name}' is not where it points: {offset_text(contig_index.first)}"
    after = records.record(contig_index.end)
    if after is not None and 0 <= after.reference_id <= tid:
        return f"the records of '{name}' do not end where it points: {offset_text(contig_index.end)}"
    # The record after them is the next placed contig's first. One of a contig the index places none on (a
    # contig whose records were added after the file was indexed: every earlier offset is unchanged) would be
    # counted 0 in every region, exit 0.
    if after is not None and after.reference_id > tid and after.reference_id != next_tid:
        listed = f"the index places none on '{records.names[after.reference_id]}'"
        return f"a record of '{records.names[after.reference_id]}' follows those of '{name}', but {listed}"
    if next_tid >= 0 and (after is None or after.reference_id < 0):
        what = "the end of the file" if after is None else "an unplaced record"
        listed = f"the index places records on '{records.names[next_tid]}' after them"
        return f"{what} follows the records of '{name}', but {listed}"
    return None


def bin_problem(records, index, tid, name, bin_number, begin):
    """Why a bin does not fit the file, or None: the record its first chunk begins at is of the contig, and
    lies in the bin."""
    record = records.record(begin)
    if record is not None and record.reference_id == tid:
        if record.reference_start < 0:  # unmapped records placed at pos -1 sit in a bin of their own
            return None
        low, high = bin_interval(bin_number, index.min_shift, index.depth)
        if low <= record.reference_start < high:
            return None
    return f"no record of '{name}' where it points: {offset_text(begin)}"


def bam_index_mismatch(aln, index_bytes, path):
    """Why an index (its bytes) does not belong to the BAM at path, open (pysam AlignmentFile, for its header), or
    None when it fits. An index that cannot be read at all is left to htslib, which names it."""
    with block_records(path, aln.references) as records:
        return index_problem(aln.tell(), index_bytes, records)  # just opened: tell() is where the records begin


def index_problem(first_record_at, index_bytes, records):
    """bam_index_mismatch of a file's BlockRecords, its first record at a virtual offset."""
    file_size, names = records.file_size, records.names
    try:
        index = index_layout(index_bytes)  # only the sampled bins are read (bins_at)
    except (OSError, EOFError, struct.error, zlib.error):
        return None
    if index is None:
        return None
    if len(index.contigs) != len(names):
        return f"it lists {len(index.contigs)} reference sequences, the file's header {len(names)}"
    placed = sorted((c.first, tid) for tid, c in enumerate(index.contigs) if c.first >= 0)
    if not placed:
        return unplaced_index_problem(records, first_record_at)
    ends = [c.end for c in index.contigs if c.end >= 0]
    if ends and max(ends) >> 16 > file_size:
        return f"it points to byte {max(ends) >> 16}, past the end of the file ({file_size} bytes)"
    # Bins in index order (contig by contig), sampled, then visited in file order.
    sampled_words = sampled_bins(index.contigs, SAMPLED_BINS)
    bins = [(tid, *b) for (tid, _), b in zip(sampled_words, bins_at(index, [w for _, w in sampled_words]))]
    next_placed = {tid: following for (_, tid), (_, following) in zip(placed, placed[1:])}  # in file order
    try:
        for _, tid in sampled(placed, SAMPLED_CONTIGS):
            problem = contig_problems(records, index.contigs[tid], tid, names[tid], next_placed.get(tid, -1))
            if problem:
                return problem
        for tid, bin_number, begin in sorted(bins, key=lambda b: b[2]):
            problem = bin_problem(records, index, tid, names[tid], bin_number, begin)
            if problem:
                return problem
    except NoRecord as err:
        return str(err)
    return None


def unplaced_index_problem(records, first_record_at):
    """Why an index that places no record on any reference sequence (that of a file of unplaced reads only, or
    of none) does not fit the file, or None. It has no pseudo-bin and no bin to sample; given with a file whose
    records are placed, htslib finds no record in any region and `samtools view -c` prints 0, exit 0. Such a
    file's first record, in coordinate order, is placed; the index's own file has none."""
    try:
        record = records.record(first_record_at)
    except NoRecord as err:
        return str(err)
    if record is not None and record.reference_id >= 0:
        name = records.names[record.reference_id]
        return f"it places no record on any reference sequence, but the file's first record is on '{name}'"
    return None


# --- CRAM ---------------------------------------------------------------------------------------------------
# Containers checked: each costs one small read.
SAMPLED_CONTAINERS = 256
CONTAINER_HEADER_MAX_BYTES = 4 + 9 * 8 + 5 * 1024  # length, ITF8/LTF8 fields, up to ~1000 landmarks


def read_itf8(data, pos):
    """(value, next position) of a CRAM ITF8 integer (1-5 bytes, signed 32 bit)."""
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    if first < 0xC0:
        return ((first & 0x3F) << 8) | data[pos + 1], pos + 2
    if first < 0xE0:
        return ((first & 0x1F) << 16) | (data[pos + 1] << 8) | data[pos + 2], pos + 3
    if first < 0xF0:
        return ((first & 0x0F) << 24) | int.from_bytes(data[pos + 1 : pos + 4], "big"), pos + 4
    value = ((first & 0x0F) << 28) | (int.from_bytes(data[pos + 1 : pos + 4], "big") << 4) | (data[pos + 4] & 0x0F)
    return value - (1 << 32) if value & (1 << 31) else value, pos + 5


def skip_ltf8(data, pos):
    """The position after a CRAM LTF8 integer (1-9 bytes, its length told by the leading 1 bits)."""
    first, length = data[pos], 1
    while length < 9 and first & (0x80 >> (length - 1)):
        length += 1
    return pos + length


def container_reference(data, major_version):
    """The reference id of a container header's bytes, or None when the bytes are not one (CRAM 3: its CRC32)."""
    pos = 4  # int32 length
    reference_id, pos = read_itf8(data, pos)
    for _ in range(3):  # start, span, number of records
        _, pos = read_itf8(data, pos)
    pos = skip_ltf8(data, skip_ltf8(data, pos) if major_version >= 3 else read_itf8(data, pos)[1])
    _, pos = read_itf8(data, pos)  # number of blocks
    n_landmarks, pos = read_itf8(data, pos)
    if not 0 <= n_landmarks <= 1024:
        return None
    for _ in range(n_landmarks):
        _, pos = read_itf8(data, pos)
    if major_version >= 3 and INT.unpack_from(data, pos)[0] & 0xFFFFFFFF != zlib.crc32(data[:pos]):
        return None
    return reference_id


def crai_entries(crai_bytes):
    """(reference id, container offset) of every line of a CRAI (gzipped text of six numbers a line)."""
    text = gzip.decompress(crai_bytes).decode("ascii")
    rows = [line.split("\t") for line in text.splitlines() if line.strip()]
    return [(int(fields[0]), int(fields[3])) for fields in rows]


def cram_index_mismatch(path, crai_bytes, references):
    """Why a CRAI (its bytes) does not belong to a CRAM file, or None when it fits (or cannot be read: left to
    htslib). references: the header's sequence names, for messages."""
    try:
        entries = crai_entries(crai_bytes)
    except (OSError, EOFError, ValueError, UnicodeDecodeError, IndexError, zlib.error):
        return None
    with open(path, "rb") as handle:
        head = handle.read(6)
        size = handle.seek(0, 2)
        for reference_id, offset in sampled(sorted(set(entries), key=lambda e: e[1]), SAMPLED_CONTAINERS):
            if offset >= size:
                return f"it points to byte {offset}, past the end of the file ({size} bytes)"
            handle.seek(offset)
            data = handle.read(CONTAINER_HEADER_MAX_BYTES)
            try:
                found = container_reference(data, head[4])
            except (IndexError, struct.error):
                found = None
            if found is None:
                return f"no CRAM container begins where it points: byte {offset}"
            if found not in (reference_id, -2):  # -2: a container of several references
                name = references[reference_id] if 0 <= reference_id < len(references) else reference_id
                return f"the container at byte {offset} is not of '{name}' as it says"
    return None


def index_mismatch(path, index_path, reference=None):
    """Why the index at index_path does not belong to the BAM or CRAM at path, or None when it fits (or when
    either cannot be read here: htslib then reads them, and names what is wrong)."""
    import pysam

    verbosity = pysam.set_verbosity(0)  # a foreign offset makes htslib print BGZF errors: the reason says it
    try:
        with open(index_path, "rb") as handle:
            index_bytes = handle.read()
        aln = pysam.AlignmentFile(path, "r", reference_filename=reference, check_sq=False)
    except (OSError, ValueError):
        pysam.set_verbosity(verbosity)
        return None
    try:
        if aln.format == "CRAM":
            return cram_index_mismatch(path, index_bytes, list(aln.references))
        return bam_index_mismatch(aln, index_bytes, path)
    finally:
        try:
            aln.close()
        except OSError:  # closing after a failed read reports that read again
            pass
        pysam.set_verbosity(verbosity)
