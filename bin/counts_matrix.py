#!/usr/bin/env python3
"""Join every sample's per-region counts into one matrix, and write MultiQC custom-content files.

Reads ``<sample>.counts.tsv`` files (written by reduce_counts.py: ``region``, ``length``, ``count``) and writes:
- ``counts_matrix.tsv``: header ``region`` then the samples (sorted); one row per region, in the first
  sample's order, then regions only other samples have, in order of first appearance. A region a sample
  has no row for is ``NA`` there. Region names may repeat (BED names): the n-th occurrence in one sample
  is matched with the n-th occurrence in another.
- ``region_counts_mqc.tsv``: a MultiQC bar graph of the reads per region for each sample; only the
  ``--top-regions`` regions with the most reads over all samples are shown, the rest are summed as one
  "other regions" category, so that the plot stays readable with thousands of contigs. A repeated region
  name is one bar per occurrence: the later ones are labelled 'name (2)', 'name (3)', ...
- ``region_counts_general_stats_mqc.tsv``: each sample's total reads, for MultiQC's General Statistics.

It also reads the reducers' ``failures.txt`` files (``--failures``): when any sample failed, it names every
failed sample and region and exits 1 without writing anything. The failed samples' results were never
written and the others' are already published, so the run fails loudly and no matrix looks complete.
"""

import argparse
import gc
import logging
import os
import sys

from tsv_files import write_lines

log = logging.getLogger("counts_matrix")

TABLE_SUFFIX = ".counts.tsv"
TABLE_HEADER = ["region", "length", "count"]
MISSING = "NA"
OTHER = "other regions"


class InputError(Exception):
    """Bad input: the message names the file and the problem."""


def sample_name(path):
    """The sample of a ``<sample>.counts.tsv`` path."""
    name = os.path.basename(path)
    if not name.endswith(TABLE_SUFFIX) or name == TABLE_SUFFIX:
        raise InputError(f"{path}: expected a file named <sample>{TABLE_SUFFIX}")
    return name[: -len(TABLE_SUFFIX)]


def read_counts(lines, path):
    """[(region, count)] from the lines of a counts table, in file order."""
    rows = [line.rstrip("\r\n").split("\t") for line in lines if line.strip()]
    if not rows or rows[0] != TABLE_HEADER:
        raise InputError(f"{path}: expected the header '{chr(9).join(TABLE_HEADER)}'")
    counts = []
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != len(TABLE_HEADER) or not row[2].isdigit():
            raise InputError(f"{path}: line {lineno}: expected region, length and a non-negative integer count")
        counts.append((row[0], int(row[2])))
    return counts


def occurrence_keys(names):
    """(name, n) for the n-th occurrence of each name, so that repeated region names stay apart."""
    seen = {}
    keys = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        keys.append((name, seen[name]))
    return keys


def build_matrix(tables):
    """From {sample: [(region, count)]}: the sorted samples and [(region, {sample: count})] in row order."""
    samples = sorted(tables)
    rows = {}
    for sample in samples:
        for key, (_, count) in zip(occurrence_keys(r for r, _ in tables[sample]), tables[sample]):
            rows.setdefault(key, {})[sample] = count
    return samples, [(name, counts) for (name, _), counts in rows.items()]


def missing_cells(samples, rows):
    return sum(1 for _, counts in rows for sample in samples if sample not in counts)


def matrix_lines(samples, rows):
    lines = ["\t".join(["region", *samples])]
    for region, counts in rows:
        lines.append("\t".join([region, *(str(counts.get(s, MISSING)) for s in samples)]))
    return lines


def sample_totals(samples, rows):
    return {sample: sum(counts.get(sample, 0) for _, counts in rows) for sample in samples}


def unique_labels(names):
    """Names made unique, for plot categories (MultiQC merges categories of the same name): the n-th
    occurrence of a repeated name becomes 'name (n)', or 'name (n+1)', ... when that is itself a name."""
    taken = set(names)
    seen = {}
    labels = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        label, n = name, seen[name]
        if n > 1:
            while (label := f"{name} ({n})") in taken:
                n += 1
            taken.add(label)
        labels.append(label)
    return labels


def plot_categories(samples, rows, top):
    """The `top` regions with most reads over all samples (in row order), then the rest summed as one.
    Labels are unique, numbered by occurrence over all rows, so 'name (2)' is the matrix's second 'name'."""
    labels = unique_labels([name for name, _ in rows])
    totals = [sum(counts.values()) for _, counts in rows]
    ranked = sorted(range(len(rows)), key=lambda i: (-totals[i], i))
    shown = sorted(ranked[:top])
    categories = [(labels[i], rows[i][1]) for i in shown]
    rest = ranked[top:]
    if rest:
        other = {sample: sum(rows[i][1].get(sample, 0) for i in rest) for sample in samples}
        categories.append((unique_labels([*labels, f"{OTHER} ({len(rest)})"])[-1], other))
    return categories


def quoted(text):
    """A header cell MultiQC reads as text even when it looks like a number (contigs '1', '2', ...)."""
    return f'"{text}"'


def bargraph_lines(samples, categories, n_regions, top):
    shown = f"the {top} regions with most reads; the other {n_regions - top} summed" if n_regions > top else ""
    description = "Reads counted per region (samtools view -c)" + (f": {shown}." if shown else ".")
    header = [
        "# id: 'region_counts'",
        "# section_name: 'Reads per region'",
        f"# description: '{description}'",
        "# plot_type: 'bargraph'",
        "# file_format: 'tsv'",
        "# pconfig:",
        "#     id: 'region_counts_plot'",
        "#     title: 'regioncount: reads per region'",
        "#     ylab: 'Reads'",
        "#     cpswitch_counts_label: 'Reads'",
    ]
    lines = header + ["\t".join(["Sample", *(quoted(name) for name, _ in categories)])]
    for sample in samples:
        lines.append("\t".join([sample, *(str(counts.get(sample, 0)) for _, counts in categories)]))
    return lines


def general_stats_lines(samples, totals):
    header = [
        "# id: 'region_counts_general_stats'",
        "# plot_type: 'generalstats'",
        "# file_format: 'tsv'",
        "# headers:",
        "#     total_reads:",
        "#         title: 'Reads counted'",
        "#         description: 'Reads counted over all regions (sum of the per-region counts)'",
        "#         format: '{:,.0f}'",
        "#         scale: 'Blues'",
    ]
    return header + ["Sample\ttotal_reads"] + [f"{sample}\t{totals[sample]}" for sample in samples]


def read_failures(path):
    """The failure reports of a failures.txt: one report per sample, its region lines indented under it."""
    with open(path) as handle:
        text = handle.read()
    reports = []
    for line in text.splitlines():
        if line.startswith("  ") and reports:
            reports[-1] += "\n" + line
        elif line.strip():
            reports.append(line)
    return reports


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tables", nargs="*", help="<sample>.counts.tsv files from reduce_counts.py")
    parser.add_argument("--failures", nargs="*", default=[], help="failures.txt files from reduce_counts.py")
    parser.add_argument("--outdir", default=".")
    parser.add_argument("--top-regions", type=int, default=24, help="regions shown one by one in the bar graph")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="[%(levelname)s] %(message)s")
    reports = [line for path in sorted(args.failures) for line in read_failures(path)]
    if reports:
        log.error("%d sample(s) failed; no counts_matrix.tsv written:\n%s", len(reports), "\n".join(reports))
        return 1
    if not args.tables:
        log.error("no counts tables given")
        return 1
    try:
        tables = {}
        for path in args.tables:
            sample = sample_name(path)
            if sample in tables:
                raise InputError(f"{path}: sample '{sample}' is given twice")
            with open(path) as handle:
                tables[sample] = read_counts(handle, path)
    except (InputError, OSError) as error:
        log.error("%s", error)
        return 1
    samples, rows = build_matrix(tables)
    if missing := missing_cells(samples, rows):
        log.warning(
            "%d region/sample pairs have no count (the samples have different regions): written as %s", missing, MISSING
        )
    totals = sample_totals(samples, rows)
    write_lines(os.path.join(args.outdir, "counts_matrix.tsv"), matrix_lines(samples, rows))
    write_lines(
        os.path.join(args.outdir, "region_counts_mqc.tsv"),
        bargraph_lines(samples, plot_categories(samples, rows, args.top_regions), len(rows), args.top_regions),
    )
    write_lines(os.path.join(args.outdir, "region_counts_general_stats_mqc.tsv"), general_stats_lines(samples, totals))
    log.info("%d samples, %d regions, %d reads", len(samples), len(rows), sum(totals.values()))
    return 0


if __name__ == "__main__":
    # Rows and items hold no reference cycles: the cyclic collector would only walk a panel's hundreds of
    # thousands of them again and again (half the planning time of 200,000 regions).
    gc.disable()
    sys.exit(main())
