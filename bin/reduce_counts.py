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
from dataclasses import dataclass

from tsv_files import read_tsv, write_lines, write_tsv

log = logging.getLogger("reduce_counts")


@dataclass(slots=True)  # a panel has hundreds of thousands: slots and no list per region keep them cheap
class RegionTally:
    region_id: str
    name: str
    contig: str
    start: int
    end: int
    expected_items: int
    count: int = 0
    seen_items: int = 0
    errors: list | None = None  # samtools' messages, made on the first error


def sample_of_regions_table(path):
    """The sample of a ``<sample>.regions.tsv`` path."""
    name = os.path.basename(path)
    if not name.endswith(REGIONS_SUFFIX) or name == REGIONS_SUFFIX:
        raise ValueError(f"{path}: expected a file named <sample>{REGIONS_SUFFIX}")
    return name[: -len(REGIONS_SUFFIX)]


def tally_regions(region_rows, result_rows):
    """Per-region tallies in region order: summed counts, items seen and errors."""
    tallies = {}
    for row in region_rows:
        tallies[row["region_id"]] = RegionTally(
            row["region_id"], row["name"], row["contig"], int(row["start"]), int(row["end"]), int(row["items"])
        )
    for row in result_rows:
        tally = tallies.get(row["region_id"])
        if tally is None:
            raise ValueError(f"result for unknown region id {row['region_id']}")
        tally.seen_items += 1
        if row["status"] == "ok":
            tally.count += int(row["count"])
        else:
            start, end = int(row["start"]), int(row["end"])
            piece = (start, end) != (tally.start, tally.end)
            where = f"{row['contig']}:{start + 1}-{end}: "
            tally.errors = (tally.errors or []) + [(where if piece else "") + row["message"]]
    return list(tallies.values())


def failures(tallies):
    """One message per failed region: samtools' errors, or the items that never reported."""
    messages = []
    for tally in tallies:
        problems = list(tally.errors or [])
        if tally.seen_items < tally.expected_items:
            problems.append(
                f"{tally.expected_items - tally.seen_items} of {tally.expected_items} work items reported no result"
            )
        elif tally.seen_items > tally.expected_items:
            problems.append(f"counted {tally.seen_items} times instead of {tally.expected_items}")
        if problems:
            messages.append(f"region '{tally.name}': " + "; ".join(problems))
    return messages


def count_file_lines(tallies):
    lines = [f"Region {t.name}: {t.count}" for t in tallies]
    lines.append(f"Total reads: {sum(t.count for t in tallies)}")
    return lines


TABLE_COLUMNS = ["region", "length", "count"]
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


def reduce_sample(sample, region_rows, result_rows, outdir):
    """Write one sample's count files; return its failure report, or None when every region was counted."""
    tallies = tally_regions(region_rows, result_rows)
    sample_dir = os.path.join(outdir, sample)
    count_path = os.path.join(sample_dir, f"{sample}_count.txt")
    table_path = os.path.join(sample_dir, f"{sample}.counts.tsv")
    problems = failures(tallies)
    if problems:
        for path in (count_path, table_path):
            if os.path.exists(path):
                os.remove(path)
        return failure_report(sample, tallies, problems)
    os.makedirs(sample_dir, exist_ok=True)
    write_tsv(table_path, TABLE_COLUMNS, table_rows(tallies))
    write_lines(count_path, count_file_lines(tallies))
    log.info("sample '%s': %d regions, %d reads", sample, len(tallies), sum(t.count for t in tallies))
    return None


def table_rows(tallies):
    return [[t.name, t.end - t.start, t.count] for t in tallies]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regions", nargs="+", required=True, help="<sample>.regions.tsv tables from plan_units.py")
    parser.add_argument("--outdir", default=".")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("results", nargs="*", help="unit result files from count_unit.py")
    return parser.parse_args(argv)


def read_results(paths):
    """Every unit result row, grouped by sample."""
    rows_of = {}
    for path in sorted(paths):
        with open(path) as handle:
            for row in read_tsv(handle):
                rows_of.setdefault(row["sample"], []).append(row)
    return rows_of


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="[%(levelname)s] %(message)s")
    rows_of = read_results(args.results)
    regions_of = {sample_of_regions_table(path): path for path in args.regions}
    unknown = sorted(set(rows_of) - set(regions_of))
    if unknown:
        log.error("results for samples without a regions table: %s", ", ".join(unknown))
        return 1
    reports = []
    for sample in sorted(regions_of):
        with open(regions_of[sample]) as handle:
            report = reduce_sample(sample, read_tsv(handle), rows_of.get(sample, []), args.outdir)
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
