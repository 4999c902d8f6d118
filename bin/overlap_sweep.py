"""The records of a SAM text stream (bytes lines, as `samtools view` prints them) counted per item by htslib's
overlap rule in one sweep per contig (overlap_counts: a batch pass where numpy is missing, as on the counter's
image; bam_records.py reads it as BAM otherwise), and per contig (contig_counts: a batch's whole contigs).
"""

import itertools
import re
from heapq import heappop, heappush

CIGAR_OP = re.compile(rb"(\d+)([MIDNSHP=X])")
REFERENCE_CONSUMING = frozenset([b"M", b"D", b"N", b"=", b"X"])
CIGAR_CACHE_SIZE = 100_000
# Past any position (SAM POS, BAM's is a signed 32-bit number): the bound of an exhausted item list.
NO_BOUND = 1 << 62


class CigarSpans(dict):
    """Reference bases each CIGAR (bytes) consumes, as htslib's bam_endpos counts them (at least 1),
    computed once per distinct CIGAR: a 150 bp panel's records share a handful of CIGARs. Cleared when it
    grows past CIGAR_CACHE_SIZE distinct CIGARs (spliced reads make many), so memory stays bounded."""

    def __missing__(self, cigar):
        if len(self) >= CIGAR_CACHE_SIZE:
            self.clear()
        span = self[cigar] = cigar_span(cigar)
        return span


class UnmappedFlags(dict):
    """Whether a FLAG field (bytes) has 0x4: a dict lookup costs less than int() on every record."""

    def __missing__(self, flag):
        unmapped = self[flag] = bool(int(flag) & 0x4)
        return unmapped


def cigar_span(cigar):
    """Reference bases a CIGAR (bytes) consumes (M D N = X), at least 1: htslib's bam_endpos gives a
    record without such operations (or without CIGAR, '*') the span of one base."""
    if cigar[-1:] == b"M" and cigar[:-1].isdigit():  # the common `<n>M`
        length = int(cigar[:-1])
    else:
        length = sum(int(n) for n, op in CIGAR_OP.findall(cigar) if op in REFERENCE_CONSUMING)
    return length if length > 0 else 1


def reference_end(pos0, flag, cigar):
    """End (exclusive, 0-based) of a record on the reference, as htslib's bam_endpos computes it: an
    unmapped record (0x4) spans one base whatever its CIGAR says."""
    return pos0 + (1 if flag & 0x4 else cigar_span(cigar))


class RecordOrderError(Exception):
    """The records of a pass are not in coordinate order: the sweep cannot count them."""


def contig_sweeps(items):
    """Per contig (as SAM bytes): its items' indexes sorted by end and by start, with those bounds in
    SAM's 1-based coordinates (an item [start, end) covers POS start+1 to end)."""
    by_contig = {}
    for index, item in enumerate(items):
        by_contig.setdefault(item.contig.encode("utf-8", "surrogateescape"), []).append(index)
    sweeps = {}
    for contig, indexes in by_contig.items():
        by_end = sorted(indexes, key=lambda i: items[i].end)
        by_start = sorted(indexes, key=lambda i: items[i].start)
        sweeps[contig] = (
            by_end,
            [items[i].end + 1 for i in by_end],
            by_start,
            [items[i].start + 1 for i in by_start],
        )
    return sweeps


def overlap_counts(sam_lines, items):
    """For each item, the records (SAM lines, bytes) that overlap it by htslib's rule: a record spans
    [POS, POS + span) with SAM's 1-based POS and span from bam_endpos, and overlaps the item's 0-based
    half-open [start, end) when POS <= end and POS + span > start + 1. One sweep per contig, in the
    stream's coordinate order:

        overlapping(item) = #{records with POS <= end} - #{records ending at or before its start}

    (a record that ends before the start also starts before the end, so the second set lies in the
    first). Records of a -M pass come once each, in coordinate order; a record that does not overlap an
    item adds to both terms or to neither. Cost: records + items + overlaps; memory: the records that
    span one base (see sweep_contig). Raises RecordOrderError for records out of coordinate order."""
    counts = [0] * len(items)
    sweeps = contig_sweeps(items)
    no_items = ([], [], [], [])
    spans, unmapped = CigarSpans(), UnmappedFlags()
    finished = set()
    lines = iter(sam_lines)
    line = next(lines, None)
    while line is not None:
        contig = line.split(b"\t", 3)[2]
        if contig in finished:  # its records were interrupted by another contig's
            raise RecordOrderError(f"records of {contig.decode(errors='replace')} are not contiguous")
        finished.add(contig)
        line = sweep_contig(
            itertools.chain([line], lines), contig, sweeps.get(contig, no_items), counts, spans, unmapped
        )
    return counts


def sweep_contig(lines, contig, sweep, counts, spans, unmapped):
    """Add one contig's counts (see overlap_counts) from its records, the first lines of `lines`;
    return the first line of the next contig (None at the end).

    First term: items in end order; an item is done when a record past its end arrives (or the contig
    ends), with every record seen so far. Second term: items in start order; `ended` counts the records
    that end at or before the next pending start (they end before every pending start), a min-heap holds
    the ends of the others: records that start before that base and end after it, the records that
    span one base. When a record reaches the next pending start, that item takes the records ended
    before its start, and the heap gives up the ends that the new next start passed."""
    by_end, ends, by_start, starts = sweep
    n_ends, n_starts = len(ends), len(starts)
    next_end = ends[0] if n_ends else NO_BOUND  # the smallest pending end (1-based, exclusive)
    next_start = starts[0] if n_starts else NO_BOUND
    i_end = i_start = seen = ended = last = 0
    spanning = []  # ends (1-based, exclusive) of records spanning base next_start
    for line in lines:
        fields = line.split(b"\t", 6)
        if fields[2] != contig:
            break
        pos = int(fields[3])
        if pos < last:
            raise RecordOrderError(f"{contig.decode(errors='replace')}:{pos} follows {last}: records out of order")
        last = pos
        if pos >= next_end:
            while i_end < n_ends and ends[i_end] <= pos:
                counts[by_end[i_end]] += seen
                i_end += 1
            next_end = ends[i_end] if i_end < n_ends else NO_BOUND
        if pos >= next_start:
            i_start, ended = retire_starts(starts, by_start, i_start, pos, spanning, ended, counts)
            next_start = starts[i_start] if i_start < n_starts else NO_BOUND
        seen += 1
        if i_start < n_starts:  # else no start is pending: record ends no longer matter
            end = pos + (1 if unmapped[fields[1]] else spans[fields[5]])
            if end <= next_start:
                ended += 1
            else:
                heappush(spanning, end)
    else:
        line = None
    for i in range(i_end, n_ends):
        counts[by_end[i]] += seen
    retire_starts(starts, by_start, i_start, NO_BOUND, spanning, ended, counts)
    return line


def counts_ended(spanning, bound, ended):
    """`ended` plus the ends <= bound popped from the heap."""
    while spanning and spanning[0] <= bound:
        heappop(spanning)
        ended += 1
    return ended


def retire_starts(starts, by_start, i_start, pos, spanning, ended, counts):
    """Subtract from each item whose start is at or before pos the records that ended before its start;
    then pop the ends that the next pending start passed (or drop the heap: no start is left).
    Returns (index of the first pending item, ended)."""
    n_starts = len(starts)
    while i_start < n_starts and starts[i_start] <= pos:
        ended = counts_ended(spanning, starts[i_start], ended)
        counts[by_start[i_start]] -= ended
        i_start += 1
    if i_start < n_starts:
        ended = counts_ended(spanning, starts[i_start], ended)
    else:
        del spanning[:]
    return i_start, ended


def contig_counts(sam_lines, contigs):
    """Records per contig in SAM output (bytes lines), in the order of `contigs`."""
    counts = dict.fromkeys((contig.encode("utf-8", "surrogateescape") for contig in contigs), 0)
    for line in sam_lines:
        contig = line.split(b"\t", 3)[2]
        if contig in counts:
            counts[contig] += 1
    return [counts[contig.encode("utf-8", "surrogateescape")] for contig in contigs]
