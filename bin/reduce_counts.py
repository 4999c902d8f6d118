#!/usr/bin/env python3
"""Assemble the work units' results of a group of samples into each sample's per-region counts.

Reads the regions tables written by plan_units.py (``<sample>.regions.tsv``, one per sample of the group)
and every unit result written by count_unit.py (task_files.read_results: runs of a sample's counts and item
lines, each naming its sample; an older version's rows too). For each sample whose every item of every region
was counted, writes (each through a temporary name):
- ``<sample>/<sample>_count.txt``: ``Region <name>: <count>`` per region in order, then ``Total reads: <sum>``;
- ``<sample>/<sample>.counts.tsv``: ``region``, ``length``, ``count`` per region.
A sample with any failed or missing item gets no count file: ``failures.txt`` names it and every failed
region with its samtools error (and so does this script's log). One sample's failure never hides another
sample's results, so this script exits 0 when it could read its inputs; the pipeline fails the run on any
line of failures.txt once every sample's results are published (counts_matrix.py). A unit result it cannot
read (a cut or malformed line, a count that is no number, a region past the table) is one line naming the
file, exit 2; results of a sample without a regions table, exit 1.
"""

import argparse
import logging
import os
from array import array

from task_files import (
    FAILURES_FILE,
    REGIONS_SUFFIX,
    RESULT_COLUMNS,
    RegionsTable,
    ResultRun,
    TaskFileError,
    failure_report_text,
    read_results,
    sample_count_paths,
    sample_of,
    write_sample_counts_blocks,
)
from task_script import add_log_options, run_script, start_logging
from tsv_files import write_lines

log = logging.getLogger("reduce_counts")


def regions_tables(paths):
    """{path: RegionsTable}, one RegionsTable per file (paths that are hard links to one file share it)."""
    by_file, tables = {}, {}
    for path in paths:
        status = os.stat(path)
        key = (status.st_dev, status.st_ino)
        if key not in by_file:
            by_file[key] = RegionsTable(path)
        tables[path] = by_file[key]
    return tables


class SampleTally:
    """One sample's per-region tallies, indexed by region order like its RegionsTable."""

    def __init__(self, table):
        self.table = table
        self.expected_items = table.expected_items
        self.errors = {}  # region index -> samtools' messages
        self.seen_items = array("i", [0]) * len(table)
        self.counts = array("q", [0]) * len(table)

    def __len__(self):
        return len(self.table)

    def add(self, region_id, contig, start, end, mode, count, status, message):
        """One item line of a unit result (task_files.RESULT_COLUMNS after the sample) for this sample."""
        index = int(region_id) - 1
        if not 0 <= index < len(self):
            raise ValueError(f"result for unknown region id {region_id}")
        self.seen_items[index] += 1
        if status == "ok":
            self.counts[index] += int(count)
            return
        start, end = int(start), int(end)
        piece = (start, end) != (self.table.starts[index], self.table.ends[index])
        where = f"{contig}:{start + 1}-{end}: "
        self.errors.setdefault(index, []).append((where if piece else "") + message)

    def add_run(self, run):
        """A run of a unit result (task_files.ResultRun): the counts of the regions run.first_id, run.first_id + 1,
        ... once each, set as one slice of the arrays when none of these regions was met before (the usual),
        else added one by one. ValueError naming the first region id past the table."""
        first, n_regions = run.first_id - 1, len(run.counts)
        if first < 0 or first + n_regions > len(self):
            unknown = run.first_id if first < 0 or first >= len(self) else len(self) + 1
            raise ValueError(f"line {run.line}: result for unknown region id {unknown}")
        end = first + n_regions
        if self.seen_items[first:end].count(0) == n_regions:
            self.counts[first:end] = run.counts
            self.seen_items[first:end] = array("i", [1]) * n_regions
            return
        for index, count in zip(range(first, end), run.counts):
            self.seen_items[index] += 1
            self.counts[index] += count

    def regions(self):
        return self.table.rows()


def failures(tally):
    """One message per failed region: samtools' errors, or the items that never reported."""
    messages = []
    for index, name, _ in tally.regions():
        expected, seen = tally.expected_items[index], tally.seen_items[index]
        if expected == seen and index not in tally.errors:
            continue
        problems = list(tally.errors.get(index, []))
        if seen < expected:
            problems.append(f"{expected - seen} of {expected} work items reported no result")
        elif seen > expected:
            problems.append(f"counted {seen} times instead of {expected}")
        messages.append(f"region '{name}': " + "; ".join(problems))
    return messages


def complete(tally):
    return not tally.errors and tally.seen_items == tally.expected_items


# Samples written in one read of their shared regions table: two files open each.
SAMPLES_PER_WRITE = 100


# Failures named on a report's first line, each cut to this many characters: the line the console shows.
HEADLINE_FAILURES = 3
HEADLINE_FAILURE_CHARS = 200


def failure_report(sample, tallies, problems):
    """The count and the first failures on one line (the console shows it, counts_matrix.py), then every
    failed region on an indented line of its own."""
    first = " | ".join(
        p if len(p) <= HEADLINE_FAILURE_CHARS else p[:HEADLINE_FAILURE_CHARS] + " ..."
        for p in problems[:HEADLINE_FAILURES]
    )
    headline = (
        f"sample '{sample}': {len(problems)} of {len(tallies)} regions failed; no count file written; first: {first}"
    )
    return failure_report_text(headline, problems)


def reduce_samples(tallies, outdir):
    """Write the count files of every sample whose regions were all counted (samples of one regions table in
    one read of it) and remove any earlier ones of the others; return the failure reports, in sample order."""
    reports, complete_samples = [], {}
    for sample in sorted(tallies):
        tally = tallies[sample]
        if complete(tally):
            complete_samples.setdefault(id(tally.table), []).append(sample)
            continue
        for path in sample_count_paths(sample, outdir):
            if os.path.exists(path):
                os.remove(path)
        reports.append(failure_report(sample, tally, failures(tally)))
    for samples in complete_samples.values():
        for first in range(0, len(samples), SAMPLES_PER_WRITE):
            batch = samples[first : first + SAMPLES_PER_WRITE]
            for sample in batch:
                os.makedirs(os.path.join(outdir, sample), exist_ok=True)
            outputs = [(tallies[sample].counts, *sample_count_paths(sample, outdir)) for sample in batch]
            write_sample_counts_blocks(tallies[batch[0]].table.line_start_blocks(), outputs)
            for sample in batch:
                log.info("sample '%s': %d regions, %d reads", sample, len(tallies[sample]), sum(tallies[sample].counts))
    return reports


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regions", nargs="+", required=True, help="<sample>.regions.tsv tables from plan_units.py")
    parser.add_argument("--outdir", default=".")
    add_log_options(parser)
    parser.add_argument("results", nargs="*", help="unit result files from count_unit.py")
    return parser.parse_args(argv)


def add_results(paths, tallies):
    """Every unit result into its sample's tally, a file's lines as they come (task_files.read_results): a run of
    a sample's counts as one slice of its arrays, an item line alone (add_result_rows); the samples without a
    tally, sorted. TaskFileError naming the file for a result it cannot add."""
    unknown = set()
    for path in sorted(paths):
        with open(path) as handle:
            try:
                for results in read_results(handle, path):
                    if isinstance(results, ResultRun):
                        tally = tallies.get(results.sample)
                        if tally is None:
                            unknown.add(results.sample)
                        else:
                            tally.add_run(results)
                    else:
                        add_result_rows(results, tallies, unknown)
            except TaskFileError:
                raise
            except (ValueError, OverflowError) as err:  # an id or count SampleTally cannot add
                raise TaskFileError(f"{path}: {err}") from None
    return sorted(unknown)


def add_result_rows(rows, tallies, unknown):
    """Item lines (task_files.RESULT_COLUMNS) one by one. A counted row (status ok, a known region) is added
    here, the others by SampleTally.add."""
    for row in rows:
        tally = tallies.get(row[AT_SAMPLE])
        if tally is None:
            unknown.add(row[AT_SAMPLE])
            continue
        if row[AT_STATUS] == "ok":
            index = int(row[AT_REGION_ID]) - 1
            if 0 <= index < len(tally.counts):
                tally.seen_items[index] += 1
                tally.counts[index] += int(row[AT_COUNT])
                continue
        tally.add(*row[AT_SAMPLE + 1 :])


# Where an item line's fields are (task_files.RESULT_COLUMNS; SampleTally.add takes those after the sample).
AT_SAMPLE, AT_REGION_ID, AT_COUNT, AT_STATUS = map(RESULT_COLUMNS.index, ("sample", "region_id", "count", "status"))


def main(argv=None):
    args = parse_args(argv)
    start_logging(args)
    tables = regions_tables(args.regions)
    tallies = {sample_of(path, REGIONS_SUFFIX): SampleTally(tables[path]) for path in args.regions}
    try:
        unknown = add_results(args.results, tallies)
    except TaskFileError as err:
        log.error("%s", err)
        return 2
    if unknown:
        log.error("results for samples without a regions table: %s", ", ".join(unknown))
        return 1
    reports = reduce_samples(tallies, args.outdir)
    for report in reports:
        log.error("%s", report)
    write_lines(os.path.join(args.outdir, FAILURES_FILE), reports)
    return 0


if __name__ == "__main__":
    run_script(main)
