"""The files that pass between the pipeline's tasks, each defined here once: its name, columns, row type,
reader and writer. The planner, the counter, the reducer and the matrix import them, so that a writer and
its reader cannot drift apart. Standard library only, Python 3.8: the counter's image has no numpy.

    file                                written by                  read by
    sample manifest (samples.tsv)       the modules (Groovy)        plan_units.py, count_unit.py
    unit file (units/unit_NNNN.tsv)     plan_units.py               count_unit.py
    unit_samples.tsv                    plan_units.py               workflows/regioncount.nf (a unit task's files)
    index_statistics.tsv                plan_units.py               count_unit.py
    regions table (<s>.regions.tsv)     plan_units.py               reduce_counts.py
    unit result (<unit>.result.tsv)     count_unit.py               reduce_counts.py
    count file (<s>/<s>_count.txt)      reduce_counts.py            utils_run_summary (the run summary), the user
    counts table (<s>/<s>.counts.tsv)   reduce_counts.py            counts_matrix.py
    failures.txt                        reduce_counts.py            counts_matrix.py
"""

import contextlib
import itertools
import operator
import os
from array import array
from dataclasses import dataclass
from sys import intern
from typing import NamedTuple, Optional

from tsv_files import (
    BLOCK_CHARS,
    MissingColumns,
    block_columns,
    column_indexes,
    int_array,
    iter_columns,
    iter_tsv,
    plain_numbers,
    small_numbers,
    text_blocks,
    write_formatted_tsv,
    write_tsv,
    write_tsv_texts,
)


class TaskFileError(ValueError):
    """A file between tasks that its reader cannot use (a mismatch between the tasks): one line naming it."""


# The sample of an item planned once for every sample of its unit (plan_units.plan_shared): counted in each
# sample's files of the manifest. No sample is named '*' (the pipeline refuses such names).
ALL_SAMPLES = "*"
# How an item is counted (the unit file's `mode`; see count_modes.py):
#   single - samtools view -c over the interval (records overlapping it); also a split region's first piece
#   chunk  - records whose leftmost position lies in the interval (the later pieces of a split region)
#   batch  - one multi-region samtools pass shared by every batch item of the unit
#   pass   - every contig of a small sample, counted by one region-less samtools pass over its file: the
#            sample's items stay in one unit (plan_units.pass_items, unit_atoms)
#   scan   - a pass over a BAM whose index shows that no contig holds a record `{name}` skips (contig_starts):
#            samtools idxstats reads the file itself, with no view and no filter, unless the user filters
PASS_MODES = ("pass", "scan")  # a sample's contigs counted by one pass over its file


# --- sample manifest: `sample alignments index`, and for the planner the names the user gave, for messages


SAMPLE_COLUMNS = ["sample", "alignments", "index"]
SAMPLE_NAME_COLUMNS = ("file_name", "check_name", "index_check_name", "index_name")  # read when present


@dataclass(frozen=True)
class SampleFiles:
    sample: str
    alignments: str  # relative to the task folder (the working directory)
    index: Optional[str] = None  # None: htslib finds the index next to the alignments
    file_name: str = ""  # the user's file name, for messages
    # A remote input, which the driver did not read: its URL (and its index's) for input_checks' messages.
    check_name: str = ""
    index_check_name: str = ""
    index_name: str = ""  # the user's name for the index ('' for one the pipeline made), for messages


def rows_with(lines, columns, what):
    """Rows of a TSV as dicts, one at a time (a panel's unit holds up to 1,000,000); TaskFileError when the
    header lacks one of `columns`."""
    for number, row in enumerate(iter_tsv(lines)):
        if number == 0:
            try:
                column_indexes(list(row), columns, what)
            except MissingColumns as err:
                raise TaskFileError(str(err)) from None
        yield row


def read_samples(lines, what="sample manifest"):
    """{sample: SampleFiles} of a manifest, in its order (an empty index is None)."""
    samples = {}
    for number, r in enumerate(rows_with(lines, SAMPLE_COLUMNS, what), start=2):
        sample, alignments = r.get("sample", ""), r.get("alignments", "")
        if not sample or not alignments:
            raise TaskFileError(f"{what}: line {number} has no sample name or no alignments file")
        if sample in samples:
            raise TaskFileError(f"{what}: sample '{sample}' is listed twice")
        # A trailing empty field may be cut: .get.
        names = (r.get(name) or "" for name in SAMPLE_NAME_COLUMNS)
        samples[sample] = SampleFiles(sample, alignments, r.get("index") or None, *names)
    return samples


# --- unit file: the items of one counting task, in genomic order


UNIT_COLUMNS = ["sample", "region_id", "contig", "start", "end", "whole", "mode", "open_end"]
# A unit file planned before open_end existed has none: its items are read as not open-ended.
UNIT_OPTIONAL_COLUMNS = ("open_end",)
UNIT_SAMPLES_FILE = "unit_samples.tsv"
UNIT_SAMPLES_COLUMNS = ["unit", "sample"]


# Items are named tuples: a panel's unit holds up to a million (a dataclass instance with its __dict__ costs
# several times more). The planner's own items (plan_units.Item) carry their expected cost too.
class UnitItem(NamedTuple):
    sample: str
    region_id: str
    contig: str
    start: int  # 0-based, half-open
    end: int
    whole_contig: bool
    mode: str
    # Reaches past `end` to the contig's last record (a whole contig, or its last piece): htslib's `{name}`
    # counts records placed past the @SQ length too.
    open_end: bool = False


def unit_file_name(number):
    """The name of the number-th unit file (from 1)."""
    return f"unit_{number:04d}.tsv"


def write_unit(path, items):
    """A unit file of items: any objects with UnitItem's fields (the planner's)."""
    write_formatted_tsv(path, UNIT_COLUMNS, items, unit_lines, unit_row)


def unit_row(i):
    return [i.sample, i.region_id, i.contig, i.start, i.end, int(i.whole_contig), i.mode, int(i.open_end)]


UNIT_FIELDS = operator.attrgetter("sample", "region_id", "contig", "start", "end", "whole_contig", "mode", "open_end")


def unit_lines(items):
    """unit_row's fields of each item as one line (write_formatted_tsv), by a comprehension. A flag is
    "01"[flag]: int(flag) of a bool (or of 0 or 1), faster than int() then str(); any other value raises."""
    return [
        f"{sample}\t{region_id}\t{contig}\t{start}\t{end}\t{'01'[whole]}\t{mode}\t{'01'[open_end]}\n"
        for sample, region_id, contig, start, end, whole, mode, open_end in map(UNIT_FIELDS, items)
    ]


# Lines a read_unit block holds: a block's fields are split at once (block_columns), ~10 MB of them.
UNIT_BLOCK_LINES = 1 << 14


def read_unit(lines, what="unit file"):
    """The UnitItems of a unit file, its columns picked by position: a dict per row would cost more than
    counting a panel's region. A block of lines is split at once and its items made by map (unit_block_items);
    a block it cannot vouch for is read row by row (unit_row_items): TaskFileError (one line) for a missing
    column or a malformed row. 92,868 rows: 0.38 s row by row, 0.13 s so."""
    lines = iter(lines)
    header = next((line for line in lines if line.strip()), "")
    fields = header.rstrip("\n").split("\t")
    columns = [column for column in UNIT_COLUMNS if column not in UNIT_OPTIONAL_COLUMNS or column in fields]
    try:
        at = column_indexes(fields, columns, what)
    except MissingColumns as err:
        raise TaskFileError(str(err)) from None
    items = []
    for block in iter(lambda: list(itertools.islice(lines, UNIT_BLOCK_LINES)), []):
        block_items = unit_block_items(block_columns("".join(block), len(fields), at))
        # Rows are numbered as lines without the blank ones: the header is line 1.
        items += unit_row_items(block, at, len(items) + 2, what) if block_items is None else block_items
    return items


def unit_block_items(columns):
    """The UnitItems of a block's columns (block_columns: every line as long as the header), or None when
    there are none or a start or end is not a number: the block is then read row by row."""
    if columns is None:
        return None
    samples, region_ids, contigs, starts, ends, wholes, modes, *open_ends = columns
    try:
        starts, ends = list(map(int, starts)), list(map(int, ends))
    except ValueError:
        return None
    # One string per sample and contig, not one per row. Each item made by tuple.__new__ in C, as
    # UnitItem._make makes it, not by UnitItem's Python __new__ (92,868 items: 0.15 s, 0.2 s so).
    fields = zip(
        map(intern, samples),
        region_ids,
        map(intern, contigs),
        starts,
        ends,
        map("1".__eq__, wholes),
        modes,
        map("1".__eq__, open_ends[0]) if open_ends else itertools.repeat(False),
    )
    return list(map(tuple.__new__, itertools.repeat(UnitItem), fields))


def unit_row_items(lines, at, first_number, what):
    """The UnitItems of lines (blank ones skipped) whose columns are at positions `at`, the first row being
    line first_number; TaskFileError naming the line of a short row or a start that is no number."""
    number = first_number - 1
    rows = ([row[i] for i in at] for row in (line.rstrip("\n").split("\t") for line in lines if line.strip()))
    items = []
    try:
        for number, (sample, region_id, contig, start, end, whole, mode, *rest) in enumerate(rows, first_number):  # noqa: B007 (named in the errors below)
            item = UnitItem(intern(sample), region_id, intern(contig), int(start), int(end), whole == "1", mode)
            items.append(item._replace(open_end=True) if rest and rest[0] == "1" else item)
    except IndexError as err:  # a short row
        raise TaskFileError(f"{what}: line {number + 1} is malformed ({err!r})") from None
    except ValueError as err:  # a start that is no number
        raise TaskFileError(f"{what}: line {number} is malformed ({err!r})") from None
    return items


def write_unit_samples(path, unit_samples):
    """unit_samples.tsv: (unit file name, sample) pairs, the samples whose files each unit is counted in."""
    write_tsv(path, UNIT_SAMPLES_COLUMNS, unit_samples)


# --- index statistics: records per contig of each sample, as its index tells them (`samtools idxstats`)


INDEX_STATISTICS_FILE = "index_statistics.tsv"
INDEX_STATISTICS_COLUMNS = ["sample", "contig", "length", "records"]


def write_index_statistics(path, rows):
    """index_statistics.tsv: (sample, contig, length, records) rows, records being mapped + unmapped as
    `samtools idxstats` prints them. The planner has read every sample's index; a counting task then finds
    its samples' densities here instead of asking samtools once per sample (25-40 ms each on a GRCh38 header)."""
    write_tsv(path, INDEX_STATISTICS_COLUMNS, rows)


def read_index_statistics(lines, what="index statistics"):
    """{sample: [(contig, length, records)] in the file's order} of index_statistics.tsv; TaskFileError for a
    missing column or a field that is not a number."""
    statistics = {}
    try:
        for number, (sample, contig, length, records) in enumerate(
            iter_columns(lines, INDEX_STATISTICS_COLUMNS, what), start=2
        ):
            # isascii: str.isdigit also accepts digits int() refuses ('²') or reads as others ('٣').
            if not (length.isascii() and length.isdigit() and records.isascii() and records.isdigit()):
                raise TaskFileError(f"{what}: line {number} has a length or a count that is not a number")
            statistics.setdefault(sample, []).append((contig, int(length), int(records)))
    except MissingColumns as err:
        raise TaskFileError(str(err)) from None
    except TaskFileError:  # a ValueError too: not to be taken for a short row below
        raise
    except IndexError:  # a row of fewer fields than the header
        raise TaskFileError(f"{what}: a row has fewer fields than the header") from None
    return statistics


# --- regions table: a sample's regions in order, with the number of items that count each


REGION_COLUMNS = ["region_id", "name", "contig", "start", "end", "length", "items"]
REGIONS_SUFFIX = ".regions.tsv"


def regions_table_name(sample):
    return f"{sample}{REGIONS_SUFFIX}"


def sample_of(path, suffix):
    """The sample of a `<sample><suffix>` path; TaskFileError for another name."""
    name = os.path.basename(path)
    if not name.endswith(suffix) or name == suffix:
        raise TaskFileError(f"{path}: expected a file named <sample>{suffix}")
    return name[: -len(suffix)]


def write_regions_table(path, regions, n_items):
    """Regions (with region_id, name, contig, start, end), each with the number of items that count it
    (n_items: region id -> items; None: one each), written as made: a panel's rows are never held."""
    one_each = n_items is None

    def row(r):
        return [r.region_id, r.name, r.contig, r.start, r.end, r.end - r.start, 1 if one_each else n_items[r.region_id]]

    def lines(block):  # row's fields of each region as one line (write_formatted_tsv), by a comprehension
        if one_each:
            return [
                f"{region_id}\t{name}\t{contig}\t{start}\t{end}\t{end - start}\t1\n"
                for region_id, name, contig, start, end in map(REGION_FIELDS, block)
            ]
        return [
            f"{region_id}\t{name}\t{contig}\t{start}\t{end}\t{end - start}\t{n_items[region_id]}\n"
            for region_id, name, contig, start, end in map(REGION_FIELDS, block)
        ]

    write_formatted_tsv(path, REGION_COLUMNS, regions, lines, row)


REGION_FIELDS = operator.attrgetter("region_id", "name", "contig", "start", "end")


# The columns of a regions table the reducer reads.
REGIONS_READ_COLUMNS = ["region_id", "items", "start", "end", "name", "length"]


class RegionsTable:
    """The columns of a regions table the reducer needs, read once for every sample whose table is this file:
    the samples of a shared plan have hard links to one table. Flat arrays indexed by region order (region_id
    1, 2, ...), and per block of regions the beginnings of a sample's count file and counts table lines
    (line_start_blocks): a panel's 1,000,000 regions take ~40 MB here. Starts and ends, only needed to name a
    failed piece, are read again when first asked for (`starts`, `ends`).

    Blocks of rows are split by C-level string methods (block_columns); a block they cannot vouch for (a blank
    line, a short row, an id out of order, a field that is no plain number) is read row by row as before, so
    that every error is the one it always was."""

    def __init__(self, path):
        self.path = path
        self.expected_items = array("i")
        self._ids = []  # "1\n2\n...", per block: the run check of results (first_index_of_run)
        self._line_starts = []  # (first index, count file line beginnings, counts table line beginnings)
        self._bounds = None
        with open(path) as handle:
            header = next((line for line in handle if line.strip()), None)
            if header is not None:
                fields = header.rstrip("\n").split("\t")
                at = column_indexes(fields, REGIONS_READ_COLUMNS, path)
                for text in text_blocks(handle):
                    if not self._add_block(block_columns(text, len(fields), at)):
                        self._add_rows(text.split("\n"), at)
        self.id_text = "\n" + "\n".join(self._ids) + "\n"
        del self._ids

    def __len__(self):
        return len(self.expected_items)

    def _add_block(self, columns):
        """Add a block of rows read by block_columns; False, adding nothing, for one the rows' loop must read."""
        if columns is None:
            return False
        ids, items, starts, ends, names, lengths = columns
        first = len(self)
        expected_ids = numbers_text(first + 1, len(ids))
        if "\n".join(ids) != expected_ids or not (plain_numbers(starts, 18) and plain_numbers(ends, 18)):
            return False
        # Most regions are counted by one item.
        expected_items = array("i", [1]) * len(items) if items.count("1") == len(items) else int_array("i", items)
        if expected_items is None:
            return False
        self.expected_items.extend(expected_items)
        self._ids.append(expected_ids)
        self._add_line_starts(first, names, lengths)
        return True

    def _add_rows(self, lines, at):
        """Add rows one by one, checked as they always were (ValueError, IndexError at the first bad one)."""
        first, names, lengths = len(self), [], []
        for line in lines:
            if not line.strip():
                continue
            row = line.split("\t")
            region_id, items, start, end = (row[i] for i in at[:4])
            number = len(self) + 1
            if int(region_id) != number:
                raise ValueError(f"{self.path}: region ids must be 1, 2, ... in order (row {number})")
            self.expected_items.append(int(items))
            array("q", [int(start), int(end)])  # checked here as when they were kept: an OverflowError too
            names.append(row[at[4]])
            lengths.append(row[at[5]])
        if names:
            self._ids.append(numbers_text(first + 1, len(self) - first))
            self._add_line_starts(first, names, lengths)

    def _add_line_starts(self, first, names, lengths):
        """Each region's `Region <name>: ` and `<name>\t<length>\t`, one text of them per block: two strings,
        not two per region, made and split again in C (names and lengths hold no tab and no line break)."""
        count_file = "Region " + ": \nRegion ".join(names) + ": "
        fields = ["\n"] * (3 * len(names) - 1)  # name, length, then a line break before the next name
        fields[::3], fields[1::3] = names, lengths
        counts_table = "\t".join(fields) + "\t"  # `name\tlength\t` joined by "\n\t": line_start_blocks
        self._line_starts.append((first, count_file, counts_table))

    def line_start_blocks(self):
        """(first index, [`Region <name>: `], [`<name>\t<length>\t`]) per block of regions, in order."""
        for first, count_file, counts_table in self._line_starts:
            yield first, count_file.split("\n"), counts_table.split("\n\t")

    def first_index_of_run(self, ids):
        """The index of the region ids[0] when `ids` are the ids ids[0], ids[0] + 1, ... of regions of this
        table written as plain numbers (a unit's results, in order); None otherwise."""
        try:
            first = int(ids[0])
        except ValueError:
            return None
        if str(first) != ids[0] or first < 1 or first + len(ids) - 1 > len(self):
            return None
        if not self.id_text.startswith("\n" + "\n".join(ids) + "\n", id_text_offset(first)):
            return None
        return first - 1

    @property
    def starts(self):
        return self._read_bounds()[0]

    @property
    def ends(self):
        return self._read_bounds()[1]

    def _read_bounds(self):
        if self._bounds is None:
            starts, ends = array("q"), array("q")
            with open(self.path) as handle:
                for start, end in iter_columns(handle, ["start", "end"], self.path):
                    starts.append(int(start))
                    ends.append(int(end))
            self._bounds = starts, ends
        return self._bounds

    def rows(self):
        """(index, name, length text) of every region, in order."""
        with open(self.path) as handle:
            for index, (name, length) in enumerate(iter_columns(handle, ["name", "length"], self.path)):
                yield index, name, length


def numbers_text(first, count):
    """`first\nfirst + 1\n...` (count numbers, count >= 1), formatted in one %-operation: faster than str() of
    each."""
    return ("%d\n" * count % tuple(range(first, first + count)))[:-1]


def id_text_offset(number):
    """Where `\n<number>\n` begins in `\n1\n2\n3\n...` (RegionsTable.id_text): the numbers before it, each
    with its line break, counted by their number of digits."""
    offset, digits, lowest = 0, 1, 1
    while lowest * 10 <= number:
        offset += 9 * lowest * (digits + 1)
        lowest, digits = lowest * 10, digits + 1
    return offset + (number - lowest) * (digits + 1)


# --- unit result: every item's count and status, in unit order


RESULT_COLUMNS = ["sample", "region_id", "contig", "start", "end", "mode", "count", "status", "message"]
# The columns of a unit result the reducer reads: the sample, then reduce_counts.SampleTally.add's arguments.
RESULT_READ_COLUMNS = ["sample", "region_id", "contig", "start", "end", "count", "status", "message"]


class Outcome(NamedTuple):
    """An item's count, status ('ok' or 'error') and message: the last columns of its result row."""

    count: int = 0
    status: str = "ok"
    message: str = ""


def write_results(path, blocks):
    """The result rows of (sample, items, outcomes) blocks, written as they come (a block's sample, when not
    None, stands for the ALL_SAMPLES of its items); returns (items, failed items, samples). A block's lines are
    joined in C from three lists (result_texts), not formatted row by row: a panel's unit writes a row per item
    and sample (742,944 rows for 8 samples of 92,868 regions: 1.64 s CPU through the csv module, 0.29 s so)."""
    tally = {"items": 0, "failed": 0, "samples": set()}

    def texts():
        middles_of = None, None  # (items, result_middles(items)): a shared plan's items are the same each sample
        for sample, items, outcomes in blocks:
            if middles_of[0] is not items:
                middles_of = items, result_middles(items)
            statuses = [outcome.status for outcome in outcomes]
            tally["items"] += len(items)
            tally["failed"] += len(statuses) - statuses.count("ok")
            tally["samples"].update([sample] if sample else (item.sample for item in items))
            yield from result_texts(sample, items, outcomes, middles_of[1])

    write_tsv_texts(path, RESULT_COLUMNS, texts())
    return tally["items"], tally["failed"], len(tally["samples"])


# Rows a result_texts block holds: a few MB of text at a time.
RESULT_BLOCK_ROWS = 1 << 16


def result_row(sample, item, outcome):
    """The fields of an item's result row (a block's sample, when not None, stands for the item's)."""
    return [sample or item.sample, item.region_id, item.contig, item.start, item.end, item.mode, *outcome]


RESULT_MIDDLE_FIELDS = operator.attrgetter("region_id", "contig", "start", "end", "mode")


def result_middles(items):
    """`\t<region_id>\t<contig>\t<start>\t<end>\t<mode>\t` of each item: its result row between the sample and the
    outcome, the same for every sample of a shared item (made once per unit by write_results)."""
    return [
        f"\t{region_id}\t{contig}\t{start}\t{end}\t{mode}\t"
        for region_id, contig, start, end, mode in map(RESULT_MIDDLE_FIELDS, items)
    ]


def result_texts(sample, items, outcomes, middles):
    """(text, rows, rows()) blocks of the result lines of items (write_tsv_texts): the sample, the item's middle
    and the outcome's end of each line, a list of each joined by one "".join."""
    for first in range(0, len(items), RESULT_BLOCK_ROWS):
        block = slice(first, first + RESULT_BLOCK_ROWS)
        block_items, block_outcomes = items[block], outcomes[block]
        pieces = [sample] * (3 * len(block_items))
        if not sample:
            pieces[::3] = [item.sample for item in block_items]
        pieces[1::3] = middles[block]
        pieces[2::3] = outcome_ends(block_outcomes)

        def rows(block_items=block_items, block_outcomes=block_outcomes):
            return map(result_row, itertools.repeat(sample), block_items, block_outcomes)

        yield "".join(pieces), len(block_items), rows


def outcome_ends(outcomes):
    """`<count>\t<status>\t<message>\n` of each outcome: for counted items (status ok, no message: the usual)
    looked up by count below 10,000 (92,868 outcomes: 3 ms, 16 ms by f-strings, 40 ms if zip(*outcomes))."""
    counts = [outcome.count for outcome in outcomes]
    statuses = [outcome.status for outcome in outcomes]
    if statuses.count("ok") == len(statuses) and [outcome.message for outcome in outcomes].count("") == len(counts):
        try:
            return list(map(COUNTED_LINE_ENDS.__getitem__, counts))
        except KeyError:
            return [f"{count}\tok\t\n" for count in counts]
    return [f"{count}\t{status}\t{message}\n" for count, status, message in outcomes]


COUNTED_LINE_ENDS = {count: f"{count}\tok\t\n" for count in range(10_000)}


def result_lines(handle, what):
    """(positions of RESULT_READ_COLUMNS in a unit result's header, the lines of its rows, unsplit): the reducer
    splits a panel's millions of rows itself, a split each. MissingColumns for a header without one."""
    lines = (line for line in handle if line.strip())
    return column_indexes(next(lines, "").rstrip("\n").split("\t"), RESULT_READ_COLUMNS, what), lines


# The columns of a unit result the reducer's blocks give (result_blocks): a counted run needs no others.
RESULT_RUN_COLUMNS = ["sample", "region_id", "count", "status"]


def result_blocks(handle, what):
    """(positions of RESULT_READ_COLUMNS in a unit result's header, its blocks): (text, columns) per block of
    whole lines, columns being the RESULT_RUN_COLUMNS of its rows (block_columns), or None when the block's
    rows are not all as long as the header (the reducer then reads its lines one by one).
    MissingColumns for a header without one."""
    header = next((line for line in handle if line.strip()), "").rstrip("\n").split("\t")
    columns = column_indexes(header, RESULT_READ_COLUMNS, what)
    run_columns = [columns[RESULT_READ_COLUMNS.index(column)] for column in RESULT_RUN_COLUMNS]
    standard = header == RESULT_COLUMNS  # the sample first, the status and message last: counted_rows

    def blocks():
        for text in text_blocks(handle):
            yield text, (standard and counted_rows(text)) or block_columns(text, len(header), run_columns)

    return columns, blocks()


def counted_rows(text):
    """The RESULT_RUN_COLUMNS of a block of a unit result (columns RESULT_COLUMNS) whose rows are all counted
    items (status ok, no message), in runs of rows of one sample (COUNTED_RUNS at most), as block_columns gives
    them; None for another block. A run ends at the last line of its sample (the block where one sample's rows
    give way to the next's is one of every eight of a group's blocks: read as runs, not split in full)."""
    if not text.endswith("\n"):
        text += "\n"
    samples, region_ids, counts = [], [], []
    start = 0
    while start < len(text) and len(samples) < COUNTED_RUNS:
        sample = text[start : text.find("\t", start)]
        last = text.rfind(f"\n{sample}\t", start)  # the break before the run's last line, or -1: one line
        end = text.find("\n", max(last + 1, start)) + 1
        run = counted_run(text[start:end], sample) if end else None
        if run is None:
            return None
        samples.append([sample] * len(run[0]))
        region_ids += run[0]
        counts += run[1]
        start = end
    if start < len(text):
        return None
    samples = samples[0] if len(samples) == 1 else list(itertools.chain.from_iterable(samples))
    return [samples, region_ids, counts, ["ok"] * len(counts)]


# Runs of one sample a counted block may hold: a group's blocks hold one, or two where a sample's rows end.
COUNTED_RUNS = 4


def counted_run(text, sample):
    """(region ids, counts) of whole lines that are all `<sample>\t` then six fields then `\tok\t` (a counted
    item); None for any other. The sample and status are cut from every line in C before the split, the end
    of a line and the beginning of the next in one replace: a third fewer fields made and freed."""
    head, tail = f"{sample}\t", "\tok\t\n"
    between = tail + head  # one line's end and the next one's beginning, each line break in one when counted
    n_lines = text.count("\n")
    if "\n" in sample or not (text.startswith(head) and text.endswith(tail)) or text.count(between) != n_lines - 1:
        return None
    fields = text[len(head) : -len(tail)].replace(between, "\t\n\t").split("\t")
    fields.append("\n")  # after the last line too: 6 fields and a line break per line
    if len(fields) != 7 * n_lines or fields[6::7].count("\n") != n_lines:
        return None
    return fields[0::7], fields[5::7]


# --- a sample's counts: the count file (`Region <name>: <count>` lines, then `Total reads: <sum>`) and the
# counts table (region, length, count), written together from one read of the regions table


COUNTS_TABLE_COLUMNS = ["region", "length", "count"]
COUNTS_TABLE_SUFFIX = ".counts.tsv"


def sample_count_paths(sample, outdir):
    """(count file, counts table) of a sample."""
    sample_dir = os.path.join(outdir, sample)
    return os.path.join(sample_dir, f"{sample}_count.txt"), os.path.join(sample_dir, f"{sample}{COUNTS_TABLE_SUFFIX}")


def write_sample_counts(regions, outputs):
    """The count file and the counts table of each (counts, count path, table path) of samples whose regions
    are `regions` ((index, name, length text) in order, RegionsTable.rows): write_sample_counts_blocks."""
    regions = list(regions)
    names = [name for _, name, _ in regions]
    blocks = [(0, [f"Region {name}: " for name in names], [f"{name}\t{length}\t" for _, name, length in regions])]
    write_sample_counts_blocks(blocks if regions else [], outputs)


def write_sample_counts_blocks(blocks, outputs):
    """The count file and the counts table of each (counts, count path, table path) of samples whose regions
    are `blocks` ((first index, count file line beginnings, counts table line beginnings) in order, as
    RegionsTable.line_start_blocks gives), in one pass over them, each through a temporary name; a count file
    is put in place last, so that it is there only when both of its sample's files are complete."""
    with contextlib.ExitStack() as stack:
        files = []
        for counts, count_path, table_path in outputs:
            count_file = stack.enter_context(open(f"{count_path}.tmp", "w"))
            table_file = stack.enter_context(open(f"{table_path}.tmp", "w"))
            table_file.write("\t".join(COUNTS_TABLE_COLUMNS) + "\n")
            files.append((counts, count_file.write, table_file.write))
        for first, count_starts, table_starts in blocks:
            lines = [None] * (2 * len(count_starts))  # each line's beginning, then its count and line break
            for counts, write_count, write_table in files:
                lines[1::2] = count_line_ends(counts[first : first + len(count_starts)])
                lines[::2] = count_starts
                write_count("".join(lines))
                lines[::2] = table_starts
                write_table("".join(lines))
        for counts, write_count, _ in files:
            write_count(f"Total reads: {sum(counts)}\n")
    for _, count_path, table_path in outputs:
        os.replace(f"{table_path}.tmp", table_path)
        os.replace(f"{count_path}.tmp", count_path)


def count_line_ends(counts):
    """`<count>\n` of each count (one or more): looked up for counts below 10,000, else joined and split again in
    C, not formatted one by one."""
    try:
        return list(map(SMALL_COUNT_LINE_ENDS.__getitem__, counts))
    except KeyError:
        return ("\n".join(map(str, counts)) + "\n").splitlines(True)


SMALL_COUNT_LINE_ENDS = {count: f"{count}\n" for count in range(10_000)}


def counts_table_rows(handle, path):
    """(region, length text, count) of each line of a counts table; TaskFileError naming the file and line
    for another header or a row that is not region, length and a non-negative integer count."""
    lines = (line for line in handle if line.strip())
    check_counts_table_header(next(lines, ""), path)
    for lineno, line in enumerate(lines, start=2):
        yield counts_table_row(line.rstrip("\r\n"), path, lineno)


def check_counts_table_header(line, path):
    if line.rstrip("\r\n").split("\t") != COUNTS_TABLE_COLUMNS:
        raise TaskFileError(f"{path}: expected the header '{chr(9).join(COUNTS_TABLE_COLUMNS)}'")


def counts_table_row(line, path, lineno):
    """(region, length text, count) of a counts table's line (without its line break)."""
    row = line.split("\t")
    if len(row) != len(COUNTS_TABLE_COLUMNS) or not (
        row[1].isascii() and row[1].isdigit() and row[2].isascii() and row[2].isdigit()
    ):
        raise TaskFileError(f"{path}: line {lineno}: expected region, length and a non-negative integer count")
    return row[0], row[1], int(row[2])


class CountsBlock(NamedTuple):
    """Rows of a counts table, a list per column (counts_table_blocks)."""

    names: list
    lengths: list
    counts: list  # int
    count_texts: list  # str() of each count


def counts_table_blocks(handle, path, block_chars=BLOCK_CHARS):
    """The rows of a counts table as CountsBlocks of the rows of a text block each, for reading many tables in
    step (counts_matrix.py). A header or row that counts_table_rows refuses ends them with its TaskFileError,
    yielded, not raised, after the rows before it: the reader of many tables raises the error of the row it
    reaches first, as it did reading them row by row."""
    lines = (line for line in handle if line.strip())
    try:
        check_counts_table_header(next(lines, ""), path)
    except TaskFileError as error:
        yield error
        return
    lineno = 1  # the last line read (blank lines not counted)
    for text in text_blocks(handle, block_chars):
        block = counts_block(block_columns(text, len(COUNTS_TABLE_COLUMNS), range(len(COUNTS_TABLE_COLUMNS))))
        if block is not None:
            lineno += len(block.names)
            yield block
            continue
        rows, error = [], None
        for line in text.split("\n"):
            if line.strip():
                lineno += 1
                try:
                    rows.append(counts_table_row(line.rstrip("\r"), path, lineno))
                except TaskFileError as err:
                    error = err
                    break
        if rows:
            names, lengths, counts = (list(column) for column in zip(*rows))
            yield CountsBlock(names, lengths, counts, list(map(str, counts)))
        if error is not None:
            yield error
            return


def counts_block(columns):
    """The CountsBlock of a text block's columns (block_columns), or None when a row is not valid (or the block
    not regular): its lines are then read one by one."""
    if columns is None:
        return None
    names, lengths, count_texts = columns
    if not plain_numbers(lengths):
        return None
    counted = count_values(count_texts)
    return None if counted is None else CountsBlock(names, lengths, *counted)


def count_values(count_texts):
    """(counts, count texts) of a counts table's count column, the texts as str() writes each count; None when
    one is no plain number."""
    counts = small_numbers(count_texts)
    if counts is None:
        if not plain_numbers(count_texts):
            return None
        counts = list(map(int, count_texts))
        # The texts are the counts' own unless one has a leading zero ('007' is written 7, as str() writes it).
        if ("\n" + "\n".join(count_texts)).count("\n0") != count_texts.count("0"):
            count_texts = list(map(str, counts))
    return counts, count_texts


# --- failures.txt: one report per failed sample, a headline then every failed region on an indented line


FAILURES_FILE = "failures.txt"
FAILURE_INDENT = "  "


def failure_report_text(headline, problems):
    return headline + "\n" + FAILURE_INDENT + ("\n" + FAILURE_INDENT).join(problems)


def read_failures(path):
    """The failure reports of a failures.txt, each with its indented region lines."""
    with open(path) as handle:
        text = handle.read()
    reports = []
    for line in text.splitlines():
        if line.startswith(FAILURE_INDENT) and reports:
            reports[-1] += "\n" + line
        elif line.strip():
            reports.append(line)
    return reports
