"""Records per contig in an uncompressed BAM stream (``samtools view -u``), counted as ``samtools view -c
<file> {name}`` counts them: the region-less pass of count_unit.py.

samtools reads the records and applies the user's filters; this module only walks the records it writes
(4-byte length, refID, pos: no decoding of names, CIGARs or sequences), which costs a third of what
samtools takes to write them. Counting by refID equals counting by ``{name}`` region because htslib's
iterator for a whole contig returns every record of that refID whose end (bam_endpos) lies past base 0:
all records with pos >= 0 (past the @SQ length too), and of those with pos -1 the mapped ones whose CIGAR
reaches base 0. Unplaced records (refID -1) belong to no contig.
"""

import struct
import zlib

# gzip member header of a BGZF block: ID1 ID2 CM FLG MTIME XFL OS XLEN, then the BC extra field with BSIZE.
BGZF_HEADER = struct.Struct("<4BI2BH2BHH")
BGZF_SIGNATURE = (31, 139, 8, 4, 6, 66, 67, 2)  # ID1 ID2 CM FLG XLEN SI1 SI2 SLEN as htslib writes them
RECORD_START = struct.Struct("<iii")  # block_size, refID, pos
INT32 = struct.Struct("<i")
UINT32 = struct.Struct("<I")
MIN_RECORD_SIZE = 32  # the fixed fields after block_size
UNMAPPED = 0x4
REFERENCE_CONSUMING_OPS = frozenset([0, 2, 3, 7, 8])  # M D N = X (BAM op codes)


class BamStreamError(ValueError):
    """The stream is not a complete BAM file."""


def bgzf_blocks(stream):
    """The uncompressed contents of the BGZF blocks of a binary stream."""
    while True:
        header = stream.read(BGZF_HEADER.size)
        if not header:
            return
        if len(header) < BGZF_HEADER.size:
            raise BamStreamError("the BAM stream ends inside a BGZF block header")
        fields = BGZF_HEADER.unpack(header)
        if fields[:4] + fields[7:11] != BGZF_SIGNATURE:
            raise BamStreamError("the stream is not BGZF-compressed BAM")
        body = stream.read(fields[11] - BGZF_HEADER.size + 1)  # BSIZE is the block size minus 1
        if len(body) != fields[11] - BGZF_HEADER.size + 1:
            raise BamStreamError("the BAM stream ends inside a BGZF block")
        data = zlib.decompress(body[:-8], -15)
        if len(data) != UINT32.unpack_from(body, len(body) - 4)[0]:
            raise BamStreamError("a BGZF block has the wrong uncompressed size")
        yield data


class BlockBuffer:
    """Bytes of consecutive blocks read on demand, for the header (whose size is only known as it is read)."""

    def __init__(self, blocks):
        self.blocks, self.data, self.offset = blocks, b"", 0

    def take(self, size):
        while len(self.data) - self.offset < size:
            block = next(self.blocks, None)
            if block is None:
                raise BamStreamError("the BAM stream ends inside its header")
            self.data = self.data[self.offset :] + block
            self.offset = 0
        piece = self.data[self.offset : self.offset + size]
        self.offset += size
        return piece

    def int32(self):
        return INT32.unpack(self.take(4))[0]


def read_header(buffer):
    """Contig names (str) in header order; leaves the buffer at the first record."""
    if buffer.take(4) != b"BAM\1":
        raise BamStreamError("the stream is not BAM (no BAM magic)")
    buffer.take(buffer.int32())  # SAM header text
    names = []
    for _ in range(buffer.int32()):
        names.append(buffer.take(buffer.int32()).rstrip(b"\0").decode("utf-8", "surrogateescape"))
        buffer.take(4)  # l_ref
    return names


def reaches_first_base(data, offset):
    """Whether a record placed at pos -1 ends past base 0 by bam_endpos (htslib's overlap rule): a mapped
    record whose CIGAR consumes reference bases; an unmapped one spans pos -1 only."""
    flag = struct.unpack_from("<H", data, offset + 18)[0]
    if flag & UNMAPPED:
        return False
    name_length, n_cigar = data[offset + 12], struct.unpack_from("<H", data, offset + 16)[0]
    cigar = struct.unpack_from(f"<{n_cigar}I", data, offset + 36 + name_length)
    span = sum(op >> 4 for op in cigar if op & 0xF in REFERENCE_CONSUMING_OPS)
    return span > 1  # it ends at -1 + span: past base 0 only with 2 reference bases or more


def contig_record_counts(stream):
    """(contig names in header order, records per contig) of a `samtools view -u` stream; BamStreamError
    when the stream is cut or not BAM, IndexError for a refID past the header's contigs."""
    blocks = bgzf_blocks(stream)
    buffer = BlockBuffer(blocks)
    names = read_header(buffer)
    counts = [0] * len(names)
    data, offset = buffer.data, buffer.offset
    record_start = RECORD_START.unpack_from
    while True:
        size = len(data)
        while offset + 12 <= size:  # the hot loop: one unpack per record
            block_size, tid, pos = record_start(data, offset)
            end = offset + 4 + block_size
            if end > size:
                break
            if block_size < MIN_RECORD_SIZE:
                raise BamStreamError(f"a BAM record of {block_size} bytes")
            if tid >= 0 and (pos >= 0 or reaches_first_base(data, offset)):
                counts[tid] += 1
            offset = end
        block = next(blocks, None)
        if block is None:
            break
        data, offset = data[offset:] + block, 0
    if offset != len(data):
        raise BamStreamError("the BAM stream ends inside a record")
    return names, counts
