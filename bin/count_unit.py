#!/usr/bin/env python3
"""Count the reads of one work unit with samtools and record every item's count and status.

Each item of the unit (see plan_units.py) is counted by samtools:
- single: ``samtools view -c`` over the interval (records overlapping it; a whole contig as ``{name}``);
- chunk: the records whose leftmost position lies in the chunk: those overlapping it minus those that
  started before it (``-e 'pos <= start'`` on the chunk's first base only), so that the first piece of
  a region (a single) and its chunks add up to exactly the whole region's count;
- batch: one ``samtools view -M -L <bed>`` pass over all batch items (one index load); records are
  assigned to the items they overlap with htslib's own overlap rule (bam_endpos). When that pass
  fails, each of its items is counted alone, so that only the regions really affected are reported.

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

from tsv_files import read_tsv, write_tsv

log = logging.getLogger("count_unit")

RESULT_COLUMNS = ["region_id", "contig", "start", "end", "mode", "count", "status", "message"]
# Exit statuses that mean "killed or out of memory": retried by Nextflow (conf/base.config).
RETRYABLE_EXIT_CODES = set(range(130, 146)) | {104, 175}
CIGAR_OP = re.compile(r"(\d+)([MIDNSHP=X])")
REFERENCE_CONSUMING = frozenset("MDN=X")
MESSAGE_MAX_CHARS = 2000
# Warnings that say nothing is wrong: htslib's multi-region CRAM iterator notes regions without reads.
HARMLESS_STDERR = (re.compile(r"^\[W::hts_itr_multi_cram\] No index entry for region "),)


@dataclass(frozen=True)
class Item:
    region_id: str
    contig: str
    start: int  # 0-based, half-open
    end: int
    whole_contig: bool
    mode: str


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
        Item(r["region_id"], r["contig"], int(r["start"]), int(r["end"]), r["whole"] == "1", r["mode"])
        for r in read_tsv(lines)
    ]


def region_string(item):
    """A samtools region that never parses a name as a range: `{name}` or `{name}:beg-end` (1-based)."""
    if item.whole_contig:
        return f"{{{item.contig}}}"
    return interval_region(item.contig, item.start, item.end)


def interval_region(contig, start, end):
    """`{name}:beg-end` (1-based, inclusive) for a 0-based half-open interval."""
    return f"{{{contig}}}:{start + 1}-{end}"


def split_user_args(samtools_args):
    """Split the user's samtools options; pull out -e/--expr (combined with ours) and drop -c/--count."""
    tokens = shlex.split(samtools_args or "")
    kept, expressions = [], []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in ("-e", "--expr") and i + 1 < len(tokens):
            expressions.append(tokens[i + 1])
            i += 2
            continue
        if token.startswith("--expr="):
            expressions.append(token[len("--expr=") :])
        elif token not in ("-c", "--count"):
            kept.append(token)
        i += 1
    return kept, expressions


def filter_expression(user_expressions, starts_before=None):
    """The -e expression for a call: the user's expressions and, optionally, 'starts before base N'
    (0-based N; samtools' pos is 1-based)."""
    parts = [f"({expr})" for expr in user_expressions]
    if starts_before is not None:
        parts.append(f"pos <= {starts_before}")
    return " && ".join(parts)


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


def assign_batch_counts(sam_lines, items):
    """Count, for each batch item, the SAM records that overlap it (records come once each, -M).

    Whole-contig items only need the record's contig; other items also its span on the reference.
    """
    counts = [0] * len(items)
    by_contig = {}
    for index, item in enumerate(items):
        by_contig.setdefault(item.contig, []).append(index)
    whole_only = {contig: all(items[i].whole_contig for i in indexes) for contig, indexes in by_contig.items()}
    records_on = dict.fromkeys(by_contig, 0)
    for line in sam_lines:
        if line.startswith("@"):
            continue
        fields = line.split("\t", 6)
        contig = fields[2]
        if contig not in records_on:
            continue
        if whole_only[contig]:
            records_on[contig] += 1
            continue
        pos0 = int(fields[3]) - 1
        end0 = reference_end(pos0, int(fields[1]), fields[5])
        for index in by_contig[contig]:
            item = items[index]
            if item.whole_contig or (pos0 < item.end and end0 > item.start):
                counts[index] += 1
    for contig, n_records in records_on.items():
        if whole_only[contig]:
            for index in by_contig[contig]:
                counts[index] += n_records
    return counts


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


def count_single(item, samtools, common, user_expressions, target):
    """Records overlapping the item; for a chunk, minus those that started before it (counted by the
    chunk before). The second call looks at one base only: cheaper than a per-record filter on the chunk."""
    count, error = samtools_count(samtools, common, filter_expression(user_expressions), target, region_string(item))
    if not error and item.mode == "chunk":
        boundary = interval_region(item.contig, item.start, item.start + 1)
        spanning, error = samtools_count(
            samtools, common, filter_expression(user_expressions, starts_before=item.start), target, boundary
        )
        count -= spanning
    if error:
        return Outcome(0, "error", shorten(error))
    return Outcome(count)


def count_batch(items, samtools, common, user_expressions, target, workdir):
    bed_path = os.path.join(workdir, "batch.bed")
    with open(bed_path, "w") as bed:
        for item in items:
            bed.write(f"{item.contig}\t{item.start}\t{item.end}\n")
    command = view_command(samtools, common, filter_expression(user_expressions), ["-M", "-L", bed_path, *target])
    log.debug("running %s", shlex.join(command))
    with tempfile.TemporaryFile("w+", dir=workdir) as stderr_file:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr_file, text=True)
        counts = assign_batch_counts(process.stdout, items)
        process.wait()
        stderr_file.seek(0)
        result = subprocess.CompletedProcess(command, process.returncode, "", stderr_file.read())
    error = check_exit(result, f"{len(items)} batched regions")
    if error:
        return [Outcome(0, "error", shorten(error)) for _ in items]
    return [Outcome(count) for count in counts]


def count_unit(items, samtools, alignments, index, reference, threads, samtools_args, workdir):
    """Outcome of every item, in unit order."""
    user_options, user_expressions = split_user_args(samtools_args)
    common = [*(["-@", str(threads)] if threads > 0 else []), *(["-T", reference] if reference else []), *user_options]
    # htslib's "file##idx##index" form: -X would want region arguments, which a -L batch call has none of.
    target = [f"{alignments}##idx##{index}" if index else alignments]
    outcomes = {}
    batch = [item for item in items if item.mode == "batch"]
    if batch:
        outcomes.update(zip(batch, count_batch(batch, samtools, common, user_expressions, target, workdir)))
        if any(outcomes[item].status != "ok" for item in batch):
            # One bad block fails the whole pass: count each item alone to name exactly the failing ones.
            log.warning(
                "the batch pass failed (%s); counting its %d regions one by one", outcomes[batch[0]].message, len(batch)
            )
            outcomes.update((item, None) for item in batch)
    for item in items:
        if outcomes.get(item) is None:
            outcomes[item] = count_single(item, samtools, common, user_expressions, target)
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
    parser.add_argument("--samtools-args", default="", help="extra samtools view options, e.g. '-F 0x904 -q 20'")
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
    except RetryableFailure as failure:
        log.error("%s", failure)
        return failure.exit_code
    write_results(args.out, items, outcomes)
    failed = sum(outcome.status != "ok" for outcome in outcomes)
    log.info("%d items counted, %d failed", len(items), failed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
