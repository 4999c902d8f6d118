#!/usr/bin/env python3
"""Assemble the work units' results into a sample's per-region counts, or fail loudly.

Reads the regions table written by plan_units.py and every unit result written by count_unit.py.
When every item of every region was counted, writes (each through a temporary name):
- ``<sample>_count.txt``: ``Region <name>: <count>`` per region in order, then ``Total reads: <sum>``;
- ``<sample>.counts.tsv``: ``region``, ``length``, ``count`` per region.
When any item failed or is missing, writes no count file, names every failed region with its samtools
error and exits 1.
"""

import argparse
import logging
import os
import sys
from dataclasses import dataclass, field

from tsv_files import read_tsv, write_lines, write_tsv

log = logging.getLogger("reduce_counts")


@dataclass
class RegionTally:
    region_id: str
    name: str
    contig: str
    start: int
    end: int
    expected_items: int
    count: int = 0
    seen_items: int = 0
    errors: list = field(default_factory=list)


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
            tally.errors.append((where if piece else "") + row["message"])
    return list(tallies.values())


def failures(tallies):
    """One message per failed region: samtools' errors, or the items that never reported."""
    messages = []
    for tally in tallies:
        problems = list(tally.errors)
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


def table_rows(tallies):
    return [[t.name, t.end - t.start, t.count] for t in tallies]


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", required=True)
    parser.add_argument("--regions", required=True, help="regions table from plan_units.py")
    parser.add_argument("--outdir", default=".")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("results", nargs="*", help="unit result files from count_unit.py")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="[%(levelname)s] %(message)s")
    with open(args.regions) as handle:
        region_rows = read_tsv(handle)
    result_rows = []
    for path in sorted(args.results):
        with open(path) as handle:
            result_rows.extend(read_tsv(handle))
    tallies = tally_regions(region_rows, result_rows)
    count_path = os.path.join(args.outdir, f"{args.sample}_count.txt")
    table_path = os.path.join(args.outdir, f"{args.sample}.counts.tsv")
    problems = failures(tallies)
    if problems:
        for path in (count_path, table_path):
            if os.path.exists(path):
                os.remove(path)
        log.error(
            "sample '%s': %d of %d regions failed; no count file written:\n  %s",
            args.sample,
            len(problems),
            len(tallies),
            "\n  ".join(problems),
        )
        return 1
    write_tsv(table_path, TABLE_COLUMNS, table_rows(tallies))
    write_lines(count_path, count_file_lines(tallies))
    log.info("sample '%s': %d regions, %d reads", args.sample, len(tallies), sum(t.count for t in tallies))
    return 0


if __name__ == "__main__":
    sys.exit(main())
