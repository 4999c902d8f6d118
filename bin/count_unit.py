#!/usr/bin/env python3
"""Count the reads of one work unit with samtools and record every item's count and status.

Each item of the unit (see plan_units.py) is counted by samtools:
- single: ``samtools view -c`` over the interval (records overlapping it; a whole contig as ``{name}``);
- chunk: the records whose leftmost position lies in the chunk: those overlapping it minus those that
  started before it (``-e '(user expression) && pos <= start'`` on the chunk's first base only), so that
  the first piece of a region (a single) and its chunks add up to exactly the whole region's count;
- batch: few calls for all batch items of the unit (one index load each): whole contigs by one
  ``samtools view <file> {c1} {c2} ...`` (each contig once, records counted by contig name), the other
  items by one ``samtools view -M -L <bed>`` pass, records assigned to the items they overlap with
  htslib's own overlap rule (bam_endpos). When a pass fails, each of its items is counted alone, so that
  only the regions really affected are reported.

A whole contig reaches past its @SQ length: htslib reads ``{name}`` and ``{name}:beg`` to the contig's
last record, so records placed past the end (malformed, but indexed) count. So does the last piece of a
split whole contig (``open_end`` in the unit file, counted over ``{name}:beg``). Batched whole contigs are
region arguments, not BED lines: a BED end past every record would cost samtools -L 4 bytes per 8 kb of
end, per contig (1 MiB per contig for 2^31-1, 3 GB for 3,000 contigs), and CRAM indexes do not tell
where records past the end lie (slice spans stop at the contig length).

The user's options (--samtools-args) are parsed and checked once by samtools_options.py (the allow-list,
then one samtools call on a one-record input) before any region is counted: bad options stop the unit
with one line and exit status 2, not one failing call per region.

Samtools is called with an argument list, never through a shell: contig names may hold ``$ ; & | * : ,``.
``samtools view -c`` exits 0 and prints 0 for some region errors, so any output on samtools' stderr
(but a known harmless warning) marks the items of that call as failed; the reducer reports them.
A samtools killed by a signal or out of memory makes this script exit with that status, so that
Nextflow can retry the task.
"""

import argparse
import logging
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass

import samtools_options
from tsv_files import read_tsv, write_tsv

log = logging.getLogger("count_unit")

RESULT_COLUMNS = ["region_id", "contig", "start", "end", "mode", "count", "status", "message"]
RETRYABLE_EXIT_CODES = samtools_options.RETRYABLE_EXIT_CODES
CIGAR_OP = re.compile(r"(\d+)([MIDNSHP=X])")
REFERENCE_CONSUMING = frozenset("MDN=X")
MESSAGE_MAX_CHARS = 2000
# Warnings that say nothing is wrong: htslib's multi-region CRAM iterator notes regions without reads.
HARMLESS_STDERR = (re.compile(r"^\[W::hts_itr_multi_cram\] No index entry for region "),)
# Bytes of `{name}` arguments per whole-contig call: far below Linux's 2 MiB for all of argv.
REGION_ARGUMENT_BYTES = 100_000


@dataclass(frozen=True)
class Item:
    region_id: str
    contig: str
    start: int  # 0-based, half-open
    end: int
    whole_contig: bool
    mode: str
    open_end: bool = False  # reaches past `end` to the contig's last record (the last piece of a whole contig)


@dataclass
class Outcome:
    count: int = 0
    status: str = "ok"
    message: str = ""


class RetryableFailure(Exception):
    def __init__(self, exit_code, message):
        super().__init__(message)
        self.exit_code = exit_code


def read_unit(lines):
    """Items of a unit file (TSV with the header written by plan_units.py)."""
    return [
        Item(
            r["region_id"],
            r["contig"],
            int(r["start"]),
            int(r["end"]),
            r["whole"] == "1",
            r["mode"],
            r.get("open_end", "0") == "1",  # absent in unit files planned before the column existed
        )
        for r in read_tsv(lines)
    ]


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
    boundary = f"pos <= {starts_before}"
    # htslib 1.16 reads && and || left to right at one precedence, so the parentheses change nothing there;
    # they keep the user's expression whole should a later htslib bind && tighter.
    return f"({user_expression}) && {boundary}" if user_expression else boundary


def view_command(samtools, common, expression, extra):
    command = [samtools, "view", *common]
    if expression:
        command += ["-e", expression]
    return command + extra


def reference_end(pos0, flag, cigar):
    """End (exclusive, 0-based) of a record on the reference, as htslib's bam_endpos computes it."""
    if flag & 0x4 or cigar == "*":
        return pos0 + 1
    length = sum(int(n) for n, op in CIGAR_OP.findall(cigar) if op in REFERENCE_CONSUMING)
    return pos0 + (length if length > 0 else 1)


def overlap_counts(sam_lines, items):
    """Count, for each item, the SAM records that overlap it (records come once each, -M), with htslib's
    overlap rule: a record spans [pos, bam_endpos)."""
    counts = [0] * len(items)
    by_contig = {}
    for index, item in enumerate(items):
        by_contig.setdefault(item.contig, []).append(index)
    for line in sam_lines:
        if line.startswith("@"):  # a header line: QNAME cannot start with '@'
            continue
        fields = line.split("\t", 6)
        indexes = by_contig.get(fields[2])
        if not indexes:
            continue
        pos0 = int(fields[3]) - 1
        end0 = reference_end(pos0, int(fields[1]), fields[5])
        for index in indexes:
            if pos0 < items[index].end and end0 > items[index].start:
                counts[index] += 1
    return counts


def contig_counts(sam_lines, contigs):
    """Records per contig in SAM output, in the order of `contigs`."""
    counts = dict.fromkeys(contigs, 0)
    for line in sam_lines:
        if not line.startswith("@"):
            contig = line.split("\t", 3)[2]
            if contig in counts:
                counts[contig] += 1
    return [counts[contig] for contig in contigs]


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


def stream_counts(command, count, n_counts, what, workdir):
    """Outcomes of one samtools view call whose SAM output `count` turns into n_counts counts; every one
    fails when the call does."""
    log.debug("running %s", shlex.join(command))
    with tempfile.TemporaryFile("w+", dir=workdir) as stderr_file:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr_file, text=True)
        counts = count(process.stdout)
        process.wait()
        stderr_file.seek(0)
        result = subprocess.CompletedProcess(command, process.returncode, "", stderr_file.read())
    error = check_exit(result, what)
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


def count_intervals(items, samtools, common, user_expression, target, workdir):
    """Sub-contig items: one `samtools view -M -L <bed>` pass (multi-region iterator: each record once)."""
    bed_path = os.path.join(workdir, "batch.bed")
    with open(bed_path, "w") as bed:
        bed.writelines(f"{item.contig}\t{item.start}\t{item.end}\n" for item in items)
    command = view_command(samtools, common, filter_expression(user_expression), ["-M", "-L", bed_path, *target])
    return stream_counts(
        command, lambda lines: overlap_counts(lines, items), len(items), f"{len(items)} batched regions", workdir
    )


def count_batch(items, samtools, common, user_expression, target, workdir):
    """Outcomes of the batch items, in order: whole contigs by `{name}` arguments, the rest by -M -L."""
    whole = [item for item in items if item.whole_contig]
    intervals = [item for item in items if not item.whole_contig]
    outcomes = {}
    if whole:
        outcomes.update(zip(whole, count_whole_contigs(whole, samtools, common, user_expression, target, workdir)))
    if intervals:
        outcomes.update(zip(intervals, count_intervals(intervals, samtools, common, user_expression, target, workdir)))
    return [outcomes[item] for item in items]


def checked_options(samtools, samtools_args):
    """The user's options, parsed and accepted by samtools (one call on a one-record input), before any
    region is counted. SamtoolsArgsError when refused; RetryableFailure when that samtools is killed."""
    try:
        return samtools_options.verify(samtools, samtools_args)
    except samtools_options.SamtoolsKilled as killed:
        raise RetryableFailure(killed.exit_code, str(killed)) from None


def count_unit(items, samtools, alignments, index, reference, threads, samtools_args, workdir):
    """Outcome of every item, in unit order. Raises SamtoolsArgsError for refused options, before counting."""
    user = checked_options(samtools, samtools_args)
    common = [*(["-@", str(threads)] if threads > 0 else []), *(["-T", reference] if reference else []), *user.options]
    # htslib's "file##idx##index" form: -X would want region arguments, which a -L batch call has none of.
    target = [f"{alignments}##idx##{index}" if index else alignments]
    outcomes = {}
    # An open-ended piece that is not a whole contig is never planned as a batch item; counted alone if it were.
    batch = [item for item in items if item.mode == "batch" and (item.whole_contig or not item.open_end)]
    if batch:
        outcomes.update(zip(batch, count_batch(batch, samtools, common, user.expression, target, workdir)))
        failed = [item for item in batch if outcomes[item].status != "ok"]
        if failed:
            # One bad block fails a whole pass: count each of its items alone to name exactly the failing ones.
            log.warning(
                "a batch pass failed (%s); counting its %d regions one by one", outcomes[failed[0]].message, len(failed)
            )
            outcomes.update((item, None) for item in failed)
    for item in items:
        if outcomes.get(item) is None:
            outcomes[item] = count_single(item, samtools, common, user.expression, target)
    return [outcomes[item] for item in items]


def write_results(path, items, outcomes):
    rows = [
        [item.region_id, item.contig, item.start, item.end, item.mode, outcome.count, outcome.status, outcome.message]
        for item, outcome in zip(items, outcomes)
    ]
    write_tsv(path, RESULT_COLUMNS, rows)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alignments", required=True, help="BAM or CRAM file")
    parser.add_argument("--index", help="its index (.bai/.crai)")
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


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="[%(levelname)s] %(message)s")
    with open(args.unit) as handle:
        items = read_unit(handle)
    try:
        outcomes = count_unit(
            items,
            args.samtools,
            args.alignments,
            args.index,
            args.reference,
            args.threads,
            args.samtools_args,
            os.path.dirname(os.path.abspath(args.out)),
        )
    except samtools_options.SamtoolsArgsError as err:
        log.error("%s", err)
        return 2
    except RetryableFailure as failure:
        log.error("%s", failure)
        return failure.exit_code
    write_results(args.out, items, outcomes)
    failed = sum(outcome.status != "ok" for outcome in outcomes)
    log.info("%d items counted, %d failed", len(items), failed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
