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
  file begin;
- a sample of the bins, spread over all contigs, each have their first chunk start at a record of their contig
  whose position lies in the bin's interval.

A virtual offset of another file lands on a BGZF block boundary and a record boundary of this one, with the
right contig and position, only by a long chain of coincidences; two files that share their first blocks (a BAM
rewritten after a few records changed) part at the first block that differs, and the sampled bins and pseudo-bins,
which reach every part of the file, find it.

A CRAI lists the byte offset of each container: sampled ones must hold a container header of the slice's
reference whose CRC32 (CRAM 3) is right.

Read with `struct` (pysam has no call for the bins); records are read with pysam. Standard library and pysam.
"""

import bisect
import gzip
import itertools
import os
import struct
import zlib
from typing import NamedTuple

BAI_MAGIC = b"BAI\x01"
CSI_MAGIC = b"CSI\x01"
GZIP_MAGIC = b"\x1f\x8b"
BAI_MIN_SHIFT, BAI_DEPTH = 14, 5  # a BAI is a CSI of 6 levels of 16 kb bins
INT = struct.Struct("<i")
OFFSET = struct.Struct("<Q")
CHUNK = struct.Struct("<QQ")
BAI_BIN = struct.Struct("<Ii")  # bin, n_chunk
CSI_BIN = struct.Struct("<IQi")  # bin, loffset, n_chunk
# Contigs' pseudo-bins and bins checked, spread over the file: each costs about one BGZF block decoded
# (~0.1 ms) at most; a GRCh38 header's 3,366 contigs would cost 0.8 s.
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


def read_index(index_bytes):
    """The BamIndex of a BAI or CSI (CSI is BGZF-compressed); None when the bytes are neither; struct.error when
    the index is cut short. A contig without a pseudo-bin (htslib and Picard write one for every contig with
    records, other indexers may not) has first = end = -1."""
    data = gzip.decompress(index_bytes) if index_bytes[:2] == GZIP_MAGIC else index_bytes
    if data[:4] == BAI_MAGIC:
        csi, bin_header, pos, min_shift, depth = False, BAI_BIN, 4, BAI_MIN_SHIFT, BAI_DEPTH
    elif data[:4] == CSI_MAGIC:
        min_shift, depth, aux_length = struct.unpack_from("<iii", data, 4)
        csi, bin_header, pos = True, CSI_BIN, 16 + aux_length
    else:
        return None
    metadata_bin = pseudo_bin(depth)
    (n_refs,) = INT.unpack_from(data, pos)
    pos += 4
    contigs = []
    # Only each bin's first chunk is decoded: the loop runs over every bin of a 5 MB index (~140,000).
    unpack_bin, bin_size, unpack_offset = bin_header.unpack_from, bin_header.size, OFFSET.unpack_from
    for _ in range(n_refs):
        (n_bins,) = INT.unpack_from(data, pos)
        pos += 4
        if n_bins < 0:
            return None
        bins, first, end = [], -1, -1
        for _ in range(n_bins):
            fields = unpack_bin(data, pos)
            pos += bin_size
            bin_number, n_chunks = fields[0], fields[-1]
            if n_chunks < 0:
                return None
            if bin_number == metadata_bin and n_chunks == 2:  # (first, end offset), (mapped, unmapped)
                first, end = CHUNK.unpack_from(data, pos)
            elif n_chunks:
                bins.append((bin_number, unpack_offset(data, pos)[0]))
            pos += 16 * n_chunks
        if not csi:  # the linear index
            pos += 4 + 8 * INT.unpack_from(data, pos)[0]
        contigs.append(ContigIndex(bins, first, end))
    return BamIndex(min_shift, depth, contigs)


def bin_interval(bin_number, min_shift, depth):
    """[begin, end) of the positions a bin covers (hts_bin_first / hts_bin_level of htslib)."""
    level, first = 0, 0
    while level < depth and bin_number >= first + (1 << (3 * level)):
        first += 1 << (3 * level)
        level += 1
    size = 1 << (min_shift + 3 * (depth - level))
    begin = (bin_number - first) * size
    return begin, begin + size


def record_at(aln, offset):
    """The record at a virtual offset of an open BAM (pysam), or None when no record begins there. Within the
    BGZF block being read the records are read on to it: a seek decodes its block again, and the first records
    of thousands of small contigs share a few hundred blocks."""
    here = aln.tell()
    if here >> 16 != offset >> 16 or here > offset:
        aln.seek(offset)
        here = offset
    while here < offset:
        next(aln)
        here = aln.tell()
    return next(aln) if here == offset else None


class NoRecord(Exception):
    """No record begins at a virtual offset the index gives."""


def next_record_or_none(aln, offset):
    """The record at a virtual offset, or None at the end of the file; NoRecord when none begins there."""
    try:
        record = record_at(aln, offset)
    except StopIteration:
        return None
    except (OSError, ValueError):  # not a BGZF block there, or a record cut or garbled
        raise NoRecord(f"no record begins where it points: {offset_text(offset)}") from None
    if record is None:
        raise NoRecord(f"no record begins where it points: {offset_text(offset)}")
    return record


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
    """sampled() of the (tid, bin, begin) of every bin of the contigs (ContigIndex), in index order, without
    making a tuple of each: a 5 MB index has ~140,000 bins, and a cohort's group a few such indexes."""
    ends = list(itertools.accumulate(len(contig.bins) for contig in contigs))  # past each contig's last bin
    if not ends or ends[-1] <= count:
        return [(tid, *b) for tid, contig in enumerate(contigs) for b in contig.bins]
    bins = []
    for index in sampled_indexes(ends[-1], count):
        tid = bisect.bisect_right(ends, index)  # the contig whose bins hold the index-th of them all
        bins.append((tid, *contigs[tid].bins[index - (ends[tid - 1] if tid else 0)]))
    return bins


def offset_text(offset):
    """A virtual offset as a person reads it: the BGZF block's byte in the file, the record's in the block."""
    return f"byte {offset >> 16}, offset {offset & 0xFFFF} in the block"


def contig_problems(aln, contig_index, tid, name):
    """Why a contig's pseudo-bin does not fit the file, or None."""
    if contig_index.first < 0:
        return None
    record = next_record_or_none(aln, contig_index.first)
    if record is None or record.reference_id != tid:
        return f"the first record of '{name}' is not where it points: {offset_text(contig_index.first)}"
    after = next_record_or_none(aln, contig_index.end)
    if after is not None and 0 <= after.reference_id <= tid:
        return f"the records of '{name}' do not end where it points: {offset_text(contig_index.end)}"
    return None


def bin_problem(aln, index, tid, name, bin_number, begin):
    """Why a bin does not fit the file, or None: the record its first chunk begins at is of the contig, and
    lies in the bin."""
    record = next_record_or_none(aln, begin)
    if record is not None and record.reference_id == tid:
        if record.reference_start < 0:  # unmapped records placed at pos -1 sit in a bin of their own
            return None
        low, high = bin_interval(bin_number, index.min_shift, index.depth)
        if low <= record.reference_start < high:
            return None
    return f"no record of '{name}' where it points: {offset_text(begin)}"


def bam_index_mismatch(aln, index_bytes, file_size):
    """Why an index (its bytes) does not belong to an open BAM (pysam AlignmentFile, file_size bytes long), or
    None when it fits. An index that cannot be read at all is left to htslib, which names it."""
    try:
        index = read_index(index_bytes)
    except (OSError, EOFError, struct.error, zlib.error):
        return None
    if index is None:
        return None
    if len(index.contigs) != aln.nreferences:
        return f"it lists {len(index.contigs)} reference sequences, the file's header {aln.nreferences}"
    placed = sorted((c.first, tid) for tid, c in enumerate(index.contigs) if c.first >= 0)
    ends = [c.end for c in index.contigs if c.end >= 0]
    if ends and max(ends) >> 16 > file_size:
        return f"it points to byte {max(ends) >> 16}, past the end of the file ({file_size} bytes)"
    # Bins in index order (contig by contig), sampled, then visited in file order.
    bins = sampled_bins(index.contigs, SAMPLED_BINS)
    names = aln.references  # a tuple built anew at every access
    try:
        for _, tid in sampled(placed, SAMPLED_CONTIGS):
            problem = contig_problems(aln, index.contigs[tid], tid, names[tid])
            if problem:
                return problem
        for tid, bin_number, begin in sorted(bins, key=lambda b: b[2]):
            problem = bin_problem(aln, index, tid, names[tid], bin_number, begin)
            if problem:
                return problem
    except NoRecord as err:
        return str(err)
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
        return bam_index_mismatch(aln, index_bytes, os.path.getsize(path))
    finally:
        try:
            aln.close()
        except OSError:  # closing after a failed read reports that read again
            pass
        pysam.set_verbosity(verbosity)
