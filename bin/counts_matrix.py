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

Memory grows with the regions and the samples, never with their product. Tables that list the same regions in
the same order (one BED, one reference) are read in step and written as read (stream_matrix). Others (samples of
other references, other BEDs) are joined (joined_matrix): each table in turn adds its new regions to the rows of
the union (one compact entry per row) and writes its counts as a column of 8-byte integers to an unnamed
temporary file of the output folder; the files are then written a block of rows at a time from the columns.

It also reads the reducers' ``failures.txt`` files (``--failures``): when any sample failed, it names every
failed sample and region and exits 1 without writing anything. The failed samples' results were never
written and the others' are already published, so the run fails loudly and no matrix looks complete.
"""

import argparse
import array
import collections
import itertools
import logging
import os
import re
import tempfile

from task_files import (
    COUNT_TEXTS,
    COUNTS_TABLE_COLUMNS,
    COUNTS_TABLE_SUFFIX,
    TaskFileError,
    count_values,
    counts_table_blocks,
    read_failures,
    sample_of,
)
from task_script import add_log_options, run_script, start_logging
from task_warnings import lengths_described
from tsv_files import BLOCK_CHARS, small_numbers, text_blocks, write_lines

log = logging.getLogger("counts_matrix")

MISSING = "NA"
OTHER = "other regions"


def sample_name(path):
    """The sample of a ``<sample>.counts.tsv`` path."""
    return sample_of(path, COUNTS_TABLE_SUFFIX)


def build_matrix(tables):
    """From {sample: [(region, count[, length])]}: the sorted samples and [(label, {sample: count})] in row order,
    joined in memory as joined_matrix joins files (RegionRows, count_column, conflicting_names, row_labels)."""
    samples = sorted(tables)
    regions = RegionRows()
    columns = []
    for sample in samples:
        names = [name for name, *_ in tables[sample]]
        lengths = [rest[1] if len(rest) > 1 else NO_LENGTH for _, *rest in tables[sample]]
        columns.append(count_column(regions, [(names, lengths, [count for _, count, *_ in tables[sample]])]))
    conflicts = conflicting_names(regions, samples, [column for column, _ in columns])
    labels = row_labels(regions, conflicts, 0, len(regions.names))
    counts = [column_counts(column, large, 0) for column, large in columns]
    return samples, [
        (
            label,
            {
                sample: column[row]
                for sample, column in zip(samples, counts)
                if row < len(column) and column[row] != MISSING_COUNT
            },
        )
        for row, label in enumerate(labels)
    ]


def conflicts_warning(conflicts, shown=3):
    """One line naming the regions whose lengths differ and the samples of each length, or None. `conflicts`:
    conflicting_names' {name: {lengths: [samples]}} (the first `shown` described, the others None)."""
    if not conflicts:
        return None
    return (
        f"samples on different references: {len(conflicts)} region name(s) have other lengths in other samples: "
        + lengths_described(conflicts, shown)
        + ": counts_matrix.tsv keeps them apart as 'name (length bp)'"
    )


def missing_warning(lacking, shown=3):
    """One line: how many region/sample pairs have no count, and which samples lack which regions; or None.
    `lacking`: {sample: (how many rows it lacks, the label of the first)} of the samples that lack any, in order."""
    if not lacking:
        return None
    first_samples = itertools.islice(lacking.items(), shown)
    described = [f"{sample} lacks {n} (first: '{first}')" for sample, (n, first) in first_samples]
    more = f"; and {len(lacking) - shown} more samples" if len(lacking) > shown else ""
    missing = sum(count for count, _ in lacking.values())
    return (
        f"{missing} region/sample pairs have no count (the samples have different regions), written as {MISSING}: "
        + "; ".join(described)
        + more
    )


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


def plot_categories(samples, rows, top):
    """The `top` regions with most reads over all samples (in row order), then the rest summed as one, of rows
    [(label, {sample: count})] (a missing sample counts 0): TopRows and bar_categories on one block of RowLabels.
    Labels are unique, numbered by occurrence over all rows, so 'name (2)' is the matrix's second 'name'."""
    names = [name for name, _ in rows]
    labels = RowLabels(names)
    labels.next_block(names)
    counts = [[row_counts.get(sample, 0) for _, row_counts in rows] for sample in samples]
    shown = TopRows(top)
    shown.offer(0, [sum(row_counts.values()) for _, row_counts in rows], labels, counts)
    return bar_categories(samples, shown, labels, list(map(sum, counts)), len(rows))


def bar_categories(samples, shown, labels, totals, n_regions):
    """The bar graph's categories: the rows TopRows kept, in row order, then the other regions summed per sample
    (each sample's total less its shown counts), labelled by `labels` once every row was offered."""
    categories = [(label, dict(zip(samples, counts))) for _, _, label, counts in shown.in_row_order()]
    rest = n_regions - len(categories)
    if rest:
        shown_sums = [sum(c[sample] for _, c in categories) for sample in samples]
        other = {sample: total - shown_sum for sample, total, shown_sum in zip(samples, totals, shown_sums)}
        categories.append((labels.other(rest), other))
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
            return write_streamed(samples, plot_labels(paths[0]), outdir, top, checked_blocks(paths))
        except (NotRegular, UnicodeDecodeError):
            pass  # the files are written again from the start: none was put in place
    return write_streamed(samples, plot_labels(paths[0]), outdir, top, aligned_blocks(paths))


def write_streamed(samples, labels, outdir, top, blocks):
    """The matrix and MultiQC files of blocks of rows ((labels, [counts per sample], [count texts per sample]),
    a missing count 0 and its text NA), written as they are read, a block of rows at a time: memory holds the
    plot labels' state (`labels`: RowLabels or OccurrenceLabels) and the top regions, not the counts (a
    200,000 x 16 matrix). Returns the totals per sample and the number of regions; the blocks' exception
    otherwise (then no file is put in place: write_lines renames only a complete file)."""
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
    categories = bar_categories(samples, shown, labels, totals, n_regions)
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


# --- samples whose regions differ (other BEDs, other references): the tables read one at a time into the rows of
# their union (RegionRows, one compact entry per row) and a column of counts per sample (CountColumns, in a
# temporary file), then the files written a block of rows at a time (write_streamed): memory grows with the rows
# and the samples, never with their product


MISSING_COUNT = -1  # in a count column: the sample has no row there
LARGE_COUNT = -2  # in a count column: a count beyond 8 bytes, kept aside (count_column's `large`)
NO_LENGTH = -1  # the length of a row given without one (build_matrix's (region, count))


class RegionRows:
    """The rows of the union of the tables, in order: the first sample's, then those only later samples have, by
    first appearance. A row is a region name, a length and an occurrence (the n-th row of that name and length in
    a table: repeated BED names are matched by occurrence). One compact entry per row: its name (the tables'
    string) in a list, its length in an array, and its number in a dict, the first row of a name by the name
    (first_row: one entry per region of a panel without repeats), the name's other rows (other lengths, repeats)
    by other_row_key (other_rows)."""

    def __init__(self):
        self.names = []
        self.lengths = array.array("q")
        self.first_row = {}  # name -> the row of its first occurrence of the length it was first seen with
        self.other_rows = {}  # other_row_key -> row

    def add(self, name, length):
        """A new last row; its number."""
        self.names.append(name)
        self.lengths.append(length)
        return len(self.names) - 1


def other_row_key(name, length, occurrence):
    """The key of a row that is not its name's first: names and lengths hold no tab."""
    return f"{name}\t{length}\t{occurrence}"


def count_column(regions, blocks):
    """A table's counts as a column aligned to the rows of `regions` (MISSING_COUNT where it has none), adding the
    rows it is the first to have; and {row: count} of the counts too large for the column (LARGE_COUNT there).
    `blocks`: (names, lengths, counts) of the table's rows in order. A row of its name's first row's length is that
    row unless the column holds it already (a repeat); a repeat or another length is other_row's."""
    column = array.array("q", [MISSING_COUNT]) * len(regions.names)
    large, occurrences = {}, {}
    first_row, row_lengths = regions.first_row, regions.lengths
    for names, lengths, counts in blocks:
        for name, length, count in zip(names, lengths, counts):
            row = first_row.get(name)
            if row is None:
                row = first_row[name] = regions.add(name, length)
            elif row_lengths[row] != length or column[row] != MISSING_COUNT:
                row = other_row(regions, name, length, occurrences)
            if row == len(column):
                column.append(MISSING_COUNT)
            try:
                column[row] = count
            except OverflowError:
                column[row] = LARGE_COUNT
                large[row] = count
    return column, large


def other_row(regions, name, length, occurrences):
    """The row of a table's next row of a name and length that is not the name's first row (another length, or a
    repeat), added when new: the n-th such row of a table is the n-th such row of every table, as every table's
    first row of the name's first length is the first row. `occurrences`: the table's such rows so far, by name
    and length."""
    occurrence = occurrences[name, length] = occurrences.get((name, length), 0) + 1
    key = other_row_key(name, length, occurrence)
    row = regions.other_rows.get(key)
    if row is None:
        row = regions.other_rows[key] = regions.add(name, length)
    return row


# The text read at once from a table being joined: a block of its rows (table_blocks).
TABLE_BLOCK_CHARS = BLOCK_CHARS


def table_blocks(path):
    """(names, lengths, counts) of the blocks of a counts table's rows (counts_table_blocks); its error raised."""
    with open(path) as handle:
        for block in counts_table_blocks(handle, path, TABLE_BLOCK_CHARS):
            if isinstance(block, TaskFileError):
                raise block
            yield block.names, small_numbers(block.lengths) or list(map(int, block.lengths)), block.counts


def column_held(column):
    """(how many rows a count column holds, its first row without a count: len(column) when none lacks one)."""
    held = len(column) - column.count(MISSING_COUNT)
    return held, column.index(MISSING_COUNT) if held < len(column) else len(column)


def name_rows(regions):
    """{name: [its rows]} of the names of more than one row, in row order."""
    rows_of = {}
    for row in regions.other_rows.values():
        name = regions.names[row]
        rows_of.setdefault(name, [regions.first_row[name]]).append(row)
    return dict(sorted(rows_of.items(), key=lambda item: item[1][0]))


def rows_held(column, rows):
    """The rows of `rows` that a count column has a count for."""
    return [row for row in rows if row < len(column) and column[row] != MISSING_COUNT]


def conflicting_names(regions, samples, columns, shown=3):
    """{name: {lengths: [samples]}} of the names whose lengths differ between samples (each sample's lengths of a
    name, repeats included, compared as a whole: samples of different references), in row order; only the first
    `shown` are described, the others are None. `columns`: each sample's count column (iterated twice when names
    differ). The rows of a name are its lengths' occurrences, so two samples list the same lengths of a name exactly
    when they have the same rows of it: the lengths differ exactly when a sample has some but not all of the
    name's rows, which only a name of more than one row can."""
    rows_of = name_rows(regions)
    differing = set()
    if rows_of:
        for column in columns:
            differing.update(name for name, rows in rows_of.items() if 0 < len(rows_held(column, rows)) < len(rows))
    conflicts = {name: None for name in rows_of if name in differing}
    described = list(itertools.islice(conflicts, shown))
    for name in described:
        conflicts[name] = {}
    for sample, column in zip(samples, columns if described else []):
        for name in described:
            lengths = sorted((regions.lengths[row] for row in rows_held(column, rows_of[name])), key=str)
            if lengths:
                conflicts[name].setdefault(", ".join(map(str, lengths)), []).append(sample)
    return conflicts


def length_label(name, length):
    """A row's label when its name has other lengths in other samples."""
    return f"{name} ({length} bp)"


def row_labels(regions, conflicts, first, end):
    """The matrix labels of rows first to end - 1: the name, or length_label for conflicting names."""
    names = regions.names[first:end]
    if not conflicts:
        return names
    return [
        length_label(name, length) if name in conflicts else name
        for name, length in zip(names, regions.lengths[first:end])
    ]


def lacking_samples(samples, held, regions, conflicts):
    """missing_warning's {sample: (rows lacked, label of the first)} from each sample's column_held (its column
    lacks the rows added after it too)."""
    n_rows = len(regions.names)
    return {
        sample: (n_rows - n_held, row_labels(regions, conflicts, first, first + 1)[0])
        for sample, (n_held, first) in zip(samples, held)
        if n_held < n_rows
    }


class CountColumns:
    """Each sample's count column (count_column) in an unnamed temporary file of the output folder (gone once
    closed, or once the process ends however it ends), read back a block of rows at a time."""

    def __init__(self, folder):
        self.file = tempfile.TemporaryFile(dir=folder)
        self.spans = []  # (offset, rows) of each column
        self.large = []  # {row: count} of each column's counts too large for it

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()

    def __len__(self):
        return len(self.spans)

    def append(self, column, large):
        self.spans.append((self.file.seek(0, os.SEEK_END), len(column)))
        column.tofile(self.file)
        self.large.append(large)

    def __iter__(self):
        """Each column as written (LARGE_COUNT where large)."""
        return (self.read(i, 0, rows) for i, (_, rows) in enumerate(self.spans))

    def read(self, i, first, end):
        """The column of sample i from row `first` to end - 1, MISSING_COUNT past the rows it was written with."""
        offset, rows = self.spans[i]
        values = array.array("q")
        if first < rows:
            self.file.seek(offset + first * values.itemsize)
            values.fromfile(self.file, min(end, rows) - first)
        return values + array.array("q", [MISSING_COUNT]) * (end - first - len(values))

    def counts(self, i, first, end):
        """Sample i's counts of rows first to end - 1 (column_counts)."""
        return column_counts(self.read(i, first, end), self.large[i], first)


def column_counts(values, large, first):
    """A list of the counts of a column's values from row `first`: large counts in place, MISSING_COUNT kept."""
    counts = values.tolist()
    if large and LARGE_COUNT in values:
        counts = [large[first + i] if count == LARGE_COUNT else count for i, count in enumerate(counts)]
    return counts


CELL_TEXTS = {**COUNT_TEXTS, MISSING_COUNT: MISSING}


def cell_texts(counts):
    """The matrix cells of counts: NA for MISSING_COUNT; looked up below 10,000."""
    try:
        return list(map(CELL_TEXTS.__getitem__, counts))
    except KeyError:
        return [MISSING if count == MISSING_COUNT else str(count) for count in counts]


def zero_missing(counts):
    """The counts with 0 for MISSING_COUNT (the plot's and the totals' count), in place: found in C."""
    row = -1
    try:
        while True:
            row = counts.index(MISSING_COUNT, row + 1)
            counts[row] = 0
    except ValueError:
        return counts


# The rows of a block of joined_blocks: ~JOINED_BLOCK_CELLS counts, at least MIN_JOINED_BLOCK_ROWS rows.
JOINED_BLOCK_CELLS = 1 << 16
MIN_JOINED_BLOCK_ROWS = 64


def joined_blocks(regions, conflicts, columns):
    """write_streamed's blocks (labels, [counts per sample], [count texts per sample]) of the joined rows."""
    n_rows = len(regions.names)
    step = max(MIN_JOINED_BLOCK_ROWS, JOINED_BLOCK_CELLS // max(1, len(columns)))
    for first in range(0, n_rows, step):
        end = min(first + step, n_rows)
        counts = [columns.counts(i, first, end) for i in range(len(columns))]
        texts = [cell_texts(column) for column in counts]
        yield row_labels(regions, conflicts, first, end), [zero_missing(column) for column in counts], texts


# The names tested for NUMBERED_NAME at once.
NAMES_AT_ONCE = 1 << 16


def joined_plot_labels(regions, conflicts):
    """The plot labels of the joined rows, as plot_labels for a table: RowLabels of every label when a name could
    be a numbered label (NUMBERED_NAME: a length label, 'name (100 bp)', cannot), else OccurrenceLabels."""
    names = regions.names
    numbered = any(
        NUMBERED_NAME.search("\t".join(names[first : first + NAMES_AT_ONCE]) + "\t")
        for first in range(0, len(names), NAMES_AT_ONCE)
    )
    return RowLabels(row_labels(regions, conflicts, 0, len(names))) if numbered else OccurrenceLabels()


def joined_matrix(path_of, args):
    """The matrix of samples whose regions differ (other BEDs, other references), joined in three passes: each
    table (in sample order) into the rows and a count column (count_column), the names whose lengths differ
    (conflicting_names), then the files, a block of rows at a time (write_streamed). A table's error is that of the
    first table given that has one, as when they were read in that order."""
    samples = sorted(path_of)
    with CountColumns(args.outdir) as columns:
        regions = RegionRows()
        errors, held = {}, []
        for sample in samples:
            try:
                column, large = count_column(regions, table_blocks(path_of[sample]))
            except (TaskFileError, OSError, UnicodeDecodeError) as error:
                errors[sample] = error
                continue
            held.append(column_held(column))
            columns.append(column, large)
        error = next((errors[sample] for sample in path_of if sample in errors), None)
        if isinstance(error, (TaskFileError, OSError)):
            log.error("%s", error)
            return 1
        if error is not None:
            raise error
        conflicts = conflicting_names(regions, samples, columns)
        lacking = lacking_samples(samples, held, regions, conflicts)
        for warning in (conflicts_warning(conflicts), missing_warning(lacking)):
            if warning:
                log.warning("%s", warning)
        labels = joined_plot_labels(regions, conflicts)
        blocks = joined_blocks(regions, conflicts, columns)
        totals, n_regions = write_streamed(samples, labels, args.outdir, args.top_regions, blocks)
    write_lines(os.path.join(args.outdir, "region_counts_general_stats_mqc.tsv"), general_stats_lines(samples, totals))
    log.info("%d samples, %d regions, %d reads", len(samples), n_regions, sum(totals.values()))
    return 0


if __name__ == "__main__":
    run_script(main)
