#!/usr/bin/env python3
"""Assemble the work units' results of a group of samples into each sample's per-region counts.

Reads the regions tables written by plan_units.py (``<sample>.regions.tsv``, one per sample of the group)
and every unit result written by count_unit.py (rows name their sample). For each sample whose every
item of every region was counted, writes (each through a temporary name):
- ``<sample>/<sample>_count.txt``: ``Region <name>: <count>`` per region in order, then ``Total reads: <sum>``;
- ``<sample>/<sample>.counts.tsv``: ``region``, ``length``, ``count`` per region.
A sample with any failed or missing item gets no count file: ``failures.txt`` names it and every failed
region with its samtools error (and so does this script's log). One sample's failure never hides another
sample's results, so this script exits 0 when it could read its inputs; the pipeline fails the run on any
line of failures.txt once every sample's results are published (counts_matrix.py).
"""

import argparse
import gc
import logging
import os
import sys
from array import array

from tsv_files import iter_columns, write_lines

log = logging.getLogger("reduce_counts")


class SampleTally:
    """One sample's per-region tallies as flat arrays indexed by region order (region_id 1, 2, ...): a panel's
    1,000,000 regions take ~40 MB here, where a Python object per region took 1.7 GB. Names are not kept:
    the regions table is read again when the files are written."""

    def __init__(self, regions_path):
        self.regions_path = regions_path
        self.expected_items, self.starts, self.ends = array("i"), array("q"), array("q")
        self.errors = {}  # region index -> samtools' messages
        with open(regions_path) as handle:
            rows = iter_columns(handle, ["region_id", "items", "start", "end"], regions_path)
            for number, (region_id, items, start, end) in enumerate(rows, start=1):
                if int(region_id) != number:
                    raise ValueError(f"{regions_path}: region ids must be 1, 2, ... in order (row {number})")
                self.expected_items.append(int(items))
                self.starts.append(int(start))
                self.ends.append(int(end))
        n_regions = len(self.expected_items)
        self.seen_items = array("i", [0]) * n_regions
        self.counts = array("q", [0]) * n_regions

    def __len__(self):
        return len(self.expected_items)

    def add(self, region_id, contig, start, end, count, status, message):
        """One result row of a unit (count_unit.py, RESULT_FIELDS) for this sample."""
        index = int(region_id) - 1
        if not 0 <= index < len(self):
            raise ValueError(f"result for unknown region id {region_id}")
        self.seen_items[index] += 1
        if status == "ok":
            self.counts[index] += int(count)
            return
        start, end = int(start), int(end)
        piece = (start, end) != (self.starts[index], self.ends[index])
        where = f"{contig}:{start + 1}-{end}: "
        self.errors.setdefault(index, []).append((where if piece else "") + message)

    def regions(self):
        """(index, name, length text) of every region, in order, from the regions table."""
        with open(self.regions_path) as handle:
            for index, (name, length) in enumerate(iter_columns(handle, ["name", "length"], self.regions_path)):
                yield index, name, length


def sample_of_regions_table(path):
    """The sample of a ``<sample>.regions.tsv`` path."""
    name = os.path.basename(path)
    if not name.endswith(REGIONS_SUFFIX) or name == REGIONS_SUFFIX:
        raise ValueError(f"{path}: expected a file named <sample>{REGIONS_SUFFIX}")
    return name[: -len(REGIONS_SUFFIX)]


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


def write_sample_files(tally, count_path, table_path):
    """The count file and the table, in one read of the regions table, each through a temporary name; the
    count file is put in place last, so that it is there only when both are complete."""
    tmp_count, tmp_table = f"{count_path}.tmp", f"{table_path}.tmp"
    with open(tmp_count, "w") as count_file, open(tmp_table, "w") as table_file:
        table_file.write("\t".join(TABLE_COLUMNS) + "\n")
        counts = tally.counts
        for index, name, length in tally.regions():
            count = counts[index]
            count_file.write(f"Region {name}: {count}\n")
            table_file.write(f"{name}\t{length}\t{count}\n")
        count_file.write(f"Total reads: {sum(counts)}\n")
    os.replace(tmp_table, table_path)
    os.replace(tmp_count, count_path)


TABLE_COLUMNS = ["region", "length", "count"]
# The columns of a unit result (count_unit.py) the reducer reads: the sample, then SampleTally.add's arguments.
RESULT_FIELDS = ["sample", "region_id", "contig", "start", "end", "count", "status", "message"]
REGIONS_SUFFIX = ".regions.tsv"
FAILURES_FILE = "failures.txt"


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
    return headline + "\n  " + "\n  ".join(problems)


def reduce_sample(sample, tally, outdir):
    """Write one sample's count files; return its failure report, or None when every region was counted."""
    sample_dir = os.path.join(outdir, sample)
    count_path = os.path.join(sample_dir, f"{sample}_count.txt")
    table_path = os.path.join(sample_dir, f"{sample}.counts.tsv")
    if not complete(tally):
        for path in (count_path, table_path):
            if os.path.exists(path):
                os.remove(path)
        return failure_report(sample, tally, failures(tally))
    os.makedirs(sample_dir, exist_ok=True)
    write_sample_files(tally, count_path, table_path)
    log.info("sample '%s': %d regions, %d reads", sample, len(tally), sum(tally.counts))
    return None


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regions", nargs="+", required=True, help="<sample>.regions.tsv tables from plan_units.py")
    parser.add_argument("--outdir", default=".")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("results", nargs="*", help="unit result files from count_unit.py")
    return parser.parse_args(argv)


def add_results(paths, tallies):
    """Every unit result row into its sample's tally, streamed; the samples without a tally, sorted."""
    unknown = set()
    for path in sorted(paths):
        with open(path) as handle:
            for sample, *fields in iter_columns(handle, RESULT_FIELDS, path):
                tally = tallies.get(sample)
                if tally is None:
                    unknown.add(sample)
                else:
                    tally.add(*fields)
    return sorted(unknown)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="[%(levelname)s] %(message)s")
    tallies = {sample_of_regions_table(path): SampleTally(path) for path in args.regions}
    unknown = add_results(args.results, tallies)
    if unknown:
        log.error("results for samples without a regions table: %s", ", ".join(unknown))
        return 1
    reports = []
    for sample in sorted(tallies):
        report = reduce_sample(sample, tallies[sample], args.outdir)
        if report:
            log.error("%s", report)
            reports.append(report)
    write_lines(os.path.join(args.outdir, FAILURES_FILE), reports)
    return 0


if __name__ == "__main__":
    # Rows and items hold no reference cycles: the cyclic collector would only walk a panel's hundreds of
    # thousands of them again and again (half the planning time of 200,000 regions).
    gc.disable()
    sys.exit(main())
