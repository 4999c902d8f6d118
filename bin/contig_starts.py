"""Whether every contig of an indexed BAM file begins with a record placed at base 0 or after.

htslib's `{name}` iterator skips a contig's records at pos -1 whose end (bam_endpos) does not pass base 0;
`samtools idxstats` reading the file counts every record of a contig. The two agree, and the cheaper
idxstats can count a sample per contig, when no contig has such records. An indexed BAM holds a contig's
records at pos -1 before all its others: htslib refuses to index a record at pos -1 after one at pos >= 0
("Unsorted positions"), and sorting puts them first. So looking at the first record of each contig is
enough; the index says where it is: the metadata pseudo-bin that htslib and Picard write for every contig
with records holds the virtual offset of its first record (SAM specification, section 5.2 and 5.3).

pysam reads the records; it has no call for the pseudo-bin, so the index is read here with `struct`.
Anything unexpected (a CRAM index, an index without pseudo-bins, a record of another contig at an
offset) answers False: the sample is then counted by the filtered pass, never by a guess.
"""

import gzip
import struct
import zlib

BAI_MAGIC = b"BAI\x01"
CSI_MAGIC = b"CSI\x01"
BAI_PSEUDO_BIN = 37450  # BAI: 6 levels of bins, 0..37449
GZIP_MAGIC = b"\x1f\x8b"
INT = struct.Struct("<i")
OFFSET = struct.Struct("<Q")
BAI_BIN = struct.Struct("<Ii")  # bin, n_chunk
CSI_BIN = struct.Struct("<IQi")  # bin, loffset, n_chunk


def pseudo_bin(depth):
    """The metadata bin of a CSI index of `depth` levels (BAI: depth 5, bin 37450)."""
    return ((1 << (3 * (depth + 1))) - 1) // 7 + 1


def first_record_offsets(index_bytes):
    """{tid: virtual offset of the contig's first record} from a BAI or CSI index (CSI is BGZF-compressed).
    None when a contig with bins has no pseudo-bin, or the bytes are neither; struct.error when cut short."""
    data = gzip.decompress(index_bytes) if index_bytes[:2] == GZIP_MAGIC else index_bytes
    if data[:4] == BAI_MAGIC:
        csi, bin_header, pos, metadata_bin = False, BAI_BIN, 4, BAI_PSEUDO_BIN
    elif data[:4] == CSI_MAGIC:
        _min_shift, depth, aux_length = struct.unpack_from("<iii", data, 4)
        csi, bin_header, pos, metadata_bin = True, CSI_BIN, 16 + aux_length, pseudo_bin(depth)
    else:
        return None
    (n_refs,) = INT.unpack_from(data, pos)
    pos += 4
    offsets = {}
    for tid in range(n_refs):
        (n_bins,) = INT.unpack_from(data, pos)
        pos += 4
        if n_bins < 0:
            return None
        for _ in range(n_bins):
            fields = bin_header.unpack_from(data, pos)
            pos += bin_header.size
            if fields[-1] < 0:
                return None
            if fields[0] == metadata_bin and fields[-1] == 2:  # (first, end offset), (mapped, unmapped)
                offsets[tid] = OFFSET.unpack_from(data, pos)[0]
            pos += 16 * fields[-1]
        if n_bins and tid not in offsets:
            return None
        if not csi:  # the linear index
            pos += 4 + 8 * INT.unpack_from(data, pos)[0]
    return offsets


def contigs_start_placed(aln, index_path):
    """True when the first record of every contig of an open BAM (pysam AlignmentFile) lies at pos >= 0,
    so that no record of a contig is one that `{name}` skips; False when one does not, or when the index
    (index_path) cannot tell."""
    if aln.format != "BAM" or not index_path:
        return False
    try:
        with open(index_path, "rb") as handle:
            offsets = first_record_offsets(handle.read())
        if offsets is None:
            return False
        for tid, offset in sorted(offsets.items(), key=lambda pair: pair[1]):
            record = record_at(aln, offset)
            if record is None or record.reference_id != tid or record.reference_start < 0:
                return False
    except (OSError, EOFError, ValueError, StopIteration, struct.error, zlib.error):
        return False
    return True


def record_at(aln, offset):
    """The record at a virtual offset, or None when no record begins there. Within the BGZF block being read
    the records are read on to it: a seek decodes its block again, and the first records of thousands of
    small contigs share a few hundred blocks."""
    here = aln.tell()
    if here >> 16 != offset >> 16 or here > offset:
        aln.seek(offset)
        here = offset
    while here < offset:
        next(aln)
        here = aln.tell()
    return next(aln) if here == offset else None
