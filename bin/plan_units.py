#!/usr/bin/env python3
"""Read the regions of a group of samples and plan their counting work units.

The pipeline plans samples in groups (a cohort's small samples share planning, counting and reducing
tasks); a group may be one sample. For each sample, regions come from its BAM/CRAM header (@SQ lines,
header order) or from a BED file. Each region becomes one or more items; the items of every sample of the
group are cut into a bounded number of work units balanced by the expected number of reads (the index
statistics give records per contig at no cost):

- a region holding more than one unit's share of the reads is split into chunks (of at most
  --split-size bp); a chunk counts the records whose leftmost position lies in it, so the chunks of a
  region add up to exactly the count of the whole region;
- a region expected to hold many reads is counted by its own ``samtools view -c``;
- small regions are batched: one samtools pass over all of them (one index load);
- a sample counted per contig (header regions) that fits in one unit's share of the reads is counted by
  one region-less pass over its file, whatever its number of contigs: a whole-contig region costs htslib
  a walk over every index bin, thousands of times for the small contigs (the cohort case: many small BAMs);
- units are contiguous runs of the items in genomic order (sample by sample, then header contig order and
  position): a unit of a target panel reads one stretch of the file, so two units of one BAM decode
  disjoint halves of it instead of both reading all of it.

Input: ``--samples``, a TSV manifest (``sample``, ``alignments``, ``index``, ``file_name`` for messages).
Outputs: ``regions/<sample>.regions.tsv`` (one row per region, in order), ``units/unit_NNNN.tsv``
(one file per work unit; each row names its sample), ``unit_samples.tsv`` (the samples of each unit) and
``index_statistics.tsv`` (each sample's records per contig, read from its index here, so that the counting
tasks need not ask ``samtools idxstats`` once per sample each).
The plan depends only on the inputs and parameters, so ``-resume`` caches.
"""

import argparse
import collections
import functools
import gzip
import itertools
import logging
import math
import operator
import os
import shutil
import sys
import zlib
from array import array
from typing import NamedTuple

from alignment_index import index_mismatch
from contig_starts import contigs_start_placed
from input_checks import BGZF_EOF, GZIP_MAGIC, input_problem, is_bgzf, read_head, read_tail
from task_files import (
    ALL_SAMPLES,
    BED_HEADER_PREFIXES,
    INDEX_STATISTICS_FILE,
    PASS_MODES,
    UNIT_SAMPLES_FILE,
    bed_writable,
    read_samples,
    regions_table_name,
    unit_file_name,
    write_index_statistics,
    write_regions_table,
    write_unit,
    write_unit_samples,
)
from task_script import add_log_options, run_script, start_logging
from task_warnings import lengths_described
from tsv_files import plain_numbers

log = logging.getLogger("plan_units")

# Warnings for the user, one a line (the pipeline shows them on its console): written only when there are some.
# A counting task that starts more samtools calls than this for chunks (10-30 ms each before any read) spends
# minutes starting samtools: --split_size far below the contigs' lengths (1 bp made 166,569 chunks of 166 kb).
CHUNK_CALLS_WARNING = 1000
# Items a unit holds at most, about (uncrowded): what a counting task's memory request holds.
MAX_UNIT_ITEMS = 1_000_000
CHUNKS_PER_SHARE = 3
# Records in one BGZF block (64 KiB uncompressed; ~320-byte records of 150 bp reads): samtools decodes the
# whole block a region starts in, even for a region of one read.
BLOCK_READS = 200


class InputError(Exception):
    """Bad input: the message names the file and the problem."""


# Regions and items are named tuples: a panel makes hundreds of thousands, and a frozen dataclass costs
# several times more to build.
class Region(NamedTuple):
    region_id: int
    name: str
    contig: str
    start: int  # 0-based, half-open
    end: int
    # A header (@SQ) region: counted as `{name}`, which reaches records placed past the @SQ length. A BED
    # region is `{name}:beg-end` even when it spans the whole contig, as samtools would read it.
    whole_contig: bool = False


# An item as planned, with its expected cost; written to its unit file as a task_files.UnitItem row (its mode
# and open_end are described there).
class Item(NamedTuple):
    region_id: int
    contig: str
    start: int
    end: int
    mode: str
    expected_reads: float
    whole_contig: bool
    open_end: bool = False
    sample: str = ""
    # Records a batch pass decodes to reach the item beyond its own (block_overheads): part of its cost.
    decoded_reads: float = 0.0


# A named tuple made from its fields' tuple, as its class would make it, without the Python-level __new__ of
# NamedTuple classes: a third of the cost of building a panel's hundreds of thousands of regions and items.
new_tuple = tuple.__new__


def header_regions(contigs):
    """Whole-contig regions, in header order, from (name, length) pairs."""
    return [Region(i, name, name, 0, length, True) for i, (name, length) in enumerate(contigs, start=1)]


def line_break_contigs_problem(contigs, regions, file_name, shown=3):
    """One line naming the contigs of the regions that hold a line break (CR or LF), or None. Each such region
    would be a line of the unit files and count tables, which are read a line at a time: the SAM specification
    allows no such name, but htslib keeps one from a BAM's binary reference list (and samtools counts it)."""
    broken = {name for name, _ in contigs if "\r" in name or "\n" in name}
    if broken:  # seldom: the regions are looked at only then
        broken = {region.contig for region in regions} & broken
    if not broken:
        return None
    ordered = [name for name, _ in contigs if name in broken]
    return (
        f"{file_name}: the header names {len(ordered)} contig(s) to count holding a line break (CR or LF), which "
        f"the SAM specification does not allow: {names_listed(ordered, shown)}: correct the header (samtools "
        "reheader), or count other contigs (--regions)"
    )


def repeated_contigs_problem(contigs, file_name, shown=3):
    """One line naming the contigs the header names more than once, or None. The SAM specification wants each
    @SQ name once; htslib reads such a BAM, but cannot map names to its reference sequences: `samtools view -c
    FILE REGION` then finds no region of the file, on any contig, and counts 0 or stops ("Duplicate entry"),
    while a pass by contig number counts each one (the per-contig counts, keyed by name, were wrong, exit 0)."""
    repeated = [name for name, n in collections.Counter(name for name, _ in contigs).items() if n > 1]
    if not repeated:  # in the order of their first @SQ line
        return None
    return (
        f"{file_name}: the header names {len(repeated)} contig(s) more than once, which the SAM specification does "
        f"not allow (samtools then finds no region of the file by name): {names_listed(repeated, shown)}: correct "
        "the header (samtools reheader)"
    )


def names_listed(names, shown):
    """The first `shown` names, quoted as Python quotes them (a CR shows as \\r), and how many more."""
    listed = ", ".join(repr(name) for name in names[:shown])
    return listed + (f" and {len(names) - shown} more" if len(names) > shown else "")


def read_bed_bytes(path, shown_name):
    """The bytes of a BED file: plain, gzip or bgzip, told by the magic bytes (not the name)."""
    try:
        head = read_head(path, 18)
        compressed = head[:2] == GZIP_MAGIC
        # bgzip ends every file with an empty block: a BGZF file cut at a block boundary lacks it, and the
        # gzip module, which sees only complete members, would read the rest without a word.
        if compressed and is_bgzf(head) and read_tail(path, len(BGZF_EOF)) != BGZF_EOF:
            raise EOFError("no BGZF end-of-file block")
        with (gzip.open if compressed else open)(path, "rb") as handle:
            return handle.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:  # BadGzipFile is an OSError: caught first
        raise InputError(f"{shown_name}: truncated or corrupt gzip file ({err})") from None
    except OSError as err:
        raise InputError(f"{shown_name}: cannot read: {err.strerror or err}") from None


def bed_text_lines(data, shown_name):
    """The lines of a BED file's bytes as text, without their line breaks: UTF-8, a leading byte-order mark
    dropped; binary data is refused. Decoded whole (a line at a time cost a tenth of a panel's planning):
    UTF-8 decodes whole exactly when each line does, a line break never being part of another character."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    if text is None or "\0" in text:
        raise InputError(binary_line_problem(data.split(b"\n"), shown_name))
    lines = text.split("\n")
    if not data or data.endswith(b"\n"):  # the break ending the last line starts no line (nor does an empty file)
        lines.pop()
    return lines


def binary_line_problem(lines, shown_name):
    """The message naming the first line (bytes) that is not UTF-8 text, or holds a NUL (valid UTF-8, but never
    in text)."""
    for lineno, line in enumerate(lines, start=1):
        try:
            decoded = line.decode("utf-8-sig" if lineno == 1 else "utf-8")
        except UnicodeDecodeError:
            decoded = None
        if decoded is None or "\0" in decoded:
            break
    return f"{shown_name}: not a BED text file (line {lineno} holds binary data, not UTF-8 text)"


def is_bed_header(line, contig_lengths):
    """Blank, comment and track/browser lines; a line whose first field is a contig of the header is data."""
    if not line.strip():
        return True
    # A BED header/comment line, unless its first field is a contig of the header (bed_regions): such contigs
    # never go into a batch BED (task_files.bed_writable).
    return line.startswith(BED_HEADER_PREFIXES) and line.split("\t", 1)[0] not in contig_lengths


# BED coordinates are ASCII digits only (isascii and isdigit: str.isdigit alone takes '²' and full-width digits,
# which int() reads or refuses).
# The largest position a BAM/CRAM holds (SAM POS, a signed 32-bit number): an end at or past it reaches every
# record of the contig. samtools -L misreads or crashes on much larger ends (20 digits: 0 records, exit 0).
MAX_BED_COORDINATE = 2**31 - 1
# A batch's BED costs samtools -L 4 bytes per 8 kb of its largest end on each contig (1 MiB for 2^31-1): a
# region ending further than this past its contig's length is counted by its own call.
BATCH_PAST_END_BP = 1_000_000
# Problems listed in one message: a BED of another assembly would otherwise make one line per BED line.
SHOWN_PROBLEMS = 10
SHOWN_CONTIGS = 3


def bed_regions(lines, contig_lengths, path, alignments_name="the BAM", first_fields=None):
    """Regions from BED lines (0-based, half-open). Problems of the BED itself are collected and raised
    together (the first SHOWN_PROBLEMS); otherwise lines naming contigs the header lacks are raised as one
    line naming the alignments file (missing_contigs_problem). An end past its contig's length is a region:
    samtools counts it to that end, records placed past the @SQ length included (ends_past_contigs).
    first_fields: a set to which the first field of every line is added (the key of bed_cache)."""
    regions, problems, missing = [], [], []
    first_fields = set() if first_fields is None else first_fields
    add_first = first_fields.add
    # A header contig's name as sys.intern makes it, told and made by one lookup of the line's first field.
    interned = {contig: sys.intern(contig) for contig in contig_lengths}
    last_contig = None  # of the last usual line: the first field of the lines of a run of it is added once
    for lineno, raw in usual_blocks_skipped(lines, interned, regions, first_fields):
        fields = raw.split("\t")
        # The usual line of a panel, told first with fewer tests: four fields or more, a contig of the header,
        # coordinates of digits alone (which strip() leaves as they are), in order, and a name. Its first
        # three fields precede a tab: the line break that the general case strips first is no part of them,
        # nor of the name once stripped. Any other line is read by the general case.
        contig = interned.get(fields[0])
        if contig is not None and len(fields) > 3:
            start_text, end_text, name = fields[1], fields[2], fields[3].strip()
            if start_text.isdigit() and end_text.isdigit() and start_text.isascii() and end_text.isascii():
                start, end = int(start_text), int(end_text)
                if start < end <= MAX_BED_COORDINATE and name and name != "." and "\r" not in name:
                    if contig is not last_contig:
                        add_first(contig)
                        last_contig = contig
                    regions.append(new_tuple(Region, (len(regions) + 1, name, contig, start, end, False)))
                    continue
        line = raw.rstrip("\r\n")
        fields = line.split("\t")
        add_first(fields[0])
        if fields[0] not in contig_lengths and is_bed_header(line, contig_lengths):  # a contig first: data
            continue
        if len(fields) < 3:
            problems.append(f"line {lineno}: expected at least 3 tab-separated columns, got {len(fields)}")
            continue
        # One string per contig (sys.intern), not one per line: a panel has a million lines and ~25 contigs.
        contig, start_text, end_text = sys.intern(fields[0]), fields[1].strip(), fields[2].strip()
        if not (start_text.isascii() and start_text.isdigit() and end_text.isascii() and end_text.isdigit()):
            problems.append(
                f"line {lineno}: start and end must be non-negative integers, got '{start_text}', '{end_text}'"
            )
            continue
        start, end = int(start_text), int(end_text)
        if start >= end:
            problems.append(f"line {lineno}: start {start} is not less than end {end}")
            continue
        if end > MAX_BED_COORDINATE:
            problems.append(f"line {lineno}: end {end} is past the largest BAM/CRAM position ({MAX_BED_COORDINATE})")
            continue
        if contig not in contig_lengths:
            missing.append(contig)
            continue
        name = fields[3].strip() if len(fields) > 3 else ""
        if "\r" in name:  # the tables it goes to are read a line at a time, and a CR ends a line there too
            problems.append(f"line {lineno}: the name {name!r} holds a carriage return (CR): name it without one")
            continue
        if name in ("", "."):  # BED's "." is "no name"
            name = f"{contig}:{start + 1}-{end}"
        regions.append(new_tuple(Region, (len(regions) + 1, name, contig, start, end, False)))
    messages = []
    if problems:
        shown = "; ".join(problems[:SHOWN_PROBLEMS])
        more = f"; ... ({len(problems)} invalid lines in all)" if len(problems) > SHOWN_PROBLEMS else ""
        messages.append(f"{path}: invalid BED: {shown}{more}")
    if missing:
        messages.append(missing_contigs_problem(missing, contig_lengths, path, alignments_name))
    if messages:  # one line each: the BED's own problems, then what this alignments file lacks
        raise InputError("\n".join(messages))
    if not regions:
        raise InputError(f"{path}: BED file has no regions")
    return regions


# Lines of a BED read at once by usual_block_regions: a block's split fields take a few MB.
BED_BLOCK_LINES = 4096


def usual_blocks_skipped(lines, interned, regions, first_fields):
    """(line number, line) of the lines of a BED that bed_regions reads one by one: a block of BED_BLOCK_LINES
    lines that are all usual lines of one number of fields (usual_block_regions) is read at once instead, its
    regions appended to `regions` and its contigs added to first_fields, as the line by line loop would."""
    for first in range(0, len(lines), BED_BLOCK_LINES):
        block = lines[first : first + BED_BLOCK_LINES]
        usual = usual_block_regions(block, interned, len(regions) + 1)
        if usual is None:
            yield from enumerate(block, start=first + 1)
            continue
        regions += usual
        first_fields.update(map(CONTIG_OF, usual))


def usual_block_regions(block, interned, first_id):
    """The Regions (ids from first_id on) of a block of BED lines that are all the usual line of bed_regions'
    loop (a contig of the header, coordinates of ASCII digits alone, start < end <= MAX_BED_COORDINATE, a name
    other than '' or '.' once stripped, holding no CR), each of the same number of fields, 4 or more; None for any
    other block, which is read line by line. Its fields are split in C, a line break made a field of its own
    between lines: the lines are regular exactly when every (n_fields + 1)-th field is that break (no line holds
    one: split lines do not; any other line is left to the loop). 200,000 exons: 0.38 s line by line."""
    n_fields = block[0].count("\t") + 1
    text = "\t\n\t".join(block)
    if n_fields < 4 or text.count("\n") != len(block) - 1:
        return None
    fields = text.split("\t")
    stride = n_fields + 1
    if len(fields) != len(block) * stride - 1 or fields[n_fields::stride].count("\n") != len(block) - 1:
        return None
    starts, ends = fields[1::stride], fields[2::stride]
    if not (plain_numbers(starts) and plain_numbers(ends)):
        return None
    names = list(map(str.strip, fields[3::stride]))
    if "" in names or "." in names or "\r" in "".join(names):  # a CR inside a name: a problem the loop names
        return None
    try:
        contigs = list(map(interned.__getitem__, fields[0::stride]))
        starts, ends = list(map(int, starts)), list(map(int, ends))  # (ValueError: past int()'s digits limit)
    except (KeyError, ValueError):
        return None
    if not all(map(operator.lt, starts, ends)) or max(ends) > MAX_BED_COORDINATE:
        return None
    ids = range(first_id, first_id + len(block))
    return list(
        map(new_tuple, itertools.repeat(Region), zip(ids, names, contigs, starts, ends, itertools.repeat(False)))
    )


def bed_references_warning(group, regions_of, shown=3):
    """One line naming the files of the group whose headers give a contig of the BED other lengths (the
    same BED lines counted on different references), or None."""
    if len(group) < 2:  # one file: one length per contig
        return None
    by_contig = {}
    contigs_of = {}  # id(regions) -> their contigs, in order: the samples of a group share one list of regions
    for files in group:
        lengths, regions = regions_of[files.sample].contig_lengths, regions_of[files.sample].regions
        if id(regions) not in contigs_of:
            contigs_of[id(regions)] = dict.fromkeys(map(CONTIG_OF, regions))
        for contig in contigs_of[id(regions)]:
            # Each file once, in order, however many samples of the group share it (a dict as an ordered set).
            by_contig.setdefault(contig, {}).setdefault(lengths[contig], {})[files.file_name] = None
    differing = {contig: by_length for contig, by_length in by_contig.items() if len(by_length) > 1}
    if not differing:
        return None
    return (
        "samples on different references: contigs of the BED have other lengths in other files: "
        + lengths_described(differing, shown, " contigs")
        + ": the same BED lines are counted on different references"
    )


def missing_contigs_problem(missing, contig_lengths, bed_name, alignments_name):
    """One line: the alignments file, how many BED lines name contigs its header lacks, the first few of
    them, and the likely cause when the names differ by a 'chr' prefix."""
    contigs = list(dict.fromkeys(missing))
    shown = ", ".join(f"'{c}'" for c in contigs[:SHOWN_CONTIGS]) + (", ..." if len(contigs) > SHOWN_CONTIGS else "")
    lines = "line" if len(missing) == 1 else "lines"
    name = "names" if len(missing) == 1 else "name"
    message = (
        f"{alignments_name}: {len(missing)} {lines} of {bed_name} {name} contigs not in its header "
        f"({len(contigs)} {'contig' if len(contigs) == 1 else 'contigs'}: {shown})"
    )
    return message + chr_prefix_hint(contigs, contig_lengths)


def chr_prefix_hint(contigs, contig_lengths):
    """'; the BED uses chr1.., the BAM 1..' (or the reverse) when a missing contig is in the header with
    the 'chr' prefix dropped (or added); '' otherwise."""
    for contig in contigs:
        if contig.startswith("chr") and contig[3:] in contig_lengths:
            return f"; the BED uses {contig}.., the BAM {contig[3:]}.. (names of another convention)"
        if f"chr{contig}" in contig_lengths:
            return f"; the BED uses {contig}.., the BAM chr{contig}.. (names of another convention)"
    return ""


def ends_past_contigs(regions, contig_lengths):
    """The regions that end past their contig's @SQ length (counted as samtools counts them)."""
    return [region for region in regions if region.end > contig_lengths[region.contig]]


def contig_ends(regions):
    """{contig: the furthest end of its regions}."""
    ends = {}
    for region in regions:
        if region.end > ends.get(region.contig, 0):
            ends[region.contig] = region.end
    return ends


def ends_past_warning(bed_name, group, regions_of):
    """One line for every sample of the group: how many BED lines end past their contig's length and how
    they are counted, or None. group: the SampleFiles; regions_of: sample -> SampleRegions."""
    past_of = {}
    ends_of = {}  # id(regions) -> contig_ends(regions): the samples of a group share one list of regions
    for files in group:
        lengths, regions = regions_of[files.sample].contig_lengths, regions_of[files.sample].regions
        if id(regions) not in ends_of:
            ends_of[id(regions)] = contig_ends(regions)
        if all(end <= lengths[contig] for contig, end in ends_of[id(regions)].items()):
            continue  # none ends past its contig: the regions are not looked at one by one
        if past := ends_past_contigs(regions, lengths):
            past_of[files.sample] = (files.file_name, past, lengths)
    if not past_of:
        return None
    name, past, lengths = next(iter(past_of.values()))
    first = past[0]
    files = name if len(past_of) == 1 else f"{name} and {len(past_of) - 1} other file(s)"
    n_lines = max(len(past) for _, past, _ in past_of.values())
    return (
        f"{bed_name}: {n_lines} {'line ends' if n_lines == 1 else 'lines end'} past the length of the contig in "
        f"{files} (first: {first.contig}:{first.start + 1}-{first.end}, {first.contig} has "
        f"{lengths[first.contig]} bp): counted to the BED end, as samtools view -c counts them"
    )


def expected_reads(region, contig_reads, contig_lengths):
    """Reads expected in a region: the contig's indexed record count, prorated by length."""
    length = contig_lengths[region.contig]
    if length <= 0:
        return 0.0
    # Past the @SQ length the index statistics count nothing (records placed there are rare): an end padded
    # far past a small contig must not make its region look busy.
    return contig_reads.get(region.contig, 0) * max(0, min(region.end, length) - region.start) / length


def block_overheads(regions, contig_reads, contig_lengths):
    """Per region, the records a -M -L pass decodes to reach it beyond its own: those between it and the
    region before it on its contig, at most one BGZF block's worth. 200,000 exons on a 10M-record BAM lie
    in nearly every block: the pass costs the file's decoding, not its 190,000 reads. Header regions: 0."""
    return reads_and_overheads(regions, contig_reads, contig_lengths)[1]


def reads_and_overheads(regions, contig_reads, contig_lengths, also=None):
    """(expected_reads, block_overheads) of each region, made together: one loop over a panel's regions. also:
    (other records per contig, a list as long as the regions) to fill with their expected_reads by those counts
    in the same loop (plan_shared: the samples' summed counts, 50 ms apart for 200,000 regions)."""
    reads, overheads = [0.0] * len(regions), [0.0] * len(regions)
    counts = (contig_reads, contig_lengths, *(also or (None, None)))
    # A sorted BED's regions are in start order on each contig already: its sort (by contig and start) is
    # skipped. The overheads depend on each contig's regions in start order, not on the order of the contigs.
    if not fill_in_start_order(regions, range(len(regions)), reads, overheads, *counts):
        order = sorted(range(len(regions)), key=lambda i: (regions[i].contig, regions[i].start))
        fill_in_start_order(regions, order, reads, overheads, *counts)
    return reads, overheads


def fill_in_start_order(regions, order, reads, overheads, contig_reads, contig_lengths, more=None, more_reads=None):
    """Fill reads (expected_reads: the same operations in the same order, so the same floats) and overheads
    (block_overheads) visiting the regions in `order` (indexes), which must visit each contig's regions in
    start order (equal starts: in BED order, as a stable sort leaves them); False, the lists half filled,
    when it does not; more_reads, when given, with the expected_reads by the `more` counts per contig. The
    contig at hand is kept in locals: the loop runs once per region of a panel."""
    reach = {}  # contig -> (the furthest end of its regions so far, the last start)
    contig, furthest, last_start = None, 0, 0
    for index in order:
        _, _, region_contig, start, end, whole = regions[index]  # a Region unpacked
        if region_contig != contig:
            if contig is not None:
                reach[contig] = (furthest, last_start)
            contig = region_contig
            length = contig_lengths[contig]
            contig_count = contig_reads.get(contig, 0)
            more_count = 0 if more is None else more.get(contig, 0)
            density = contig_count / length if length > 0 else 0.0
            furthest, last_start = reach.get(contig, (0, 0))
        if length > 0:
            span = (end if end < length else length) - start  # max(0, min(end, length) - start) of ints
            span = span if span > 0 else 0
            reads[index] = contig_count * span / length
            if more_reads is not None:
                more_reads[index] = more_count * span / length
        if whole:
            continue
        if start < last_start:
            return False
        last_start = start
        gap = start - furthest
        overhead = (gap if gap > 0 else 0) * density  # max(0, gap) * density
        overheads[index] = BLOCK_READS if BLOCK_READS < overhead else overhead  # min(overhead, BLOCK_READS)
        furthest = end if end > furthest else furthest  # max(furthest, end)
    return True


def split_region(region, split_size, reads, target_reads, contig_length=None):
    """Chunks of a region holding more than target_reads reads, so that no unit is left with the whole
    of a busy contig: at least reads / target_reads chunks, and chunks of at most split_size bp. A region
    within target stays whole: one samtools call is cheapest. A BED end past the contig's length
    (contig_length) is not split into empty chunks: the contig's part is, and the last chunk reaches to
    the end (records placed past the length count in it, as in samtools' count of the whole region)."""
    end = region.end if contig_length is None else max(region.start + 1, min(region.end, contig_length))
    length = end - region.start
    if split_size <= 0 or reads <= target_reads or length < 2:
        return [(region.start, region.end, reads)]
    n_chunks = min(length, max(math.ceil(reads / target_reads), math.ceil(length / split_size)))
    bounds = [region.start + length * i // n_chunks for i in range(n_chunks)] + [region.end]
    return [(bounds[i], bounds[i + 1], reads / n_chunks) for i in range(n_chunks)]


def plan_items(
    regions,
    region_reads,
    contig_lengths,
    split_size,
    target_reads,
    batch_max_reads,
    sample="",
    overheads=None,
    past_end_alone=False,
    scale=None,
):
    """Turn regions (with their expected reads and block_overheads) into items with a counting mode and
    expected reads; a region's overhead goes to its first piece. A region ending far past its contig's
    length (BATCH_PAST_END_BP), or past it at all with past_end_alone (a CRAM's, see SampleRegions.cram), is
    one single item. scale: {contig: factor} of the items' expected reads once their modes and pieces are
    chosen (plan_shared): each item made once, not made again by scaled_items (0.15 s of 200,000)."""
    items = []
    # Whether a contig's regions may go into a batch BED (batched), asked once per contig, not once per region.
    batchable = {contig: bed_writable(contig) for contig in contig_lengths}
    for region, reads, overhead in zip(regions, region_reads, overheads or itertools.repeat(0.0)):
        region_id, _, contig, start, end, whole = region  # unpacked once: the loop runs once per region
        past = end - contig_lengths[contig]
        alone = past > 0 and (past_end_alone or past > BATCH_PAST_END_BP)
        # One piece (split_region's own first test, made here: nearly every region of a panel stays whole).
        if alone or split_size <= 0 or reads <= target_reads:
            batch = not alone and reads <= batch_max_reads and batchable[contig]
            mode = "batch" if batch else "single"  # as batched(), inline
            if scale is not None:
                reads *= scale[contig]  # scaled_items' product
            # One piece: whole, and open-ended, when its region is a whole contig.
            items.append(new_tuple(Item, (region_id, contig, start, end, mode, reads, whole, whole, sample, overhead)))
            continue
        pieces = split_region(region, split_size, reads, target_reads, contig_lengths[contig])
        pieces = pieces_items(region, pieces, overhead, batch_max_reads, sample)
        items += pieces if scale is None else scaled_items(pieces, scale)
    return items


def batched(contig, reads, batch_max_reads):
    """Whether a region's (first) piece of these reads goes into its unit's batch pass."""
    return reads <= batch_max_reads and bed_writable(contig)


def pieces_items(region, pieces, overhead, batch_max_reads, sample):
    """The items of a region's pieces (split_region); its overhead goes to its first piece."""
    items = []
    for number, (start, end, piece_reads) in enumerate(pieces):
        if number > 0:
            mode = "chunk"  # counts the reads starting in it; the first piece counts all overlapping
        elif batched(region.contig, piece_reads, batch_max_reads):
            mode = "batch"
        else:
            mode = "single"
        whole = region.whole_contig and len(pieces) == 1
        # Its last piece reaches as far as `{name}` does, past the length: the pieces add up to the whole.
        open_end = region.whole_contig and number == len(pieces) - 1
        decoded = overhead if number == 0 else 0.0
        items.append(
            Item(region.region_id, region.contig, start, end, mode, piece_reads, whole, open_end, sample, decoded)
        )
    return items


def counted_in_one_pass(regions, sample_reads, unit_share):
    """Whether a sample's regions are best counted by one region-less pass over its file: every region is
    a whole contig of the header and the sample needs no more than one unit's share of the reads. A pass
    also reads the unplaced records, which the index statistics do not count: a file of mostly unplaced
    reads costs more than its share says."""
    return all(region.whole_contig for region in regions) and sample_reads <= unit_share


def pass_items(regions, region_reads, sample, scan=False):
    """One item per whole-contig region: the sample's records counted per contig in one pass, a `scan`
    when every contig of its BAM starts at pos >= 0 (starts_placed)."""
    mode = "scan" if scan else "pass"
    return [
        Item(r.region_id, r.contig, r.start, r.end, mode, reads, True, True, sample)
        for r, reads in zip(regions, region_reads)
    ]


SHARED_CALL_MODES = ("batch", *PASS_MODES)  # items counted by one samtools call with others


def item_cost(item, fixed_cost_reads):
    """Cost of an item in read units; every samtools call also pays a fixed cost (index load, start),
    which the items of a shared call (batch, pass) pay once per unit or per sample (unit_atoms)."""
    return item.expected_reads + item.decoded_reads + (0 if item.mode in SHARED_CALL_MODES else fixed_cost_reads)


def unit_atoms(items, fixed_cost_reads):
    """Items (in genomic order) in runs that must share a unit, with each run's cost: the pass items of one
    sample (one samtools call, whose fixed cost the run pays once), every other item alone."""
    costs = [item_cost(item, fixed_cost_reads) for item in items]
    if not any_pass_items(items):  # a panel's hundreds of thousands of items: no runs
        return [([item], cost) for item, cost in zip(items, costs)]
    atoms = []
    for item, cost in zip(items, costs):
        if item.mode in PASS_MODES:
            first = atoms[-1][0][0] if atoms else None
            if first is not None and first.mode == item.mode and first.sample == item.sample:
                atoms[-1][0].append(item)
                atoms[-1][1] += cost
                continue
            cost += fixed_cost_reads
        atoms.append([[item], cost])
    return [tuple(atom) for atom in atoms]


def unit_count(total_reads, max_units, min_unit_reads):
    """How many units: enough that each holds about min_unit_reads (a task must be worth its start-up
    cost), and at most max_units."""
    if max_units < 1:
        raise ValueError("max_units must be at least 1")
    wanted = math.ceil(total_reads / min_unit_reads) if min_unit_reads > 0 else max_units
    return max(1, min(max_units, wanted))


SAMPLE_OF = operator.attrgetter("sample")
REGION_ID_OF = operator.attrgetter("region_id")
MODE_OF = operator.attrgetter("mode")
CONTIG_OF = operator.attrgetter("contig")


def any_pass_items(items):
    """Whether some items are counted by a pass (PASS_MODES), asked of every item by one builtin."""
    return not frozenset(PASS_MODES).isdisjoint(map(MODE_OF, items))


def genomic_order(items, contig_order):
    """Items in the order a unit should hold them: by sample (as given), header contig order, position."""
    if in_genomic_order(items, contig_order):  # a sorted BED's items: not sorted again
        return list(items)
    samples = {}
    for item in items:
        samples.setdefault(item.sample, len(samples))
    return sorted(
        items, key=lambda i: (samples[i.sample], contig_order[i.sample][i.contig], i.start, i.end, i.region_id)
    )


def in_genomic_order(items, contig_order):
    """Whether the keys by which genomic_order sorts the items are in order already, asked item by item but
    without making them (a sample's rank is the order of its first item; a contig's is its place in the
    header, one for each name)."""
    seen, sample, contig, rank, position = set(), None, None, -1, None
    for region_id, item_contig, start, end, _, _, _, _, item_sample, _ in items:  # an Item unpacked
        if item_sample != sample:
            if item_sample in seen:  # its rank is below the last one's
                return False
            seen.add(item_sample)
            sample, order, contig = item_sample, contig_order[item_sample], None
        if item_contig != contig:
            contig_rank = order[item_contig]
            if contig is not None and contig_rank < rank:
                return False
            contig, rank, position = item_contig, contig_rank, None
        here = (start, end, region_id)
        if position is not None and here < position:
            return False
        position = here
    return True


def partition_units(items, n_units, fixed_cost_reads):
    """Cut items (in genomic order) into at most n_units contiguous runs of about equal cost. Deterministic.

    An item goes to the unit its cost midpoint falls in, so each cut is within one item of the ideal one;
    the planner keeps items at a third of a unit's share at most (split_region), which bounds the imbalance.
    A sample counted in one pass goes whole to one unit.
    """
    if not any_pass_items(items):  # a panel: each item alone, no run lists made; the units are slices of them
        # No bounds: every cost 0, all in the first unit (as unit_numbers places them). A unit holds at most
        # about MAX_UNIT_ITEMS items (uncrowded): a panel's are counted in each of its samples, one at a time.
        bounds = unit_bounds(items_costs(items, fixed_cost_reads), n_units) or [0, len(items)]
        bounds = uncrowded(bounds, array("I", [1]) * len(items), MAX_UNIT_ITEMS)
        return [items[begin:end] for begin, end in zip(bounds, bounds[1:]) if begin < end]
    atoms = unit_atoms(items, fixed_cost_reads)
    units = [[] for _ in range(n_units)]
    for (run, _), number in zip(atoms, unit_numbers([cost for _, cost in atoms], n_units)):
        units[number] += run
    return [unit for unit in units if unit]


def unit_numbers(costs, n_units):
    """The unit (0, 1, ...) of each run of these costs: the one its cost midpoint falls in."""
    share = sum(costs) / n_units if n_units > 0 else 0
    if not share > 0:
        return [0] * len(costs)
    numbers, done, last = [], 0.0, n_units - 1
    for cost in costs:
        number = int((done + cost / 2) / share)  # unit_of, inline: the loop runs once per item
        numbers.append(number if number < last else last)  # min(last, number)
        done += cost
    return numbers


def unit_of(midpoint, share, last):
    """The unit (0, 1, ..., last) a cost midpoint falls in, units of `share` each."""
    number = int(midpoint / share)
    return number if number < last else last  # min(last, number)


def unit_bounds(costs, n_units):
    """Where the runs of the costs of each unit (unit_numbers) begin, and where the last ends; None when a cost
    is negative, all are 0, or their sum is not finite (unit_numbers then numbers each run). The midpoints of
    costs of 0 or more never decrease, nor do their units: a unit's first run is found by a binary search over
    the costs summed in order (itertools.accumulate: the same floats as unit_numbers' done += cost), not each
    of a panel's 200,000 items numbered and appended to its unit (partition_units 0.105 s -> 0.064 s)."""
    total = sum(costs)
    share = total / n_units if n_units > 0 else 0
    if not (share > 0 and math.isfinite(total)) or min(costs) < 0:
        return None
    done, last = array("d", itertools.accumulate(costs, initial=0.0)), n_units - 1
    bounds = [0]
    for unit in range(1, n_units):  # the first run whose midpoint is in this unit or a later one
        low, high = bounds[-1], len(costs)
        while low < high:
            middle = (low + high) // 2
            if unit_of(done[middle] + costs[middle] / 2, share, last) < unit:
                low = middle + 1
            else:
                high = middle
        bounds.append(low)
    return bounds + [len(costs)]


def items_costs(items, fixed_cost_reads):
    """item_cost of each item, in one comprehension (a function call per item of a panel costs more)."""
    shared = SHARED_CALL_MODES
    return [
        expected + decoded + (0 if mode in shared else fixed_cost_reads)
        for _, _, _, _, mode, expected, _, _, _, decoded in items  # an Item unpacked
    ]


def chunk_warnings(chunks, split_size):
    """Lines for the user about a plan that is valid but slow, of units holding these numbers of chunk items: a
    task with more chunk calls than CHUNK_CALLS_WARNING (each chunk is its own samtools call)."""
    if max(chunks, default=0) <= CHUNK_CALLS_WARNING:
        return []
    return [
        f"--split_size {split_size} cuts the busy regions into {sum(chunks)} chunks, up to {max(chunks)} in one "
        f"of {len(chunks)} counting tasks, each chunk a samtools call: a larger --split_size (or 0) makes fewer"
    ]


def write_region_tables(folder, samples, regions_of, items_of, written=None):
    """Each sample's regions table, `<sample>.regions.tsv` in folder. The samples of one reference on one panel
    share their regions (bed_cache) and, planned alike, the same table: it is written once and the others
    are hard links to it (a copy where links cannot be made), not 200,000 rows again per sample. written: the
    tables written so far, for a caller that writes a sample at a time (write_streamed_plan)."""
    written = [] if written is None else written  # (regions, items, items per region, path) of the tables written
    for sample in samples:
        path = os.path.join(folder, regions_table_name(sample))
        regions, items = regions_of[sample].regions, items_of[sample]
        # A shared plan's samples have the very same items: their counts are not made again.
        same = next((table for r, i, _, table in written if r is regions and i is items), None)
        if same is None:
            # Every region has one item at least: as many items as regions is one each (None), told without a
            # Counter of a panel's hundreds of thousands of region ids.
            n_items = None if len(items) == len(regions) else collections.Counter(map(REGION_ID_OF, items))
            same = next((table for r, _, n, table in written if r is regions and n == n_items), None)
        if same is not None:
            try:
                os.link(same, path)
            except OSError:
                shutil.copyfile(same, path)
            continue
        write_regions_table(path, regions, n_items)
        # A sample planned alone (write_streamed_plan) shares no list of items: its items are not held.
        written.append((regions, items if len(samples) > 1 else None, n_items, path))


def read_alignment_header(path, index, reference, shown_name):
    """(contigs as (name, length) in header order, records per contig from the index, whether it is a CRAM)."""
    try:
        import pysam
    except ImportError:
        message = "pysam is not installed: run `make setup` and activate .venv, or use -profile conda/docker"
        raise InputError(message) from None
    try:  # mode "r": htslib tells BAM from CRAM by the content
        with pysam.AlignmentFile(path, "r", index_filename=index, reference_filename=reference, check_sq=False) as aln:
            contigs = list(zip(aln.references, aln.lengths))
            is_cram = aln.is_cram
            try:
                reads = {s.contig: s.total for s in aln.get_index_statistics()}
            except (ValueError, AttributeError):
                reads = {}  # CRAM indexes have no per-contig counts: fall back to length only
    except (ValueError, OSError) as err:
        raise InputError(f"{shown_name}: cannot read as BAM/CRAM: {err}") from None
    return contigs, reads, is_cram


def foreign_index_problem(files, reference):
    """One line naming the sample's file and its index when the index belongs to another file (alignment_index),
    or None. Checked before any count: htslib follows a foreign index, and a batched pass can drop records
    without an error. About 0.3 s for the 5 MB index of a 1M-record BAM."""
    if not files.index:
        return None
    reason = index_mismatch(files.alignments, files.index, reference)
    if reason is None:
        return None
    index_name = files.index_check_name or files.index_name or "its index (made by the pipeline)"
    return (
        f"{files.check_name or files.file_name}: the index {index_name} does not belong to this file ({reason}): "
        "index the file again (samtools index), or remove or leave out that index: the pipeline then makes its own"
    )


def starts_placed(files, reference):
    """Whether every contig of the sample's BAM starts at pos >= 0 (contig_starts): its pass may be a scan.
    Asked only of a sample counted in one pass: it reads a record per contig."""
    import pysam

    try:
        with pysam.AlignmentFile(files.alignments, "r", reference_filename=reference, check_sq=False) as aln:
            return contigs_start_placed(aln, files.index)
    except (ValueError, OSError):
        return False


class SampleRegions(NamedTuple):
    regions: list
    contig_lengths: dict
    contig_reads: dict  # records per contig, from the index (or guessed from lengths)
    contig_order: dict  # contig -> its place in the header
    # A CRAM index's slices stop at the contig's length: samtools' count of a region reaching past it depends
    # on how it is asked (`{c1}:1001-1300` alone: 0; in a -M -L pass: the records placed there). Such a region
    # is counted by its own call, the user's `samtools view -c`.
    cram: bool = False
    reads_from_index: bool = False  # contig_reads are the index statistics, not a guess from the lengths


BED_FIELDS_KEY = "first fields"  # bed_cache: the set of the BED lines' first fields (other keys: frozensets)


def cached_bed_regions(cache, bed_lines, contig_lengths, bed_name, files):
    """bed_regions of a sample, through the cache of its group (sample_regions). The first read of the BED
    also gives the first fields of its lines (BED_FIELDS_KEY), which the key of the next samples is made of."""
    if BED_FIELDS_KEY not in cache:
        first_fields = set()
        regions = bed_regions(bed_lines, contig_lengths, bed_name, files.file_name, first_fields)
        cache[BED_FIELDS_KEY] = first_fields
        cache[frozenset(first_fields & contig_lengths.keys())] = regions
        return regions
    key = frozenset(cache[BED_FIELDS_KEY] & contig_lengths.keys())
    regions = cache.get(key)
    if regions is None:
        regions = cache[key] = bed_regions(bed_lines, contig_lengths, bed_name, files.file_name)
    return regions


def sample_regions(files, reference, bed_lines, bed_name, bed_cache=None):
    """The SampleRegions of one sample; InputError names its file. bed_cache: {key: BED regions}, shared by
    the samples of a group: a BED's regions depend only on which of the BED's first fields are contigs of
    the header (data or header line, bed_regions), so samples whose headers agree on those read a panel's
    lines once, not once each, and share one list (shared_panel), whatever other contigs they have."""
    if files.check_name:
        problem = input_problem(
            files.alignments, files.check_name, files.index, files.index_check_name, files.file_name, bool(reference)
        )
        if problem:
            raise InputError(problem)
    contigs, contig_reads, cram = read_alignment_header(files.alignments, files.index, reference, files.file_name)
    if not contigs:
        raise InputError(f"{files.file_name}: the header has no @SQ lines (no reference sequences to count on)")
    problem = repeated_contigs_problem(contigs, files.file_name)
    if problem:
        raise InputError(problem)
    contig_lengths = dict(contigs)
    if bed_lines is None:
        regions = header_regions(contigs)
    else:
        regions = cached_bed_regions({} if bed_cache is None else bed_cache, bed_lines, contig_lengths, bed_name, files)
    problem = line_break_contigs_problem(contigs, regions, files.file_name)
    if problem:
        raise InputError(problem)
    reads_from_index = bool(contig_reads)
    if not contig_reads:
        # No index statistics (CRAM indexes have none): guess reads from length, one per 100 bp.
        contig_reads = {name: length / 100 for name, length in contigs}
    order = {name: i for i, (name, _) in enumerate(contigs)}
    return SampleRegions(regions, contig_lengths, contig_reads, order, cram, reads_from_index)


def index_statistics_rows(samples, regions_of):
    """(sample, contig, length, records) of each sample whose index gave its records (not of a CRAM: `samtools
    idxstats` would read the whole file), in header order: the rows count_unit.py would get from `samtools
    idxstats`, mapped + unmapped, without its unplaced '*' line; only of the contigs its regions are on, the
    only ones a counting task asks the densities of (count_modes.contig_densities). A panel's samples on a
    GRCh38 header: ~25 rows each, not 3,366 (a counting task of 8 such samples read 26,928 rows, 0.17 s)."""
    region_contigs = {}  # id of a regions list (shared by the samples of one panel) -> the contigs it is on
    rows = []
    for sample in samples:
        sample_regions = regions_of[sample]
        if not sample_regions.reads_from_index or sample_regions.cram:
            continue
        key = id(sample_regions.regions)
        if key not in region_contigs:
            region_contigs[key] = set(map(CONTIG_OF, sample_regions.regions))
        on = region_contigs[key]
        rows += [
            (sample, contig, length, sample_regions.contig_reads.get(contig, 0))
            for contig, length in sample_regions.contig_lengths.items()
            if contig in on and contig != "*"
        ]
    return rows


def shared_panel(samples, regions_of):
    """Whether the samples of a group share one plan of their panel: two or more samples of one BED (the same
    regions, bed_cache) whose headers give the panel's contigs the same lengths, of one format (BAM or
    CRAM). Their items are then the same for all, planned once by the densest sample (plan_shared), not
    once per sample. Contigs the panel does not name may differ (decoys, alt contigs, chrEBV)."""
    first = regions_of[samples[0]]
    if len(samples) < 2 or first.regions[:1] and first.regions[0].whole_contig:
        return False
    panel_contigs = {region.contig for region in first.regions}
    lengths = {contig: first.contig_lengths[contig] for contig in panel_contigs}
    return all(
        regions_of[s].regions is first.regions
        and regions_of[s].cram == first.cram
        and all(regions_of[s].contig_lengths[contig] == length for contig, length in lengths.items())
        for s in samples
    )


def plan_shared(samples, regions_of, args):
    """(items for ALL_SAMPLES, in genomic order; the units) of samples that share a panel (shared_panel). A
    region's mode and split follow its reads in the densest sample (by contig: the largest indexed count),
    as if each sample were planned alone and the busiest decided; its cost is every sample's reads (the
    contigs' summed counts) and their block overheads (the densest one's, once per sample)."""
    first = regions_of[samples[0]]
    regions, lengths = first.regions, first.contig_lengths
    densest = {c: max(regions_of[s].contig_reads.get(c, 0) for s in samples) for c in lengths}
    summed = {c: sum(regions_of[s].contig_reads.get(c, 0) for s in samples) for c in lengths}
    summed_reads = [0.0] * len(regions)  # expected_reads of each region by the summed counts
    max_reads, overheads = reads_and_overheads(regions, densest, lengths, also=(summed, summed_reads))
    overheads = [len(samples) * overhead for overhead in overheads]
    total_cost = sum(summed_reads) + sum(overheads)
    n_units = unit_count(total_cost, args.max_units, args.min_unit_reads)
    target_reads = total_cost / n_units / CHUNKS_PER_SHARE / len(samples) if n_units > 1 else math.inf
    scale = {c: summed[c] / densest[c] if densest[c] > 0 else len(samples) for c in lengths}
    items = plan_items(
        regions, max_reads, lengths, args.split_size, target_reads, args.batch_max_reads,
        ALL_SAMPLES, overheads, first.cram, scale,
    )  # fmt: skip
    items = genomic_order(items, {ALL_SAMPLES: first.contig_order})
    return items, partition_units(items, min(n_units, len(items)), args.fixed_cost_reads)


def scaled_items(items, scale):
    """The items with their expected reads times their contig's scale (item._replace, without its cost)."""
    return [
        new_tuple(Item, (i.region_id, i.contig, i.start, i.end, i.mode, i.expected_reads * scale[i.contig], *i[6:]))
        for i in items
    ]


class StreamedPlan(NamedTuple):
    """The plan of a group whose samples share no plan (shared_panel): each sample's items are planned alone,
    in genomic order, and the group's sequence of them (sample by sample) is cut into units of about equal
    cost, as partition_units cuts it. Made without holding the group's items: streamed_plan plans each sample
    and keeps its expected reads and block overheads (arrays of floats) and the cost of each run of its items
    that must share a unit (unit_atoms); write_streamed_plan plans each sample again, the same items, and
    writes them to their units. Memory: ~36 bytes a region and sample (its expected reads, block overhead and
    cost as doubles, its run's length, the costs summed), and one sample's items at a time (~260 bytes a region):
    32 samples of two references on a 200,000-region panel, 459 MB (2.0 GB when their items were held)."""

    samples: list
    reads: dict  # sample -> array of its regions' expected reads (reads_and_overheads)
    overheads: dict  # sample -> array of its regions' block overheads
    target_reads: float  # plan_items' target_reads
    one_pass_share: float  # a unit's share of the cost: a sample needing no more is counted in one pass
    bounds: list  # the first atom of each unit, then the number of atoms (unit_bounds)
    n_items: int
    through_index: list  # the samples with items counted through their index, in order
    scannable: object  # scannable(sample): starts_placed, asked once per sample
    first_items: list  # the items of a group of one sample, or None


def plan_group(samples, regions_of, args, scannable=lambda sample: False):
    """(items of every sample, in genomic order; the units) of samples that share a panel (plan_shared), or a
    StreamedPlan of the others. regions_of: sample -> sample_regions(); scannable(sample): whether a sample
    counted in one pass may be scanned (starts_placed)."""
    if shared_panel(samples, regions_of):
        return plan_shared(samples, regions_of, args)
    return streamed_plan(samples, regions_of, args, scannable)


def streamed_plan(samples, regions_of, args, scannable):
    """Pass 1 of a StreamedPlan: each sample's reads, overheads and items (then let go, but those of a group of
    one sample), the units' bounds."""
    reads, overheads = {}, {}
    for s in samples:
        sample = regions_of[s]
        sample_reads, sample_overheads = reads_and_overheads(sample.regions, sample.contig_reads, sample.contig_lengths)
        reads[s], overheads[s] = array("d", sample_reads), array("d", sample_overheads)
    # The work in records decoded: the regions' reads and what reaching them costs.
    total_cost = sum(sum(r) for r in reads.values()) + sum(sum(o) for o in overheads.values())
    n_units = unit_count(total_cost, args.max_units, args.min_unit_reads)
    # Chunks of at most a third of a unit's share keep the cuts within ~1.33x of perfect balance; one unit
    # needs no chunks at all.
    target_reads = total_cost / n_units / CHUNKS_PER_SHARE if n_units > 1 else math.inf
    scannable = functools.lru_cache(maxsize=None)(scannable)
    plan = StreamedPlan(samples, reads, overheads, target_reads, total_cost / n_units, [], 0, [], scannable, None)
    costs, atom_items, first_items, through = array("d"), array("I"), None, set()
    for sample in samples:
        items = sample_plan_items(plan, sample, regions_of[sample], args)
        sample_costs, sizes = sample_atoms(items, args.fixed_cost_reads)
        costs.extend(sample_costs)
        atom_items.extend(itertools.repeat(1, len(items)) if sizes is None else sizes)
        if not all(mode in PASS_MODES for mode in map(MODE_OF, items)):
            through.add(sample)
        # A group of one sample (every run of one sample): its items kept, not planned again.
        first_items = items if len(samples) == 1 else None
    through_index = [s for s in samples if s in through]
    n_items = sum(atom_items)
    bounds = unit_bounds(costs, min(n_units, n_items)) if n_items else None
    # No bounds: every cost 0 (unit_numbers puts them all in the first unit), or none at all.
    bounds = uncrowded(bounds or [0, len(costs)], atom_items, MAX_UNIT_ITEMS)
    return plan._replace(bounds=bounds, n_items=n_items, through_index=through_index, first_items=first_items)


def uncrowded(bounds, atom_items, max_items):
    """Unit bounds (the first atom of each unit, then the number of atoms) with every unit of more than
    max_items items cut into contiguous parts of about equal items, about max_items at most (an atom, a sample
    counted in one pass, is never cut). A counting task holds its unit's items (~0.7 KB each: 1,000,000 items
    took 726 MB), and the units of samples that share no plan hold each sample's own items: a group of them
    may hold many times a panel's regions."""
    cuts = []
    for begin, end in zip(bounds, bounds[1:]):
        cuts.append(begin)
        n_items = sum(atom_items[begin:end])
        parts = -(-n_items // max_items)  # ceil
        share, done, part = n_items / max(parts, 1), 0, 1
        for atom in range(begin, end) if parts > 1 else ():
            crossed = part
            while part < parts and done >= share * part:  # the first atom past a part's share starts the next
                part += 1
            if part > crossed and atom > cuts[-1]:
                cuts.append(atom)
            done += atom_items[atom]
    cuts.append(bounds[-1])
    return cuts


def sample_plan_items(plan, sample, sample_regions, args):
    """The items of one sample of a StreamedPlan, in genomic order: the same each time they are asked."""
    regions, reads = sample_regions.regions, plan.reads[sample]
    if counted_in_one_pass(regions, sum(reads), plan.one_pass_share):
        items = pass_items(regions, reads, sample, plan.scannable(sample))
    else:
        items = plan_items(
            regions, reads, sample_regions.contig_lengths, args.split_size, plan.target_reads,
            args.batch_max_reads, sample, plan.overheads[sample], sample_regions.cram,
        )  # fmt: skip
    return genomic_order(items, {sample: sample_regions.contig_order})


def write_streamed_plan(outdir, plan, regions_of, args):
    """Pass 2 of a StreamedPlan: each sample's items planned again and written to their units in order, its
    regions table written; returns (the samples of each unit written, in order; chunk items of each unit)."""
    folder = os.path.join(outdir, "regions")
    written_tables = []

    def numbered_runs():  # (unit number, a run of its items), sample by sample, in genomic order
        first_atom, unit = 0, 0
        for sample in plan.samples:
            items = plan.first_items
            if items is None:  # planned again: the same items as streamed_plan's
                items = sample_plan_items(plan, sample, regions_of[sample], args)
            write_region_tables(folder, [sample], regions_of, {sample: items}, written_tables)
            # Where each atom's items begin: one item each but in a sample counted in one pass.
            sizes = [len(run) for run, _ in unit_atoms(items, 0)] if any_pass_items(items) else None
            starts = range(len(items) + 1) if sizes is None else list(itertools.accumulate(sizes, initial=0))
            end_atom = first_atom + len(starts) - 1
            while unit + 2 < len(plan.bounds) and plan.bounds[unit + 1] <= first_atom:  # the first unit of them
                unit += 1
            while unit + 1 < len(plan.bounds) and plan.bounds[unit] < end_atom:
                begin = max(plan.bounds[unit], first_atom) - first_atom
                end = min(plan.bounds[unit + 1], end_atom) - first_atom
                if begin < end:
                    yield unit, items[starts[begin] : starts[end]]
                if plan.bounds[unit + 1] > end_atom:
                    break
                unit += 1
            first_atom = end_atom

    unit_samples, chunks = [], []
    for _, numbered in itertools.groupby(numbered_runs(), key=operator.itemgetter(0)):
        samples = {}
        chunks.append(0)
        path = os.path.join(outdir, "units", unit_file_name(len(chunks)))
        write_unit(path, itertools.chain.from_iterable(tallied(numbered, samples, chunks)))
        unit_samples.append(list(samples))
    return unit_samples, chunks


def tallied(numbered, samples, chunks):
    """The runs of items of (unit number, run) pairs, as they are written: each run's sample noted in `samples`
    (a dict: in order) and its chunk items added to the last number of `chunks`."""
    for _, run in numbered:
        samples.setdefault(run[0].sample)
        chunks[-1] += list(map(MODE_OF, run)).count("chunk")
        yield run


def sample_atoms(items, fixed_cost_reads):
    """(the cost of each run of a sample's items that must share a unit, unit_atoms; the items of each run, or
    None when there is one each: a panel's, costed by items_costs without a list made per item)."""
    if not any_pass_items(items):
        return items_costs(items, fixed_cost_reads), None
    atoms = unit_atoms(items, fixed_cost_reads)
    return [cost for _, cost in atoms], [len(run) for run, _ in atoms]


def unit_sample_names(items, samples):
    """The samples whose files the items are counted in, in order: every one of the group's for a shared plan
    (ALL_SAMPLES: all items are shared, plan_shared), else the items' own."""
    if items and items[0].sample == ALL_SAMPLES or len(samples) == 1 and items:
        return list(samples)  # (a group of one sample: the items' sample, asked of no item)
    return list(dict.fromkeys(map(SAMPLE_OF, items)))


def items_through_index(items):
    """The items counted through their file's index: all but those of a pass (or scan) over a file."""
    if not any_pass_items(items):  # a panel's: no list of them made again
        return items
    return [item for item in items if item.mode not in PASS_MODES]


def items_by_sample(items, samples):
    """{sample: its items, in order}: all the items for every sample of a shared plan (ALL_SAMPLES)."""
    if items and items[0].sample == ALL_SAMPLES:
        return dict.fromkeys(samples, items)  # all of them are shared
    if len(samples) == 1:
        return {samples[0]: items}
    items_of = {sample: [] for sample in samples}
    for item in items:
        items_of[item.sample].append(item)
    return items_of


def write_plan(outdir, items, units, samples, regions_of):
    """The regions tables and unit files of a plan held whole (plan_shared); returns (the samples of each
    unit, in order; chunk items of each unit), as write_streamed_plan."""
    write_region_tables(os.path.join(outdir, "regions"), samples, regions_of, items_by_sample(items, samples))
    for number, unit in enumerate(units, start=1):
        write_unit(os.path.join(outdir, "units", unit_file_name(number)), unit)
    return [unit_sample_names(unit, samples) for unit in units], [list(map(MODE_OF, u)).count("chunk") for u in units]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", required=True, help="TSV manifest: sample, alignments, index, file_name")
    parser.add_argument("--reference", help="FASTA reference (CRAM)")
    parser.add_argument("--bed", help="BED file of regions (default: every @SQ contig)")
    # User file names may start with '-': pass them as --bed-name=NAME, which argparse never reads as an option.
    parser.add_argument("--bed-name", help="BED file name to use in messages (default: --bed)")
    parser.add_argument(
        "--split-size", type=int, default=0, help="max chunk length when a busy region is split (0: never)"
    )
    parser.add_argument("--max-units", type=int, default=16, help="upper bound on work units for this group")
    parser.add_argument(
        "--batch-max-reads",
        type=float,
        default=20000,
        help="regions expected to hold at most this many reads are batched",
    )
    parser.add_argument(
        "--min-unit-reads",
        type=float,
        default=1_000_000,
        help="fewer units for small inputs: about this many reads each",
    )
    parser.add_argument("--fixed-cost-reads", type=float, default=50000, help="cost of one samtools call, in reads")
    parser.add_argument("--outdir", default=".")
    add_log_options(parser, warnings=True)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start_logging(args)
    with open(args.samples) as handle:
        group = list(read_samples(handle, args.samples).values())
    problems = []
    regions_of = {}
    try:
        bed_name = args.bed_name or args.bed
        bed_lines = bed_text_lines(read_bed_bytes(args.bed, bed_name), bed_name) if args.bed else None
    except InputError as err:
        log.error("%s", err)
        return 2
    bed_cache = {}
    for files in group:
        try:
            regions_of[files.sample] = sample_regions(files, args.reference, bed_lines, bed_name, bed_cache)
        except InputError as err:
            problems.append(str(err))
    if problems:  # every sample's problem, each on its own line; the BED's own problems once
        log.error("%s", "\n".join(dict.fromkeys(line for problem in problems for line in problem.split("\n"))))
        return 2
    if bed_lines is not None:
        bed_lines = bed_cache = None  # every sample's regions are made: the BED's text (~80 MB a million lines) can go
        for warning in (ends_past_warning(bed_name, group, regions_of), bed_references_warning(group, regions_of)):
            if warning:
                log.warning("%s", warning)
    samples = [files.sample for files in group]
    files_of = {files.sample: files for files in group}
    plan = plan_group(samples, regions_of, args, lambda s: starts_placed(files_of[s], args.reference))
    streamed = isinstance(plan, StreamedPlan)
    # Every sample whose counts go through its index has that index checked first; a sample counted in one
    # region-less pass (or scan) reads its file alone, whatever its index.
    through_index = plan.through_index if streamed else unit_sample_names(items_through_index(plan[0]), samples)
    problems = [p for p in (foreign_index_problem(files_of[s], args.reference) for s in through_index) if p]
    if problems:
        log.error("%s", "\n".join(problems))
        return 2
    os.makedirs(os.path.join(args.outdir, "units"), exist_ok=True)
    os.makedirs(os.path.join(args.outdir, "regions"), exist_ok=True)
    if streamed:
        samples_of_units, chunks = write_streamed_plan(args.outdir, plan, regions_of, args)
        n_items = plan.n_items
    else:
        samples_of_units, chunks = write_plan(args.outdir, *plan, samples, regions_of)
        n_items = len(plan[0])
    # Which samples each unit holds: the pipeline stages only those samples' files into its task.
    unit_samples = [
        [unit_file_name(number), sample]
        for number, unit_sample_list in enumerate(samples_of_units, start=1)
        for sample in unit_sample_list
    ]
    write_unit_samples(os.path.join(args.outdir, UNIT_SAMPLES_FILE), unit_samples)
    write_index_statistics(os.path.join(args.outdir, INDEX_STATISTICS_FILE), index_statistics_rows(samples, regions_of))
    for warning in chunk_warnings(chunks, args.split_size):  # on the console too (--warnings)
        log.warning("%s", warning)
    n_regions = sum(len(regions_of[s].regions) for s in samples)
    log.info("%d samples, %d regions, %d items, %d work units", len(samples), n_regions, n_items, len(chunks))
    return 0


if __name__ == "__main__":
    run_script(main)
