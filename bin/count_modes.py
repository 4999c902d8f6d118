"""How count_unit.py counts a group of one sample's items by each mode (the modes: task_files.py; why each
is counted so: count_unit.py's docstring): `samtools view -c` per item (single, chunk), one pass over a batch's
whole contigs or merged stretches (batch), a region-less pass or scan of every contig (pass, scan). Each
returns one task_files.Outcome per item, in order.
"""

import bisect
import functools
import itertools
import logging
import operator
import os
import struct
import zlib
from typing import NamedTuple

import alignment_index
from input_checks import alignment_format, read_head
from overlap_sweep import contig_counts, overlap_counts
from samtools_pipes import (
    idxstats_names,
    idxstats_records,
    idxstats_rows,
    samtools_count,
    shorten,
    stream_counts,
    view_command,
)
from task_files import Outcome, read_index_statistics

try:
    import bam_records  # numpy: a batch pass read as BAM
except ImportError:  # no numpy (the container's Python, see modules/local/count_unit): read as SAM text
    bam_records = None

log = logging.getLogger("count_unit")  # the messages are count_unit.py's


# The records `{name}` returns (see count_unit.py): samtools' endpos is htslib's bam_endpos.
REACHES_FIRST_BASE = "endpos > 0"
# Bytes of `{name}` arguments per whole-contig call: far below Linux's 2 MiB for all of argv.
REGION_ARGUMENT_BYTES = 100_000


def region_string(item):
    """A samtools region that never parses a name as a range: `{name}`, `{name}:beg` (beg to the contig's
    last record, past its length too) or `{name}:beg-end` (1-based)."""
    if item.whole_contig:
        return f"{{{item.contig}}}"
    if item.open_end:
        return f"{{{item.contig}}}:{item.start + 1}"
    return interval_region(item.contig, item.start, item.end)


def interval_region(contig, start, end):
    """`{name}:beg-end` (1-based, inclusive) for a 0-based half-open interval."""
    return f"{{{contig}}}:{start + 1}-{end}"


def filter_expression(user_expression, starts_before=None):
    """The -e expression for a call: the user's (effective) expression, as given, and optionally 'starts
    before base N' (0-based N; samtools' pos is 1-based): `(user) && pos <= N`."""
    if starts_before is None:
        return user_expression
    return and_expression(user_expression, f"pos <= {starts_before}")


def and_expression(user_expression, condition):
    """`(user) && condition`, or the condition alone."""
    # htslib 1.16 reads && and || left to right at one precedence, so the parentheses change nothing there;
    # they keep the user's expression whole should a later htslib bind && tighter.
    return f"({user_expression}) && {condition}" if user_expression else condition


def count_single(item, samtools, common, user_expression, target):
    """Records overlapping the item; for a chunk, minus those that started before it (counted by the
    chunk before). The second call looks at one base only: cheaper than a per-record filter on the chunk."""
    count, error = samtools_count(samtools, common, filter_expression(user_expression), target, region_string(item))
    if not error and item.mode == "chunk":
        boundary = interval_region(item.contig, item.start, item.start + 1)
        spanning, error = samtools_count(
            samtools, common, filter_expression(user_expression, starts_before=item.start), target, boundary
        )
        count -= spanning
    if error:
        return Outcome(0, "error", shorten(error))
    return Outcome(count)


def argument_groups(names, max_bytes):
    """Consecutive groups of names whose `{name}` arguments fit in max_bytes."""
    groups, size = [[]], 0
    for name in names:
        if groups[-1] and size + len(name) + 3 > max_bytes:
            groups.append([])
            size = 0
        groups[-1].append(name)
        size += len(name) + 3
    return [group for group in groups if group]


def count_whole_contigs(items, samtools, common, user_expression, target, workdir):
    """Whole contigs: one `samtools view target {c1} {c2} ...` call (per 100 kB of names), each contig once,
    the records of each counted by contig name. `{name}` reads to the contig's last record, even past its
    @SQ length, exactly as `samtools view -c target {name}`; no -M, whose BED would need an end past every
    record (samtools -L allocates 4 bytes per 8 kb of BED end, per contig)."""
    contigs = list(dict.fromkeys(item.contig for item in items))
    by_contig = {}
    for group in argument_groups(contigs, REGION_ARGUMENT_BYTES):
        regions = [f"{{{contig}}}" for contig in group]
        command = view_command(samtools, common, filter_expression(user_expression), [*target, *regions])
        outcomes = stream_counts(
            command, lambda lines, group=group: contig_counts(lines, group), len(group), "whole contigs", workdir
        )
        by_contig.update(zip(group, outcomes))
    return [by_contig[item.contig] for item in items]


# htslib's multi-region iterator pays for each region it is given (index look-ups, a seek, a block decode when
# the regions lie in different blocks); a record streamed past costs ~2.5 us (samtools' SAM text and the sweep).
# So the regions given to -L are merged across gaps expected to hold at most MERGE_GAP_RECORDS records (by the
# contig's density in the index statistics); the sweep still counts each item by its own bounds, so a merged
# stretch only streams more records past it, never changes a count. Measured on 2 CPUs, 200,000 exome regions
# (benchmarks/make_bed.py) on GRCh38-like BAMs (benchmarks/make_bam.py), count_unit.py of one unit, seconds:
#   MERGE_GAP_RECORDS              none   4     8     16    32
#   2 samples of 1M records        9.56  8.82  7.33  6.18  5.74
#   1 sample of 10M records        5.95  6.08  6.07  6.34  6.27
# 8 takes most of the gain on shallow files and costs deep ones nothing beyond noise. Read as BAM (bam_records.py),
# a record streamed past costs less; the same unit of one sample (1 sample of 1M, 1 of 10M records), wall s:
#   read as, MERGE_GAP_RECORDS     SAM 8   BAM 8   BAM 16  BAM 32  BAM 128  BAM 1000
#   1M records                     4.28    4.67    4.04    3.81    3.74     4.00
#   10M records                    7.13    7.59    7.26    7.51    8.01     10.14
# 16 gains on shallow files and costs deep ones nothing beyond noise (+-0.3 s): most of such a unit's time is
# its items' own (reading, merging, writing 200,000 rows), not the records'.
# Since the index pass keeps the blocks it read (index_options: htslib's block cache), a stretch that begins in a
# block already read costs samtools almost nothing, while each record merged in is piped and walked: the same
# shallow cohort unit (8 samples of 1M records, half the exome panel), samtools view -c -M -L of one sample (user
# s) and count_unit.py of the 8 (wall s, medians of 5 interleaved, identical results):
#   MERGE_GAP_RECORDS           0       2       8       16
#   stretches of one sample     83,240  22,550  7,379   3,943
#   records in them             8,805   34,190  95,372  130,481
#   samtools, one sample        0.27-0.29  0.25-0.27  0.24-0.28  0.22-0.25
#   count_unit.py, 8 samples    -       3.69    4.02    3.90     (a first round: 2 <= 8 < 16 too)
# and one 10M-record sample's quarter of the panel 1.15 (2) against 1.24 s (16). 2 keeps apart what one record
# would separate.
MERGE_GAP_RECORDS = 2 if bam_records is not None else 8
MERGE_MIN_ITEMS = 1000  # fewer regions cost little: no index statistics asked


def contig_densities(samtools, target, planned=None):
    """{contig: records per base} from the index statistics, or {} when there are none: then no region is
    merged. planned: (index_statistics.tsv, sample) when the planner wrote the file: its rows are what
    `samtools idxstats` would print (idxstats_rows), so a sample found there costs no samtools call. Also
    asked when a failed pass is counted again in halves."""
    if planned is not None:
        statistics, sample = planned
        known = planned_densities(statistics).get(sample)
        if known is not None:
            return known
    rows = idxstats_rows(samtools, target)
    return densities_of((name, length, mapped + unmapped) for name, length, mapped, unmapped in rows)


def densities_of(rows):
    """{contig: records per base} of (contig, length, records) rows; contigs of no length left out."""
    return {name: records / length for name, length, records in rows if length > 0}


@functools.lru_cache(maxsize=None)  # noqa: UP033 (functools.cache is 3.9+: the samtools image has 3.8)
def planned_densities(path):
    """{sample: contig_densities} of the planner's index_statistics.tsv, read once per task, when a sample's
    densities are first needed (a unit of passes never reads it)."""
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        return {sample: densities_of(rows) for sample, rows in read_index_statistics(handle, path).items()}


def same_list_cache(function):
    """function(items) remembered for the last list it was given (the same list object, held here, so never
    another that got its id): a shared plan's items are one list counted in every sample's files, and what
    depends on them alone is made once per unit, not once per sample. Lists of items are never changed."""
    last = [None, None]

    @functools.wraps(function)
    def cached(items):
        if last[0] is not items:
            last[:] = [items, function(items)]
        return last[1]

    return cached


def in_stretch_order(items):
    """Whether each contig's items are together and by start (a planner's unit is): no sort needed to merge."""
    done, last = set(), None
    for item in items:
        if last is None or item.contig != last.contig:
            if item.contig in done:
                return False
            done.add(item.contig)
        elif item.start < last.start:
            return False
        last = item
    return True


def stretch_order(items):
    """The items with each contig's together and by start: as given when they are (in_stretch_order)."""
    return items if in_stretch_order(items) else sorted(items, key=lambda i: (i.contig, i.start))


def merge_gap(density):
    """The longest gap merged on a contig of `density` records per base: expected to hold MERGE_GAP_RECORDS."""
    return MERGE_GAP_RECORDS / density if density > 0 else 0


class ContigStretches(NamedTuple):
    """A contig's items in stretch order, as merged_intervals merges them whatever the gap allowed: a stretch
    from an item to the next break ends where the furthest of its items ends (reach), and a break falls before
    each item whose gap from the furthest end before it (gaps, ascending, of the items `breaks`) is longer
    than the gap allowed."""

    contig: str
    starts: list
    reach: list  # the furthest end of the contig's items up to each
    gaps: list  # ascending
    breaks: list  # the position of the item of each gap


@same_list_cache
def contig_stretches(items):
    """The ContigStretches of each contig of the items, in stretch order, or None when an item ends before it
    starts (never planned): then merged_intervals merges item by item. Made once per list of items, by
    C-level maps and sorts (92,868 items: 50 ms; merged item by item: 80 ms per sample)."""
    ordered = stretch_order(items)
    contigs = [item.contig for item in ordered]
    starts = [item.start for item in ordered]
    ends = [item.end for item in ordered]
    if any(map(operator.lt, ends, starts)):
        return None
    firsts = [0]  # where each contig's items begin (they are together)
    for contig in dict.fromkeys(contigs):
        firsts.append(contigs.index(contig, firsts[-1]))
    stretches = []
    for first, end in zip(firsts[1:], [*firsts[2:], len(contigs)]):
        contig_starts = starts[first:end]
        reach = list(itertools.accumulate(ends[first:end], max))
        gaps = [0, *map(operator.sub, contig_starts[1:], reach)]  # of each item from the furthest end before it
        breaks = sorted(range(1, len(gaps)), key=gaps.__getitem__)
        sorted_gaps = list(map(gaps.__getitem__, breaks))
        stretches.append(ContigStretches(contigs[first], contig_starts, reach, sorted_gaps, breaks))
    return stretches


def merged_intervals(items, densities):
    """(contig, start, end) stretches covering every item, each contig's together and by start: items of a
    contig whose gap is expected to hold at most MERGE_GAP_RECORDS records share a stretch. The items are
    looked at once per list (contig_stretches): for each sample's densities only the breaks are picked, by
    bisection (a unit of 92,868 items: 0.17 s per sample item by item, ~5 ms so)."""
    by_contig = contig_stretches(items)
    if by_contig is None:
        return merged_item_by_item(items, densities)
    stretches = []
    for contig, starts, reach, gaps, breaks in by_contig:
        firsts = [0, *sorted(breaks[bisect.bisect_right(gaps, merge_gap(densities.get(contig, 0.0))) :])]
        lasts = [first - 1 for first in firsts[1:]] + [len(starts) - 1]
        stretches += [[contig, starts[first], reach[last]] for first, last in zip(firsts, lasts)]
    return stretches


def merged_item_by_item(items, densities):
    """merged_intervals one item at a time: each joins the last stretch when its gap from it is at most the
    contig's merge_gap. The same stretches (tested); for items that end before they start too."""
    stretches = []
    for item in stretch_order(items):
        max_gap = merge_gap(densities.get(item.contig, 0.0))
        last = stretches[-1] if stretches else None
        if last is not None and last[0] == item.contig and item.start - last[2] <= max_gap:
            last[2] = max(last[2], item.end)
        else:
            stretches.append([item.contig, item.start, item.end])
    return stretches


# A unit's stretches are read one of two ways; the same records reach the sweep either way:
# - index: `-M -L stretches.bed`: htslib's multi-region iterator seeks to each stretch through the index;
# - stream: `-L stretches.bed {contig}:beg-end ...`, one region per contig from its first stretch to its last, read
#   in full; samtools keeps the records that overlap a stretch by its BED filter (bed_overlap: [pos, bam_endpos)
#   against each line, half-open: the iterator's own rule, sam_view.c and bedidx.c of samtools 1.16.1).
# The iterator pays for each stretch (a seek, index look-ups, the stretch's first block decoded again when a
# neighbour shares it); the stream pays for every record of the spans and the BED test. samtools CPU, modelled
# from the records each contig's density (index statistics) puts in the stretches and in the spans:
#   index  = stretches x INDEX_STRETCH_US + records in the stretches x INDEX_RECORD_US
#   stream = records in the spans x STREAM_RECORD_US
# Fitted on two units of the bench (benchmarks/; samtools view -c user s, 2 CPUs, this machine, 2026-12-06), the
# index pass with its block cache (index_options, below):
#   unit                                  stretches  in stretches  in spans   index  stream  model index/stream
#   half of the exome panel, 1M records     3,943      131,244      477,189    0.25    0.37     0.24 / 0.41
#   a quarter of it, 10M records           13,899      174,990    2,250,583    0.67    2.01     0.67 / 1.91
# (Without the cache the index passes took 0.41-0.44 and 0.75-0.84 s, and INDEX_STRETCH_US was 120: the shallow
# unit was streamed, 50% more samtools CPU than through the index with the cache.)
# That fit (40 us) was the stretches' average cost, most of it the decoding of the blocks they begin in: on a
# shallow file every block of the span holds a stretch, whichever way it is read. What a stretch adds is its
# seek into a block the cache already holds: the unit above merged less (MERGE_GAP_RECORDS 16 -> 0: 3,943 ->
# 83,240 stretches, the same blocks) took 0.22-0.25 -> 0.27-0.29 user s, ~0.6 us a stretch. At 40 us the model
# streamed that unit at 9,856 stretches, 1.4 s slower for its 8 samples (5.0 against 3.6 s). A file so shallow
# that its stretches outnumber the records between them is streamed; a wrong pick costs time, never a count.
INDEX_STRETCH_US = 1.0
INDEX_RECORD_US = 0.65  # a whole-file `samtools view -c` of 1M records: 0.57-0.65 s
STREAM_RECORD_US = 0.85
STREAM_MAX_CONTIGS = 64  # a region argument per contig: more would be a long command line for a small saving


# The iterator seeks to each stretch, and a seek drops the block it holds (htslib's bgzf_seek): a stretch that
# begins in the block where the one before ended inflates that block again. htslib's BGZF block cache
# (`--input-fmt-option cache_size=BYTES`, hts_opt_add's HTS_OPT_CACHE_SIZE) keeps the blocks read, so such a
# block is inflated once: the same bytes, read once. A quarter of the exome panel on the 10M-record BAM
# (26,393 stretches, one -M -L pass), samtools user s: 1.51-1.57 without, 1.23-1.39 with 4 MB, 1.27-1.35 with
# 16 MB. A BAM's (a CRAM is no BGZF stream, and its batches are streamed: stream_spans); RSS grows by the cache.
INDEX_BLOCK_CACHE_BYTES = 8 << 20


def index_options(alignments):
    """samtools view's options for a -M -L pass of the file: its block cache when it is a BAM."""
    cache = ["--input-fmt-option", f"cache_size={INDEX_BLOCK_CACHE_BYTES}"] if is_bam(alignments) else []
    return [*cache, "-M"]


def stream_spans(stretches, densities, alignments):
    """The region arguments `{contig}:beg-end` (one per contig, from its first stretch to its last) by which the
    stretches are cheaper to read in full than through the index (the model above), or None: then -M -L.
    For a BAM with densities known and few contigs (the constants are BAM's). For a CRAM always: htslib 1.16's
    multi-region iterator can return a CRAM's records twice (a container holding several contigs' records read
    again: 30 records for 28, so -M -L counts would double, exit 0; samtools/samtools#1819), while each region
    argument's own iterator returns a record once, and the spans of a unit's contigs never overlap."""
    spans = {}
    for contig, start, end in stretches:
        first = spans.setdefault(contig, [start, end])
        first[1] = max(first[1], end)
    if not is_bam(alignments):
        return [interval_region(contig, start, end) for contig, (start, end) in spans.items()]
    if not densities or len(spans) > STREAM_MAX_CONTIGS:
        return None
    in_stretches = sum(densities.get(contig, 0.0) * (end - start) for contig, start, end in stretches)
    in_spans = sum(densities.get(contig, 0.0) * (end - start) for contig, (start, end) in spans.items())
    index_cost = len(stretches) * INDEX_STRETCH_US + in_stretches * INDEX_RECORD_US
    if in_spans * STREAM_RECORD_US >= index_cost:
        return None
    return [interval_region(contig, start, end) for contig, (start, end) in spans.items()]


@functools.lru_cache(maxsize=None)  # noqa: UP033 (functools.cache is 3.9+: the samtools image has 3.8)
def is_bam(alignments):
    """Whether the file is a BAM by its first bytes (input_checks.alignment_format)."""
    try:
        return alignment_format(read_head(alignments, BAM_HEAD_BYTES)) == "bam"
    except OSError:
        return False


BAM_HEAD_BYTES = 1024  # a BGZF block's first bytes inflate to the BAM magic


def count_intervals(items, samtools, common, user_expression, target, workdir, planned=None):
    """Sub-contig items: one `samtools view` pass over the items' stretches (merged_intervals), through the
    index (-M -L) or in full over each contig's span (stream_spans), each item counted by the sweep over its own
    bounds."""
    bed_path = os.path.join(workdir, "batch.bed")
    densities = contig_densities(samtools, tuple(target), planned) if len(items) >= MERGE_MIN_ITEMS else {}
    stretches = merged_intervals(items, densities)
    with open(bed_path, "w", encoding="utf-8", errors="surrogateescape") as bed:
        bed.writelines(f"{contig}\t{start}\t{end}\n" for contig, start, end in stretches)
    alignments = target[0].partition("##idx##")[0]
    spans = stream_spans(stretches, densities, alignments)
    if spans is None:
        region_options = [*index_options(alignments), "-L", bed_path, *target]
    else:
        region_options = ["-L", bed_path, *target, *spans]
    how = "through the index" if spans is None else f"in full over {len(spans)} spans"
    log.debug("%d stretches read %s", len(stretches), how)
    expression = filter_expression(user_expression)
    if bam_records is not None:
        command = view_command(samtools, ["-u", *common], expression, region_options)
        count = functools.partial(bam_records.grouped_overlap_counts, groups=batch_intervals(items))
    else:
        command = view_command(samtools, common, expression, region_options)
        count = functools.partial(overlap_counts, items=items)
    return stream_counts(command, count, len(items), f"{len(items)} batched regions", workdir)


@same_list_cache
def batch_intervals(items):
    """The items' (contig, start, end) by contig (bam_records.IntervalGroups), made once per list of items."""
    return bam_records.IntervalGroups.of([(item.contig, item.start, item.end) for item in items])


def count_pass(items, samtools, common, user_expression, target, workdir):
    """Whole contigs of a sample by one region-less pass (see the module docstring): `samtools view -u` with
    the user's filters and `endpos > 0`, piped into `samtools idxstats -`."""
    expression = and_expression(user_expression, REACHES_FIRST_BASE)
    view = view_command(samtools, ["-u", *common], expression, target)
    what = f"{len(items)} contigs in one pass"
    return contig_outcomes(items, *idxstats_records(samtools, [], workdir, what, view=view))


def count_scan(items, samtools, threads, alignments, workdir):
    """Whole contigs of a sample whose BAM has no record that `{name}` skips (the planner looked at the first
    record of every contig, see contig_starts.py), with no filter to apply: `samtools idxstats` reads the
    file itself, half the work of a view piped into it."""
    options = ["-@", str(threads)] if threads > 0 else []
    what = f"{len(items)} contigs in one scan"
    return contig_outcomes(items, *idxstats_records(samtools, options, workdir, what, alignments=alignments))


def contig_outcomes(items, by_name, error):
    """Each whole-contig item's outcome from idxstats' {contig: records}, all failed on an error."""
    missing = [item.contig for item in items if item.contig not in by_name]
    if not error and missing:
        error = f"samtools idxstats did not list contig {missing[0]!r}"
    if error:
        return [Outcome(0, "error", shorten(error)) for _ in items]
    return [Outcome(by_name[item.contig]) for item in items]


def count_batch(items, samtools, common, user_expression, target, workdir, planned=None):
    """Outcomes of the batch items, in order: whole contigs by `{name}` arguments (or as intervals reaching past
    their records, contig_reaches), the rest by -M -L. planned: see contig_densities."""
    whole = whole_contigs(items)
    reaches = contig_reaches(samtools, tuple(target)) if whole >= WHOLE_AS_INTERVALS_MIN else {}
    outcomes = [None] * len(items)
    parts = batch_parts(items, reaches) if reaches else batch_parts_by_name(items)
    counters = (count_whole_contigs, functools.partial(count_intervals, planned=planned))
    for count, (indexes, part) in zip(counters, parts):
        if indexes:
            placed(outcomes, indexes, count(part, samtools, common, user_expression, target, workdir))
    return outcomes


def placed(outcomes, indexes, counted):
    """outcomes with counted[k] put at indexes[k] (ascending): all at once when they are every index."""
    if len(indexes) == len(outcomes):
        outcomes[:] = counted
    else:
        for i, outcome in zip(indexes, counted):
            outcomes[i] = outcome
    return outcomes


@same_list_cache
def whole_contigs(items):
    """How many of the items are whole contigs."""
    return sum(item.whole_contig for item in items)


def batch_parts(items, reaches):
    """(indexes, items) of the batch items counted by `{name}` arguments, then of those counted as intervals:
    the other items and the whole contigs whose reach is known (as_interval); indexes ascending."""
    by_name = [i for i, item in enumerate(items) if item.whole_contig and item.contig not in reaches]
    as_intervals = [i for i, item in enumerate(items) if not item.whole_contig or item.contig in reaches]
    return [(indexes, [as_interval(items[i], reaches) for i in indexes]) for indexes in (by_name, as_intervals)]


@same_list_cache
def batch_parts_by_name(items):
    """batch_parts with no reach known (every whole contig by name), made once per list of items: the same
    lists of items counted as intervals for every sample (contig_stretches is made once for them)."""
    return batch_parts(items, {})


# A whole contig given as `{name}` costs htslib a walk over the bins of a 2^29-base range: a unit of the 3,341
# small contigs of a 10M-record GRCh38-like BAM took 4.6 s, a unit of large chromosomes 2.4 s. From this many
# whole contigs in a batch on, the index is read (0.1-0.3 s) for how far each contig's records reach.
WHOLE_AS_INTERVALS_MIN = 64


def as_interval(item, reaches):
    """A whole contig whose reach the index tells as the interval [0, reach) (every record of it, past its @SQ
    length too); any other item as it is."""
    if item.whole_contig and item.contig in reaches:
        return item._replace(start=0, end=reaches[item.contig], whole_contig=False)
    return item


@functools.lru_cache(maxsize=None)  # noqa: UP033 (functools.cache is 3.9+: the samtools image has 3.8)
def contig_reaches(samtools, target):
    """{contig: a position past the end of every record of it}: the end of the furthest bin of the index
    that holds records (a record lies in the smallest bin containing all of it), for a BAM's BAI or CSI; the
    contig names in index order from samtools idxstats. {} when unknown (a CRAM, no index file, a failure):
    such contigs are counted by name."""
    alignments, _, index = target[0].partition("##idx##")
    beside = [alignments + ".bai", alignments + ".csi"] + (
        [alignments[:-4] + ".bai"] if alignments.endswith(".bam") else []
    )
    candidates = [index] if index else beside
    index = next((path for path in candidates if os.path.isfile(path)), None)
    names = idxstats_names(samtools, target)
    try:
        with open(index or "", "rb") as handle:
            parsed = alignment_index.read_index(handle.read())
    except (OSError, EOFError, ValueError, struct.error, zlib.error) as err:  # none, unreadable or cut short
        log.debug("no contig reaches from the index: %s", err)
        return {}
    if parsed is None or len(parsed.contigs) != len(names):
        return {}
    reaches = {}
    for name, contig in zip(names, parsed.contigs):
        ends = [alignment_index.bin_interval(number, parsed.min_shift, parsed.depth)[1] for number, _ in contig.bins]
        reaches[name] = max([1, *ends])
    return reaches
