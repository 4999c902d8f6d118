#!/usr/bin/env python3
"""Count the reads of one work unit with samtools and record every item's count and status.

A unit (see plan_units.py) may hold items of several samples (the small samples of a cohort share
counting tasks): each item names its sample, and --samples gives each sample's files (TSV ``sample
alignments index``, paths relative to the task folder). Each sample's items are counted in that sample's
files only, as below, so that a failure in one sample's file never touches another sample's counts.

Each item is counted by samtools:
- single: ``samtools view -c`` over the interval (records overlapping it; a whole contig as ``{name}``);
- chunk: the records whose leftmost position lies in the chunk: those overlapping it minus those that
  started before it (``-e '(user expression) && pos <= start'`` on the chunk's first base only), so that
  the first piece of a region (a single) and its chunks add up to exactly the whole region's count;
- batch: few calls for all batch items of the unit (one index load each): whole contigs by one
  ``samtools view <file> {c1} {c2} ...`` (each contig once, records counted by contig name), the other
  items by one ``samtools view -M -L <bed>`` pass (the BED's regions merged across gaps expected to hold
  few records: merged_intervals), records assigned to the items they overlap with
  htslib's own overlap rule (bam_endpos) by a sweep in coordinate order (overlap_counts): its cost grows
  with records + items + overlaps, not records x items, and it holds only the records spanning one base.
  When a pass fails (or its records are out of coordinate order), each of its items is counted alone, so
  that only the regions really affected are reported;
- pass: every contig of a sample (a small sample's header regions, planned into one unit): one region-less
  ``samtools view -u -e 'endpos > 0' <file>`` pass piped into ``samtools idxstats -``, which, having no
  index for a stream, counts the records of each contig as it reads them. That is what ``{name}`` counts:
  htslib's iterator for a whole contig returns every record of that contig whose end (bam_endpos) lies
  past base 0, which all records at pos >= 0 have (past the @SQ length too) and, of those at pos -1, the
  mapped ones whose CIGAR reaches base 0; ``endpos > 0`` drops the others. Region arguments would cost
  more: for each whole-contig region htslib walks every index bin up to 2^29 (3,366 `{name}` regions of
  a 1M-record BAM: 2.4 s, the whole file: 0.7 s); a Python reader of the stream cost as much again as
  samtools (and three times as much on two busy CPUs);
- scan: a pass over a BAM whose every contig starts at pos >= 0 (the planner looked, see contig_starts.py):
  no record of a contig is one `{name}` skips, so with no user option to apply ``samtools idxstats`` reads
  the file itself (linked alone into an empty folder, so that it finds no index and counts the records):
  half the work of a view piped into it. With the user's options (or a CRAM reference) it is a pass.

A whole contig reaches past its @SQ length: htslib reads ``{name}`` and ``{name}:beg`` to the contig's
last record, so records placed past the end (malformed, but indexed) count. So does the last piece of a
split whole contig (``open_end`` in the unit file, counted over ``{name}:beg``). Batched whole contigs are
region arguments, not BED lines: a BED end past every record would cost samtools -L 4 bytes per 8 kb of
end, per contig (1 MiB per contig for 2^31-1, 3 GB for 3,000 contigs), and CRAM indexes do not tell
where records past the end lie (slice spans stop at the contig length).

The user's options (--samtools-args) are parsed and checked once per unit by samtools_options.py (the allow-list,
then one samtools call on a one-record input) before any region is counted: bad options stop the unit
with one line and exit status 2, not one failing call per region.

Samtools is called with an argument list, never through a shell: contig names may hold ``$ ; & | * : ,``.
``samtools view -c`` exits 0 and prints 0 for some region errors, so any output on samtools' stderr
(but a known harmless warning) marks the items of that call as failed; the reducer reports them.
A samtools killed by a signal or out of memory makes this script exit with that status, so that
Nextflow can retry the task.
"""

import argparse
import functools
import gc
import itertools
import logging
import os
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass
from heapq import heappop, heappush
from sys import intern
from typing import NamedTuple

import alignment_index
import samtools_options
from tsv_files import MissingColumns, column_indexes, iter_columns, iter_tsv, write_tsv

try:
    import bam_records  # numpy: a batch pass read as BAM
except ImportError:  # no numpy (the container's Python, see modules/local/count_unit): read as SAM text
    bam_records = None

log = logging.getLogger("count_unit")

# The planner writes unit files with these columns (open_end may be absent, see read_unit); the module
# writes the manifest; the reducer reads the results.
UNIT_COLUMNS = ["sample", "region_id", "contig", "start", "end", "whole", "mode"]
SAMPLE_COLUMNS = ["sample", "alignments", "index"]
RESULT_COLUMNS = ["sample", "region_id", "contig", "start", "end", "mode", "count", "status", "message"]
RETRYABLE_EXIT_CODES = samtools_options.RETRYABLE_EXIT_CODES
CIGAR_OP = re.compile(rb"(\d+)([MIDNSHP=X])")
REFERENCE_CONSUMING = frozenset([b"M", b"D", b"N", b"=", b"X"])
CIGAR_CACHE_SIZE = 100_000
# Past any position (SAM POS, BAM's is a signed 32-bit number): the bound of an exhausted item list.
NO_BOUND = 1 << 62
MESSAGE_MAX_CHARS = 2000
# Warnings that say nothing is wrong: htslib's multi-region CRAM iterator notes regions without reads.
# hts_idx_load3: an index staged beside its BAM is the user's (its freshness is checked on the original files by
# the pipeline); staged copies of remote files have their download times as mtimes, the index maybe the older.
HARMLESS_STDERR = (
    re.compile(r"^\[W::hts_itr_multi_cram\] No index entry for region "),
    re.compile(r"^\[W::hts_idx_load3\] The index file is older than the data file"),
)
# `samtools idxstats` finds no index for its input (a stream '-', or a file alone in a folder) and says so;
# then it counts the records it reads.
IDXSTATS_NO_INDEX = (
    "[E::idx_find_and_load] Could not retrieve index file for '{}'",
    'samtools idxstats: fail to load index for "{}", reverting to slow method',
)
SCANNED_FILE = "alignments"  # the name of a scanned file in its empty folder
PASS_MODES = ("pass", "scan")  # a sample's contigs counted by one pass over its file (plan_units.py)
# The sample of an item planned once for every sample of its unit (plan_units.plan_shared): counted in each
# sample's files of the manifest. No sample is named '*' (the pipeline refuses such names).
ALL_SAMPLES = "*"
# The records `{name}` returns (see the module docstring): samtools' endpos is htslib's bam_endpos.
REACHES_FIRST_BASE = "endpos > 0"
# How long a samtools whose output could not be counted may take to exit by itself (then its status counts).
STOPPED_SAMTOOLS_WAIT_SECONDS = 2
# Bytes of `{name}` arguments per whole-contig call: far below Linux's 2 MiB for all of argv.
REGION_ARGUMENT_BYTES = 100_000
# samtools calls that may tell apart the items of a failed shared pass (recount_failed_pass): a few corrupt
# blocks cost tens of calls; a file corrupt everywhere fails after this many, not after one call per region.
FALLBACK_MAX_CALLS = 500


# Items and outcomes are named tuples: a panel's unit holds up to a million of each (a dataclass instance with
# its __dict__ costs several times more).
class Item(NamedTuple):
    sample: str
    region_id: str
    contig: str
    start: int  # 0-based, half-open
    end: int
    whole_contig: bool
    mode: str
    open_end: bool = False  # reaches past `end` to the contig's last record (the last piece of a whole contig)


@dataclass(frozen=True)
class SampleFiles:
    alignments: str  # as given in the manifest: relative to the task folder (the working directory)
    index: str = ""  # '' lets samtools find the index next to the alignments
    sample: str = ""  # its name in the manifest, for messages


class Outcome(NamedTuple):
    count: int = 0
    status: str = "ok"
    message: str = ""


class RetryableFailure(Exception):
    def __init__(self, exit_code, message):
        super().__init__(message)
        self.exit_code = exit_code


class UnitError(Exception):
    """A unit file or sample manifest this script cannot use (a planner/module mismatch): one line, exit 2."""


def rows_with(lines, columns, what):
    """Rows of a TSV as dicts, one at a time (a panel's unit holds up to 1,000,000); UnitError when the header
    lacks one of `columns`."""
    for number, row in enumerate(iter_tsv(lines)):
        if number == 0:
            try:
                column_indexes(list(row), columns, what)
            except MissingColumns as err:
                raise UnitError(str(err)) from None
        yield row


def read_unit(lines, what="unit file"):
    """Items of a unit file (TSV with the header written by plan_units.py), its columns picked by position: a
    dict per row would cost more than counting a panel's region."""
    lines = iter(lines)
    header = next((line for line in lines if line.strip()), "")
    open_end = "open_end" in header.rstrip("\n").split("\t")  # absent in unit files planned before it existed
    columns = UNIT_COLUMNS + (["open_end"] if open_end else [])
    number = 1  # the header's line
    try:
        rows = iter_columns(itertools.chain([header], lines), columns, what)
        items = []
        for number, (sample, region_id, contig, start, end, whole, mode, *rest) in enumerate(rows, start=2):  # noqa: B007 (named in the errors below)
            # One string per sample and contig, not one per row.
            item = Item(intern(sample), region_id, intern(contig), int(start), int(end), whole == "1", mode)
            items.append(item._replace(open_end=True) if rest and rest[0] == "1" else item)
    except IndexError as err:  # a short row
        raise UnitError(f"{what}: line {number + 1} is malformed ({err!r})") from None
    except MissingColumns as err:
        raise UnitError(str(err)) from None
    except ValueError as err:  # a start that is no number
        raise UnitError(f"{what}: line {number} is malformed ({err!r})") from None
    return items


def read_samples(lines, what="sample manifest"):
    """Files of each sample from the manifest (TSV `sample alignments index`; index may be empty)."""
    samples = {}
    for number, r in enumerate(rows_with(lines, SAMPLE_COLUMNS, what), start=2):
        sample, alignments = r.get("sample", ""), r.get("alignments", "")
        if not sample or not alignments:
            raise UnitError(f"{what}: line {number} has no sample name or no alignments file")
        if sample in samples:
            raise UnitError(f"{what}: sample '{sample}' is listed twice")
        samples[sample] = SampleFiles(alignments, r.get("index") or "", sample)  # a trailing empty field may be cut
    return samples


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


def view_command(samtools, common, expression, extra):
    command = [samtools, "view", *common]
    if expression:
        command += ["-e", expression]
    return command + extra


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


def check_exit(result, what):
    """Raise RetryableFailure for a killed samtools; return an error message for any other failure."""
    code = result.returncode if result.returncode >= 0 else 128 - result.returncode
    stderr = "\n".join(
        line
        for line in result.stderr.strip().splitlines()
        if not any(pattern.match(line) for pattern in HARMLESS_STDERR)
    )
    if code in RETRYABLE_EXIT_CODES:
        raise RetryableFailure(
            code, f"samtools was killed or ran out of memory (exit {code}) counting {what}: {stderr}"
        )
    if code != 0:
        return f"samtools exited with status {code}: {stderr or '(no error output)'}"
    if stderr:
        return f"samtools reported an error: {stderr}"
    return ""


def shorten(message):
    message = " | ".join(line.strip() for line in message.splitlines() if line.strip())
    return message if len(message) <= MESSAGE_MAX_CHARS else message[:MESSAGE_MAX_CHARS] + " ..."


def samtools_count(samtools, common, expression, target, region):
    """(count, error message) of one `samtools view -c` call."""
    command = view_command(samtools, ["-c", *common], expression, [*target, region])
    log.debug("running %s", shlex.join(command))
    result = subprocess.run(command, capture_output=True, text=True)
    error = check_exit(result, region)
    if error:
        return 0, error
    try:
        return int(result.stdout.strip()), ""
    except ValueError:
        return 0, f"samtools printed no count: {result.stdout!r}"


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


def read_back(handle):
    """The text a temporary file (a samtools stderr) holds."""
    handle.seek(0)
    return handle.read().decode("utf-8", "replace")


def stream_counts(command, count, n_counts, what, workdir):
    """Outcomes of one samtools view call whose output (SAM lines) `count` turns into
    n_counts counts; every one fails when the call does, or when `count` cannot read the output (records
    out of coordinate order, a malformed line, a cut stream): then samtools is stopped and its output
    thrown away. A samtools that ended by itself is judged by its own status first: killed (out of memory),
    the task is retried, whatever its cut output made of the count."""
    log.debug("running %s", shlex.join(command))
    killed_by_us = False
    with tempfile.TemporaryFile("w+b", dir=workdir) as stderr_file:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr_file)
        try:
            counts, error = count(process.stdout), ""
        # int() of a non-number, a line too short, a cut BAM stream (BamStreamError is a ValueError)
        except (RecordOrderError, ValueError, IndexError) as err:
            counts, error = None, f"cannot count the output of samtools ({err})"
            try:  # a cut stream usually means samtools stopped: give it a moment to say how
                process.wait(timeout=STOPPED_SAMTOOLS_WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()  # our kill: its status then says nothing about samtools
                killed_by_us = True
        finally:
            process.stdout.close()
            process.wait()
        stderr = read_back(stderr_file)
    if killed_by_us:
        error += f"; samtools: {stderr}" if stderr.strip() else ""
    else:  # samtools' own failure, if any, says more than what its cut output did to the count
        error = check_exit(subprocess.CompletedProcess(command, process.returncode, "", stderr), what) or error
    if error:
        return [Outcome(0, "error", shorten(error)) for _ in range(n_counts)]
    return [Outcome(n) for n in counts]


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
MERGE_GAP_RECORDS = 16 if bam_records is not None else 8
MERGE_MIN_ITEMS = 1000  # fewer regions cost little: no index statistics asked


@functools.lru_cache(maxsize=None)  # noqa: UP033 (functools.cache is 3.9+: the samtools image has 3.8)
def idxstats_rows(samtools, target):
    """(contig, length, mapped, unmapped) of each contig, in header order, from `samtools idxstats` (the index
    alone, ~25 ms for a BAM), or [] when it cannot tell (a CRAM index has no statistics and idxstats would
    read the whole file; a failure). Asked once per sample (cached)."""
    try:
        with open(target[0].split("##idx##")[0], "rb") as handle:
            if handle.read(4) == b"CRAM":
                return []
    except OSError:
        return []
    try:
        result = subprocess.run([samtools, "idxstats", *target], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError):
        return []
    if result.returncode != 0:
        return []
    rows = []
    for line in result.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) == 4 and fields[0] != "*" and all(field.isdigit() for field in fields[1:]):
            rows.append((fields[0], *map(int, fields[1:])))
    return rows


def contig_densities(samtools, target):
    """{contig: records per base} from the index statistics (idxstats_rows), or {} when there are none: then
    no region is merged. Also asked when a failed pass is counted again in halves."""
    return {name: (mapped + unmapped) / length for name, length, mapped, unmapped in idxstats_rows(samtools, target)
            if length > 0}  # fmt: skip


def idxstats_names(samtools, target):
    """The contig names in header order (idxstats_rows)."""
    return [row[0] for row in idxstats_rows(samtools, target)]


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


def merged_intervals(items, densities):
    """(contig, start, end) stretches covering every item, each contig's together and by start: items of a
    contig whose gap is expected to hold at most MERGE_GAP_RECORDS records share a stretch."""
    stretches = []
    for item in items if in_stretch_order(items) else sorted(items, key=lambda i: (i.contig, i.start)):
        density = densities.get(item.contig, 0.0)
        max_gap = MERGE_GAP_RECORDS / density if density > 0 else 0
        last = stretches[-1] if stretches else None
        if last is not None and last[0] == item.contig and item.start - last[2] <= max_gap:
            last[2] = max(last[2], item.end)
        else:
            stretches.append([item.contig, item.start, item.end])
    return stretches


def count_intervals(items, samtools, common, user_expression, target, workdir):
    """Sub-contig items: one `samtools view -M -L <bed>` pass (multi-region iterator: each record once) over
    the items' stretches (merged_intervals), each item counted by the sweep over its own bounds."""
    bed_path = os.path.join(workdir, "batch.bed")
    densities = contig_densities(samtools, tuple(target)) if len(items) >= MERGE_MIN_ITEMS else {}
    stretches = merged_intervals(items, densities)
    with open(bed_path, "w", encoding="utf-8", errors="surrogateescape") as bed:
        bed.writelines(f"{contig}\t{start}\t{end}\n" for contig, start, end in stretches)
    expression, region_options = filter_expression(user_expression), ["-M", "-L", bed_path, *target]
    if bam_records is not None:
        command = view_command(samtools, ["-u", *common], expression, region_options)
        intervals = [(item.contig, item.start, item.end) for item in items]
        count = functools.partial(bam_records.overlap_counts, intervals=intervals)
    else:
        command = view_command(samtools, common, expression, region_options)
        count = functools.partial(overlap_counts, items=items)
    return stream_counts(command, count, len(items), f"{len(items)} batched regions", workdir)


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


def idxstats_records(samtools, options, workdir, what, view=None, alignments=None):
    """({contig: records}, error message) of `samtools idxstats` counting the records it reads: those of the
    `view` command's stream (`view | samtools idxstats -`) or of the file `alignments`. idxstats runs in an
    empty folder, the file linked there alone: no file can pass for an index, so it reads the records. A
    killed samtools (out of memory) raises RetryableFailure; a view that fails, an idxstats that fails or
    read an index, or output that is not idxstats' is an error, never a count."""
    name = "-" if view else SCANNED_FILE
    # Resolved here: idxstats runs in another folder, where a relative path would name nothing.
    idxstats = [shutil.which(samtools) or samtools, "idxstats", *options, name]
    log.debug("running %s%s", f"{shlex.join(view)} | " if view else "", shlex.join(idxstats))
    with (
        tempfile.TemporaryDirectory(dir=workdir) as empty,
        tempfile.TemporaryFile("w+b", dir=workdir) as view_err,
        tempfile.TemporaryFile("w+b", dir=workdir) as idxstats_err,
    ):
        if view is None:
            os.symlink(os.path.abspath(alignments), os.path.join(empty, SCANNED_FILE))
        producer = subprocess.Popen(view, stdout=subprocess.PIPE, stderr=view_err) if view else None
        try:
            consumer = subprocess.Popen(
                idxstats,
                stdin=producer.stdout if producer else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=idxstats_err,
                cwd=empty,
            )
        finally:
            if producer:
                producer.stdout.close()  # idxstats holds the pipe: view gets SIGPIPE should idxstats stop
        output = consumer.communicate()[0]
        if producer:
            producer.wait()
        view_stderr, idxstats_stderr = (read_back(handle) for handle in (view_err, idxstats_err))
    no_index = [line.format(name) for line in IDXSTATS_NO_INDEX]
    lines = idxstats_stderr.splitlines()
    counted_the_records = all(line in lines for line in no_index)
    idxstats_stderr = "\n".join(line for line in lines if line not in no_index)
    idxstats_result = subprocess.CompletedProcess(idxstats, consumer.returncode, "", idxstats_stderr)
    if producer is None:
        error = check_exit(idxstats_result, what)
    elif producer.returncode == -signal.SIGPIPE:  # idxstats stopped reading: its own status says why
        error = check_exit(idxstats_result, what) or "samtools idxstats stopped reading the stream"
    else:
        view_result = subprocess.CompletedProcess(view, producer.returncode, "", view_stderr)
        error = check_exit(view_result, what) or check_exit(idxstats_result, what)
    if not error and not counted_the_records:
        error = f"samtools idxstats did not say it counted the records, not an index: {idxstats_stderr!r}"
    if error:
        return {}, error
    try:
        return idxstats_counts(output.decode("utf-8", "surrogateescape")), ""
    except ValueError as err:
        return {}, f"cannot read the output of samtools idxstats ({err})"


def idxstats_counts(text):
    """{contig: mapped + unmapped records} of `samtools idxstats` output (name, length, mapped, unmapped;
    the last line, '*', the unplaced records). A name listed twice keeps its first line: the tid that
    htslib's `{name}` finds. ValueError for output of another shape."""
    lines = text.splitlines()
    if not lines or not lines[-1].startswith("*\t"):
        raise ValueError("no line '*' (unplaced records) at the end")
    counts = {}
    for line in lines[:-1]:
        name, _length, mapped, unmapped = line.rsplit("\t", 3)
        counts.setdefault(name, int(mapped) + int(unmapped))
    return counts


def count_batch(items, samtools, common, user_expression, target, workdir):
    """Outcomes of the batch items, in order: whole contigs by `{name}` arguments (or as intervals reaching past
    their records, contig_reaches), the rest by -M -L."""
    whole = sum(item.whole_contig for item in items)
    reaches = contig_reaches(samtools, tuple(target)) if whole >= WHOLE_AS_INTERVALS_MIN else {}
    outcomes = [None] * len(items)
    for by_name in (True, False):
        indexes = (
            [i for i, item in enumerate(items) if item.whole_contig and item.contig not in reaches]
            if by_name
            else [i for i, item in enumerate(items) if not item.whole_contig or item.contig in reaches]
        )
        if indexes:
            count = count_whole_contigs if by_name else count_intervals
            part = [as_interval(items[i], reaches) for i in indexes]
            for i, outcome in zip(indexes, count(part, samtools, common, user_expression, target, workdir)):
                outcomes[i] = outcome
    return outcomes


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


def checked_options(samtools, samtools_args):
    """The user's options, parsed and accepted by samtools (one call on a one-record input), before any
    region is counted. SamtoolsArgsError when refused; RetryableFailure when that samtools is killed."""
    try:
        return samtools_options.verify(samtools, samtools_args)
    except samtools_options.SamtoolsKilled as killed:
        raise RetryableFailure(killed.exit_code, str(killed)) from None


def count_sample_items(items, files, samtools, common, user_expression, workdir, scan_threads=None):
    """Outcome of every item of one sample, in order, counted in that sample's files. scan_threads: None
    when the user filters (or the input is CRAM): a scan is then counted as a pass."""
    # htslib's "file##idx##index" form: -X would want region arguments, which a -L batch call has none of.
    target = [f"{files.alignments}##idx##{files.index}" if files.index else files.alignments]
    outcomes = [None] * len(items)
    # An open-ended piece that is not a whole contig is never planned as a batch item; counted alone if it were.
    passes = [i for i, item in enumerate(items) if item.mode in PASS_MODES and item.whole_contig]
    batch = [i for i, item in enumerate(items) if item.mode == "batch" and (item.whole_contig or not item.open_end)]
    for shared, count in ((passes, count_pass), (batch, count_batch)):
        if not shared:
            continue
        shared_items = [items[i] for i in shared]
        if count is count_pass and scan_threads is not None and all(item.mode == "scan" for item in shared_items):
            counted = count_scan(shared_items, samtools, scan_threads, files.alignments, workdir)
        else:
            counted = count(shared_items, samtools, common, user_expression, target, workdir)
        failed = [outcome for outcome in counted if outcome.status != "ok"]
        if failed:
            # One bad block fails a whole pass: its halves are counted again to name exactly the failing items.
            log.warning(
                "%s: a %s pass over %d regions failed (%s); counting them again in halves",
                files.sample or items[0].sample,
                items[shared[0]].mode,
                len(failed),
                failed[0].message,
            )
            counted = recount_failed_pass(
                shared_items,
                failed[0].message,
                lambda part: count_batch(part, samtools, common, user_expression, target, workdir),
                lambda item: count_single(item, samtools, common, user_expression, target),
            )
        for i, outcome in zip(shared, counted):
            outcomes[i] = outcome
    for i, item in enumerate(items):
        if outcomes[i] is None:
            outcomes[i] = count_single(item, samtools, common, user_expression, target)
    return outcomes


def halves(first, end, error):
    """The halves of items [first, end) as (first, end, error) to pop from a stack: the first half first."""
    if end - first < 2:
        return [(first, end, error)]
    middle = (first + end) // 2
    return [(middle, end, error), (first, middle, error)]


def recount_failed_pass(items, error, count_together, count_alone, max_calls=None):
    """Outcomes of the items of a shared pass that failed with `error`, in order: each half counted by one
    pass (count_together: items -> outcomes; a region-less pass is recounted as `{name}` batches), a half
    that fails again halved in turn, an item alone counted by count_alone (its own samtools error). A
    corrupt block costs O(failed items x log n) calls, not one per item; after max_calls calls (a file
    corrupt everywhere) the items not yet told apart fail with the error of the pass they were in. Every
    count reported is a pass's or a call's that succeeded: exact."""
    max_calls = FALLBACK_MAX_CALLS if max_calls is None else max_calls
    outcomes = [None] * len(items)
    pending = halves(0, len(items), error)  # the whole pass failed already: its halves first
    calls = 0
    while pending:
        first, end, error = pending.pop()
        if calls >= max_calls:
            note = f"not counted alone: a pass over {end - first} regions with it failed ({error})"
            outcomes[first:end] = [Outcome(0, "error", shorten(note))] * (end - first)
            continue
        calls += 1
        if end - first == 1:
            outcomes[first] = count_alone(items[first])
            continue
        counted = count_together(items[first:end])
        failed = [outcome for outcome in counted if outcome.status != "ok"]
        if failed:
            pending += halves(first, end, failed[0].message)
        else:
            outcomes[first:end] = counted
    return outcomes


def items_by_sample(items):
    """Indexes of the items of each sample, samples in order of first appearance."""
    by_sample = {}
    for index, item in enumerate(items):
        by_sample.setdefault(item.sample, []).append(index)
    return by_sample


class Counting(NamedTuple):
    """How a unit's items are counted: the user's options checked once (counting), for every sample."""

    samtools: str
    common: list  # samtools view options of every call: threads, reference, the user's options
    expression: str  # the user's -e expression ('' for none)
    scan_threads: int  # None when a scan must be a pass (the user filters, or a CRAM reference)
    workdir: str


def counting(samtools, reference, threads, samtools_args, workdir):
    """The Counting of a unit; SamtoolsArgsError for refused options, before any region is counted."""
    user = checked_options(samtools, samtools_args)  # once per unit: the same options for every sample
    common = [*(["-@", str(threads)] if threads > 0 else []), *(["-T", reference] if reference else []), *user.options]
    # A scan applies no option: with the user's filters (or a CRAM reference) its samples are passes.
    scan_threads = None if user.options or user.expression or reference else threads
    return Counting(samtools, common, user.expression, scan_threads, workdir)


def count_items(items, files, how):
    """Outcomes of one sample's items, counted in its files."""
    return count_sample_items(items, files, how.samtools, how.common, how.expression, how.workdir, how.scan_threads)


def missing_samples_problem(items, samples):
    """UnitError for items of samples the manifest lacks (ALL_SAMPLES stands for all of it)."""
    missing = [sample for sample in items_by_sample(items) if sample not in samples and sample != ALL_SAMPLES]
    if missing:
        raise UnitError("samples of the unit missing from the sample manifest: " + ", ".join(map(repr, missing)))


def count_own_items(items, samples, how):
    """Outcome of every item, in unit order, each sample's items counted in its own files (`samples`:
    name -> SampleFiles), so that one sample's failures never touch another's counts."""
    outcomes = [None] * len(items)
    for sample, indexes in items_by_sample(items).items():
        for i, outcome in zip(indexes, count_items([items[i] for i in indexes], samples[sample], how)):
            outcomes[i] = outcome
    return outcomes


def count_unit(items, samples, samtools, reference, threads, samtools_args, workdir):
    """Outcome of every item (none of ALL_SAMPLES), in unit order (count_own_items). Raises UnitError for an
    item of a sample the manifest lacks and SamtoolsArgsError for refused options, before any counting."""
    missing_samples_problem(items, samples)
    return count_own_items(items, samples, counting(samtools, reference, threads, samtools_args, workdir))


def counted_blocks(items, samples, how):
    """(items, outcomes) of the unit: its own items in unit order, then the ALL_SAMPLES items once per sample
    of the manifest (in its order), made and counted one sample at a time: a task holds one sample's copy
    of a shared plan's items, whatever the number of samples."""
    own = [item for item in items if item.sample != ALL_SAMPLES]
    if own:
        yield None, own, count_own_items(own, samples, how)
    shared = [item for item in items if item.sample == ALL_SAMPLES] if len(own) < len(items) else []
    for sample, files in samples.items() if shared else ():
        yield sample, shared, count_items(shared, files, how)


def write_results(path, blocks):
    """The result rows of (sample, items, outcomes) blocks, written as they come (a block's sample, when not
    None, stands for the ALL_SAMPLES of its items); returns (items, failed items, samples)."""
    tally = {"items": 0, "failed": 0, "samples": set()}

    def rows():
        for sample, items, outcomes in blocks:
            for item, o in zip(items, outcomes):
                tally["items"] += 1
                tally["failed"] += o.status != "ok"
                yield [
                    sample or item.sample,
                    item.region_id,
                    item.contig,
                    item.start,
                    item.end,
                    item.mode,
                    o.count,
                    o.status,
                    o.message,
                ]
            tally["samples"].update([sample] if sample else (item.sample for item in items))

    write_tsv(path, RESULT_COLUMNS, rows())
    return tally["items"], tally["failed"], len(tally["samples"])


# The shell's status for a command not found: not retried (base.config), as a retry would not find it either.
SAMTOOLS_MISSING_EXIT_CODE = 127


def samtools_missing_message(samtools):
    """One line for a samtools the task cannot run (the driver checks the local PATH before any work; a
    scheduler's node or a configured environment may still lack it)."""
    return (
        f"{samtools}: not found on this task's PATH: install samtools (`make setup`) or run with "
        "-profile conda, docker or singularity"
    )


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--samples",
        required=True,
        help="sample manifest: TSV with header `sample alignments index` (BAM/CRAM and index, paths relative "
        "to the working directory; an empty index lets samtools find it)",
    )
    parser.add_argument("--reference", help="FASTA reference (CRAM)")
    parser.add_argument("--unit", required=True, help="work unit file written by plan_units.py")
    parser.add_argument("--threads", type=int, default=0, help="additional samtools threads (-@)")
    parser.add_argument(
        "--samtools-args",
        default="",
        help="extra samtools view options; pass them after '=' (--samtools-args='-F 0x904 -q 20'), so that a "
        "value starting with '-' is never read as an option of this script",
    )
    parser.add_argument("--samtools", default="samtools", help="samtools executable")
    parser.add_argument("--out", required=True, help="result TSV")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def read_table(path, read):
    """`read` applied to the lines of a TSV file; a file that cannot be read is a UnitError."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            return read(handle, path)
    except OSError as err:
        raise UnitError(f"{path}: cannot read: {err.strerror or err}") from None


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="[%(levelname)s] %(message)s")
    try:
        samples = read_table(args.samples, read_samples)
        items = read_table(args.unit, read_unit)
        missing_samples_problem(items, samples)
        how = counting(
            args.samtools, args.reference, args.threads, args.samtools_args, os.path.dirname(os.path.abspath(args.out))
        )
        n_items, failed, n_samples = write_results(args.out, counted_blocks(items, samples, how))
    except (UnitError, samtools_options.SamtoolsArgsError) as err:
        log.error("%s", err)
        return 2
    except RetryableFailure as failure:
        log.error("%s", failure)
        return failure.exit_code
    except FileNotFoundError as err:
        if err.filename != args.samtools:
            raise
        log.error("%s", samtools_missing_message(args.samtools))
        return SAMTOOLS_MISSING_EXIT_CODE
    log.info("%d items of %d samples counted, %d failed", n_items, n_samples, failed)
    return 0


if __name__ == "__main__":
    # Rows and items hold no reference cycles: the cyclic collector would only walk a panel's hundreds of
    # thousands of them again and again (half the planning time of 200,000 regions).
    gc.disable()
    sys.exit(main())
