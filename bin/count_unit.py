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
  items by one ``samtools view -M -L <bed>`` pass, or ``-L <bed>`` over a span per contig (always for a CRAM:
  count_modes.stream_spans) (the BED's regions merged across gaps expected to hold few records:
  merged_intervals), records assigned to the items they overlap with
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
import logging
import os

import samtools_options
from task_files import TaskFileError, read_samples, read_unit, write_results
from task_script import add_log_options, run_script, start_logging
from unit_counting import counted_blocks, counting, missing_samples_problem

log = logging.getLogger("count_unit")


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
    parser.add_argument(
        "--index-statistics",
        help="index_statistics.tsv written by plan_units.py: the samples' records per contig, instead of asking "
        "`samtools idxstats` once per sample",
    )
    parser.add_argument("--samtools", default="samtools", help="samtools executable")
    parser.add_argument("--out", required=True, help="result TSV")
    add_log_options(parser)
    return parser.parse_args(argv)


def read_table(path, read):
    """`read` applied to the lines of a TSV file; a file that cannot be read is a TaskFileError."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            return read(handle, path)
    except OSError as err:
        raise TaskFileError(f"{path}: cannot read: {err.strerror or err}") from None


def main(argv=None):
    args = parse_args(argv)
    start_logging(args)
    try:
        samples = read_table(args.samples, read_samples)
        items = read_table(args.unit, read_unit)
        missing_samples_problem(items, samples)
        workdir = os.path.dirname(os.path.abspath(args.out))
        how = counting(args.samtools, args.reference, args.threads, args.samtools_args, workdir, args.index_statistics)
        n_items, failed, n_samples = write_results(args.out, counted_blocks(items, samples, how))
    except TaskFileError as err:
        log.error("%s", err)
        return 2
    except (samtools_options.SamtoolsArgsError, samtools_options.SamtoolsKilled) as err:
        log.error("%s", err)
        return err.exit_code
    except FileNotFoundError as err:
        if err.filename != args.samtools:
            raise
        log.error("%s", samtools_missing_message(args.samtools))
        return SAMTOOLS_MISSING_EXIT_CODE
    log.info("%d items of %d samples counted, %d failed", n_items, n_samples, failed)
    return 0


if __name__ == "__main__":
    run_script(main)
