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
import collections
import itertools
import logging
import os
import re

from task_files import (
    COUNTS_TABLE_COLUMNS,
    COUNTS_TABLE_SUFFIX,
    TaskFileError,
    count_values,
    counts_table_blocks,
    counts_table_rows,
    read_failures,
    sample_of,
)
from task_script import add_log_options, run_script, start_logging
from task_warnings import lengths_described
from tsv_files import BLOCK_CHARS, text_blocks, write_lines

log = logging.getLogger("counts_matrix")

MISSING = "NA"
OTHER = "other regions"


def sample_name(path):
    """The sample of a ``<sample>.counts.tsv`` path."""
    return sample_of(path, COUNTS_TABLE_SUFFIX)


def read_counts(lines, path):
    """[(region, count, length)] from the lines of a counts table, in file order."""
    return [(name, count, int(length)) for name, length, count in counts_table_rows(lines, path)]


def occurrence_keys(names):
    """(name, n) for the n-th occurrence of each name, so that repeated region names stay apart."""
    seen = {}
    keys = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        keys.append((name, seen[name]))
    return keys


def build_matrix(tables):
    """From {sample: [(region, count[, length])]}: the sorted samples and [(label, {sample: count})] in row
    order. A row is a region name and length: samples on references of different lengths (chr1 of 100 kb
    and of 120 kb) get rows of their own, labelled 'name (length bp)' (length_conflicts)."""
    samples = sorted(tables)
    rows = {}
    for sample in samples:
        named = [(name, rest[1] if len(rest) > 1 else None) for name, *rest in tables[sample]]
        for (key, n), (_, count, *_) in zip(occurrence_keys(named), tables[sample]):
            rows.setdefault((*key, n), {})[sample] = count
    conflicts = length_conflicts(tables)
    return samples, [
        (f"{name} ({length} bp)" if name in conflicts else name, counts) for (name, length, _), counts in rows.items()
    ]


def length_conflicts(tables):
    """{region name: {length: [samples]}} for the names whose lengths differ between samples (each sample's
    lengths of a name, repeats included, compared as a whole): samples of different references."""
    lengths_of = {}
    for sample in sorted(tables):
        per_name = {}
        for name, *rest in tables[sample]:
            per_name.setdefault(name, []).append(rest[1] if len(rest) > 1 else None)
        for name, lengths in per_name.items():
            lengths_of.setdefault(name, {}).setdefault(tuple(sorted(lengths, key=str)), []).append(sample)
    conflicts = {}
    for name, by_lengths in lengths_of.items():
        if len(by_lengths) > 1:
            conflicts[name] = {
                ", ".join(str(length) for length in lengths): samples for lengths, samples in by_lengths.items()
            }
    return conflicts


def conflicts_warning(conflicts, shown=3):
    """One line naming the regions whose lengths differ and the samples of each length, or None."""
    if not conflicts:
        return None
    return (
        f"samples on different references: {len(conflicts)} region name(s) have other lengths in other samples: "
        + lengths_described(conflicts, shown)
        + ": counts_matrix.tsv keeps them apart as 'name (length bp)'"
    )


def missing_warning(samples, rows, shown=3):
    """One line: how many region/sample pairs have no count, and which samples lack which regions; or None."""
    lacking = {sample: [label for label, counts in rows if sample not in counts] for sample in samples}
    lacking = {sample: labels for sample, labels in lacking.items() if labels}
    if not lacking:
        return None
    described = [
        f"{sample} lacks {len(labels)} (first: '{labels[0]}')"
        for sample, labels in itertools.islice(lacking.items(), shown)
    ]
    more = f"; and {len(lacking) - shown} more samples" if len(lacking) > shown else ""
    missing = sum(len(labels) for labels in lacking.values())
    return (
        f"{missing} region/sample pairs have no count (the samples have different regions), written as {MISSING}: "
        + "; ".join(described)
        + more
    )


def matrix_lines(samples, rows):
    lines = ["\t".join(["region", *samples])]
    for region, counts in rows:
        lines.append("\t".join([region, *(str(counts.get(s, MISSING)) for s in samples)]))
    return lines


def sample_totals(samples, rows):
    return {sample: sum(counts.get(sample, 0) for _, counts in rows) for sample in samples}


class Labeler:
    """Unique plot labels, one name at a time (MultiQC merges categories of the same name): the n-th occurrence
    of a repeated name becomes 'name (n)', or 'name (n+1)', ... when that is itself a name (`taken`: every name)."""

    def __init__(self, taken):
        self.taken = set(taken)
        self.seen = {}

    def label(self, name):
        n = self.seen.get(name, 0) + 1
        self.seen[name] = n
        label = name
        if n > 1:
            while (label := f"{name} ({n})") in self.taken:
                n += 1
            self.taken.add(label)
            self.seen[label] = self.seen.get(label, 0) + 1  # a later name equal to it (OTHER's) is numbered
        return label


def unique_labels(names):
    """Names made unique, for plot categories (Labeler)."""
    labeler = Labeler(names)
    return [labeler.label(name) for name in names]


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


class NotAligned(Exception):
    """The tables do not list the same regions (names and lengths) in the same order."""


class TableRows:
    """A counts table's rows (counts_table_blocks), taken a number at a time by aligned_blocks."""

    def __init__(self, blocks):
        self.blocks = blocks
        self.block, self.taken = None, 0
        self.error, self.ended = None, False

    def available(self):
        """How many rows are read and not taken, reading the next block when none is: 0 at the table's end or
        at a row it refuses (`error`)."""
        while (self.block is None or self.taken == len(self.block.names)) and not (self.error or self.ended):
            block = next(self.blocks, None)
            if block is None:
                self.ended = True
            elif isinstance(block, TaskFileError):
                self.error = block
            else:
                self.block, self.taken = block, 0
        return 0 if self.block is None else len(self.block.names) - self.taken

    def take(self, n_rows):
        """The next n_rows rows (at most available()) as a CountsBlock of slices."""
        first, self.taken = self.taken, self.taken + n_rows
        return type(self.block)(*(column[first : self.taken] for column in self.block))


def aligned_blocks(paths):
    """(names, [counts per table], [count texts per table]) of blocks of rows of tables that list the same
    regions and lengths in the same order, read in step. As the tables were read one row of each at a time: at
    the first row that differs, NotAligned (after the rows before it); at the first row a table refuses, that
    table's TaskFileError (the first such table's, in order)."""
    handles = [open(path) for path in paths]
    block_chars = max(MIN_BLOCK_CHARS, BLOCK_CHARS // len(paths))  # the blocks of all tables in ~BLOCK_CHARS
    try:
        tables = [TableRows(counts_table_blocks(handle, path, block_chars)) for handle, path in zip(handles, paths)]
        while True:
            n_rows = min(table.available() for table in tables)
            if n_rows == 0:
                end_in_step(tables)
                return
            blocks = [table.take(n_rows) for table in tables]
            n_same = rows_in_step(blocks)
            if n_same:
                counts = [block.counts[:n_same] for block in blocks]
                yield blocks[0].names[:n_same], counts, [block.count_texts[:n_same] for block in blocks]
            if n_same < n_rows:
                raise NotAligned()
    finally:
        for handle in handles:
            handle.close()


# Each table's blocks hold at least this many characters (~400 rows), however many tables are read in step.
MIN_BLOCK_CHARS = 1 << 12


def end_in_step(tables):
    """At a row that some table lacks: the first refused row's error, NotAligned unless every table ended."""
    for table in tables:
        if table.error:
            raise table.error
    if not all(table.ended for table in tables):
        raise NotAligned()


def rows_in_step(blocks):
    """How many first rows of the blocks (as many rows each) have the same name and length in every block."""
    names, lengths = blocks[0].names, blocks[0].lengths
    if all(block.names == names and block.lengths == lengths for block in blocks[1:]):
        return len(names)
    return next(
        row
        for row in range(len(names))
        if any(block.names[row] != names[row] or block.lengths[row] != lengths[row] for block in blocks[1:])
    )


class NotRegular(Exception):
    """A table that checked_blocks does not vouch for: aligned_blocks reads the tables again."""


def checked_blocks(paths):
    """aligned_blocks' blocks of tables that list the same regions and lengths in the same order, each row with a
    plain count, read for less: the first table by counts_table_blocks (its rows checked), each other one as
    lines cut to their counts by the first table's beginnings of the same lines (FollowerLines): a split per line,
    not three, and no name or length compared. NotRegular at anything else (a row that differs or is refused,
    a blank line, a table longer or shorter than the first): aligned_blocks then reads the tables again and
    tells what it is, as it always did."""
    handles = [open(path) for path in paths]
    block_chars = max(MIN_BLOCK_CHARS, BLOCK_CHARS // len(paths))  # the blocks of all tables in ~BLOCK_CHARS
    try:
        first = TableRows(counts_table_blocks(handles[0], paths[0], block_chars))
        others = [FollowerLines(handle, block_chars) for handle in handles[1:]]
        while True:
            n_rows = min([first.available(), *(table.available() for table in others)])
            if n_rows == 0:
                if first.error or not first.ended or any(table.available() for table in others):
                    raise NotRegular()
                return
            block = first.take(n_rows)
            starts = line_starts(block.names, block.lengths)
            counted = [(block.counts, block.count_texts), *(table.take(starts) for table in others)]
            yield block.names, [counts for counts, _ in counted], [texts for _, texts in counted]
    finally:
        for handle in handles:
            handle.close()


def line_starts(names, lengths):
    """`<name>\t<length>\t` of each row (one or more): the beginning of its line in a counts table. Joined and split
    again in C (names and lengths hold no tab and no line break)."""
    fields = ["\n"] * (3 * len(names) - 1)  # name, length, then a line break before the next name
    fields[::3], fields[1::3] = names, lengths
    return ("\t".join(fields) + "\t").split("\n\t")


COUNTS_TABLE_HEADER = "\t".join(COUNTS_TABLE_COLUMNS) + "\n"


class FollowerLines:
    """A counts table after the first of aligned tables, read as lines, each cut to its count by the first
    table's beginning of the same line (take)."""

    def __init__(self, handle, block_chars):
        if handle.readline() != COUNTS_TABLE_HEADER:
            raise NotRegular()
        self.blocks = text_blocks(handle, block_chars)
        self.lines, self.taken = [], 0

    def available(self):
        """How many lines are read and not taken, reading the next block when none is: 0 at the table's end."""
        while self.taken == len(self.lines):
            text = next(self.blocks, None)
            if text is None:
                return 0
            self.lines, self.taken = text.split("\n"), 0
            if not self.lines[-1]:
                self.lines.pop()  # after the block's last line break
        return len(self.lines) - self.taken

    def take(self, starts):
        """(counts, count texts) of the next len(starts) lines (at most available()); NotRegular unless each line
        is its start and a plain number."""
        first, self.taken = self.taken, self.taken + len(starts)
        lines = self.lines[first : self.taken]
        counted = count_values(list(map(str.removeprefix, lines, starts)))
        # A line that does not begin with its start is kept whole by removeprefix: a plain number only when it
        # holds no tab, where one that does holds its start's two (a name and a length hold none).
        if counted is None or "".join(lines).count("\t") != 2 * len(lines):
            raise NotRegular()
        return counted


def region_names(path):
    """The region names of a counts table (its first column below the header), unchecked: a table that is not
    one fails counts_table_rows when read in full."""
    with open(path) as handle:
        next(handle, None)
        return {line.split("\t", 1)[0] for line in handle if line.strip()}


# A region name that a numbered plot label ('name (2)') could be, followed by its tab: then Labeler's choices
# depend on every name, and the labels are made one row at a time (RowLabels).
NUMBERED_NAME = re.compile(r" \([0-9]+\)\t")


def plot_labels(path):
    """The plot labels of the rows of aligned tables, `path` the first: OccurrenceLabels, or RowLabels when a
    line of the table could hold a numbered name."""
    with open(path) as handle:
        numbered = any(" (" in text and NUMBERED_NAME.search(text) for text in text_blocks(handle))
    return RowLabels(region_names(path)) if numbered else OccurrenceLabels()


class RowLabels:
    """Labeler's label of every row, a block at a time."""

    def __init__(self, taken):
        self.labeler = Labeler(taken)
        self.labels = []

    def next_block(self, names):
        self.labels = [self.labeler.label(name) for name in names]

    def label(self, row):
        """The label of the row-th row of the block."""
        return self.labels[row]

    def other(self, rest):
        return self.labeler.label(f"{OTHER} ({rest})")


class OccurrenceLabels:
    """Labeler's labels when no region name is a numbered label ('name (n)'): the n-th occurrence of a name is
    'name (n)', and nothing else is numbered. Names are counted a block at a time (in C); only the rows asked
    for (the top regions) are labelled."""

    def __init__(self):
        self.seen = collections.Counter()  # occurrences of each name in the blocks before
        self.names = []

    def next_block(self, names):
        self.seen.update(self.names)
        self.names = names

    def label(self, row):
        """The label of the row-th row of the block."""
        name = self.names[row]
        n = self.seen[name] + self.names[:row].count(name) + 1
        return name if n == 1 else f"{name} ({n})"

    def other(self, rest):
        """The label of the other regions, after the last block: numbered when it was a region's label."""
        self.next_block([])
        label = f"{OTHER} ({rest})"
        return f"{label} (2)" if 2 <= rest <= self.seen[OTHER] else label


class TopRows:
    """The `top` rows with most reads over all samples (ties: the earlier row), offered a block at a time."""

    def __init__(self, top):
        self.top = top
        self.rows = []  # (total, row, label, counts), best first

    def offer(self, first_row, totals, labels, counts):
        """A block's rows: their totals, labels (RowLabels or OccurrenceLabels) and counts (a list per sample).
        Once `top` rows are kept, only rows with more reads than the least of them can enter (found in C)."""
        if self.top <= 0:
            return
        candidates = range(len(totals))
        if len(self.rows) == self.top:
            candidates = itertools.compress(candidates, map(self.rows[-1][0].__lt__, totals))
        best = sorted(candidates, key=totals.__getitem__, reverse=True)[: self.top]  # stable: earlier rows first
        entered = [(totals[i], first_row + i, labels.label(i), [column[i] for column in counts]) for i in best]
        self.rows = sorted(self.rows + entered, key=lambda row: (-row[0], row[1]))[: self.top]

    def in_row_order(self):
        return sorted(self.rows, key=lambda row: row[1])


def stream_matrix(samples, paths, outdir, top):
    """The matrix and MultiQC files of tables that list the same regions in the same order, written as they are
    read (write_streamed): read by checked_blocks, or, at a table it does not vouch for, again by aligned_blocks
    (then, when they differ, NotAligned; a table's error as it always was). Returns the totals per sample and the
    number of regions."""
    if len(paths) > 1:
        try:
            return write_streamed(samples, paths, outdir, top, checked_blocks(paths))
        except (NotRegular, UnicodeDecodeError):
            pass  # the files are written again from the start: none was put in place
    return write_streamed(samples, paths, outdir, top, aligned_blocks(paths))


def write_streamed(samples, paths, outdir, top, blocks):
    """The matrix and MultiQC files of the blocks of aligned tables (aligned_blocks or checked_blocks), written as
    they are read, a block of rows at a time: memory holds the region names' counts (for plot labels) and the
    top regions, not the counts (a 200,000 x 16 matrix). Returns the totals per sample and the number of
    regions; the blocks' exception otherwise (then no file is put in place: write_lines renames only a complete
    file)."""
    labels = plot_labels(paths[0])  # aligned tables share the names; aligned_blocks checks as it writes
    totals = [0] * len(samples)
    shown = TopRows(top)
    n_regions = 0

    def matrix():
        nonlocal n_regions
        yield "\t".join(["region", *samples])
        for names, counts, count_texts in blocks:
            labels.next_block(names)
            row_totals = counts[0] if len(counts) == 1 else list(map(sum, zip(*counts)))
            shown.offer(n_regions, row_totals, labels, counts)
            for i, column in enumerate(counts):
                totals[i] += sum(column)
            n_regions += len(names)
            yield "\n".join(map("\t".join, zip(names, *count_texts)))

    write_lines(os.path.join(outdir, "counts_matrix.tsv"), matrix())
    categories = [(label, dict(zip(samples, counts))) for _, _, label, counts in shown.in_row_order()]
    rest = n_regions - len(categories)
    if rest:
        shown_sums = [sum(c[sample] for _, c in categories) for sample in samples]
        other = {sample: total - shown_sum for sample, total, shown_sum in zip(samples, totals, shown_sums)}
        categories.append((labels.other(rest), other))
    write_lines(os.path.join(outdir, "region_counts_mqc.tsv"), bargraph_lines(samples, categories, n_regions, top))
    return dict(zip(samples, totals)), n_regions


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tables", nargs="*", help="<sample>.counts.tsv files from reduce_counts.py")
    parser.add_argument("--failures", nargs="*", default=[], help="failures.txt files from reduce_counts.py")
    parser.add_argument("--outdir", default=".")
    parser.add_argument("--top-regions", type=int, default=24, help="regions shown one by one in the bar graph")
    add_log_options(parser, warnings=True)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    start_logging(args)
    reports = [line for path in sorted(args.failures) for line in read_failures(path)]
    if reports:
        # Each report's first line (its count and first failures) only: Nextflow shows the end of a failed
        # task's error output, which a list of every failed region would fill.
        headlines = "\n".join(report.split("\n", 1)[0] for report in reports)
        log.error(
            "%d sample(s) failed; no counts_matrix.tsv written (every failed region: failures/ in the work dir "
            "below):\n%s",
            len(reports), headlines,
        )  # fmt: skip
        return 1
    if not args.tables:
        log.error("no counts tables given")
        return 1
    try:
        path_of = {}
        for path in args.tables:
            sample = sample_name(path)
            if sample in path_of:
                raise TaskFileError(f"{path}: sample '{sample}' is given twice")
            path_of[sample] = path
        samples = sorted(path_of)
        # Samples of one BED (or one reference) list the same regions: streamed, whatever the panel's size.
        totals, n_regions = stream_matrix(samples, [path_of[s] for s in samples], args.outdir, args.top_regions)
    except NotAligned:
        totals = None
    except (TaskFileError, OSError) as error:
        log.error("%s", error)
        return 1
    if totals is None:
        return joined_matrix(path_of, args)
    write_lines(os.path.join(args.outdir, "region_counts_general_stats_mqc.tsv"), general_stats_lines(samples, totals))
    log.info("%d samples, %d regions, %d reads", len(samples), n_regions, sum(totals.values()))
    return 0


def joined_matrix(path_of, args):
    """The matrix of samples whose regions differ (other BEDs, other references): joined in memory."""
    try:
        tables = {}
        for sample, path in path_of.items():
            with open(path) as handle:
                tables[sample] = read_counts(handle, path)
    except (TaskFileError, OSError) as error:
        log.error("%s", error)
        return 1
    samples, rows = build_matrix(tables)
    for warning in (conflicts_warning(length_conflicts(tables)), missing_warning(samples, rows)):
        if warning:
            log.warning("%s", warning)
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
    run_script(main)
