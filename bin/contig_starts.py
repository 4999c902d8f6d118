"""Whether every contig of an indexed BAM file begins with a record placed at base 0 or after.

htslib's `{name}` iterator skips a contig's records at pos -1 whose end (bam_endpos) does not pass base 0;
`samtools idxstats` reading the file counts every record of a contig. The two agree, and the cheaper
idxstats can count a sample per contig, when no contig has such records. An indexed BAM holds a contig's
records at pos -1 before all its others: htslib refuses to index a record at pos -1 after one at pos >= 0
("Unsorted positions"), and sorting puts them first. So looking at the first record of each contig is
enough; the index says where it is: the metadata pseudo-bin that htslib and Picard write for every contig
with records holds the virtual offset of its first record (SAM specification, section 5.2 and 5.3).

pysam has no call for the pseudo-bin, so the index is read here with `struct`, and the records at its offsets
with alignment_index.BlockRecords, as the check that the index belongs to the file reads them.
Anything unexpected (a CRAM index, an index without pseudo-bins, a record of another contig at an
offset) answers False: the sample is then counted by the filtered pass, never by a guess.
"""

import os
import struct
import zlib

from alignment_index import NoRecord, block_records, index_layout


def first_record_offsets(index_bytes):
    """{tid: virtual offset of the contig's first record} from a BAI or CSI index (CSI is BGZF-compressed).
    None when a contig with bins has no pseudo-bin, or the bytes are neither; struct.error when cut short."""
    index = index_layout(index_bytes)  # the bins' words will do: only whether a contig has bins is asked
    if index is None or any(contig.bins and contig.first < 0 for contig in index.contigs):
        return None
    return {tid: contig.first for tid, contig in enumerate(index.contigs) if contig.first >= 0}


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
        with block_records(os.fsdecode(aln.filename), aln.references) as records:
            for tid, offset in sorted(offsets.items(), key=lambda pair: pair[1]):
                record = records.record(offset)
                if record is None or record.reference_id != tid or record.reference_start < 0:
                    return False
    except (OSError, EOFError, ValueError, NoRecord, struct.error, zlib.error):
        return False
    return True
