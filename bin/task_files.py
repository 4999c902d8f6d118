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

import bisect
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
# samtools reads a -L BED line's contig name up to its first whitespace, after any leading whitespace, and
# skips a line starting with '#' (bed_read in bedidx.c, samtools 1.16.1); the planner reads BED lines starting
# with these as headers (plan_units.is_bed_header, unless the name is a contig's). A batch BED line of a contig
# named 'c1 ' or 'chr 5 9' was read as another contig's ('c1'; 'chr' from 5 to 9), or as none: its regions were
# counted 0, exit 0.
BED_HEADER_PREFIXES = ("#", "track", "browser")
BED_NAME_SEPARATORS = frozenset(" \t\n\v\f\r")  # C isspace(), by which bed_read ends a name


def bed_writable(contig):
    """Whether samtools reads a contig's name back from a BED line that holds it: else its regions are never
    batched (counted by their own `{name}:beg-end` call, which takes any name)."""
    return not contig.startswith(BED_HEADER_PREFIXES) and BED_NAME_SEPARATORS.isdisjoint(contig)


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


# --- unit result: every item's count and status, in unit order, the usual ones as runs
#
# A unit result (count_unit.py writes it, reduce_counts.py reads it) has one header line, RESULT_FILE_COLUMNS,
# then two kinds of lines of as many fields, told apart by the first:
#
#   item  <sample> <region_id> <contig> <start> <end> <mode> <count> <status> <message>
#         one item's result (RESULT_COLUMNS): the count, 'ok' or 'error', and samtools' message;
#   run   <sample> <first region_id> '' '' '' '' <count>,<count>,... ok ''
#         items of one sample counting the regions first, first + 1, ... (one item each), all 'ok' with no
#         message: their counts, in order, joined by ','. Contig, start, end and mode are empty (the unit file
#         has them; the reducer needs them only to name a failed piece).
#
# Lines follow the items' order (the unit's own items, then a shared plan's items once per sample); an item goes
# into a run when it is ok with no message, its region id is a plain number and it is no piece of a region split
# in this unit (its id is not its neighbour's, nor is it a chunk). The pieces of split regions, failures with their
# message and anything unusual are item lines; a run never spans more than RESULT_BLOCK_ROWS items. A run line is
# whole only with its last two fields ('ok' and an empty message): a cut one is refused, never read short.
# A unit's 742,944 rows (8 samples x 92,868 regions) were 34 MB of item rows; as runs they are ~1.5 MB.
#
# An older version's result (header RESULT_COLUMNS, item rows without their kind: a task cached by -resume
# before this format) is read as item rows, by the columns its header names.


RESULT_COLUMNS = ["sample", "region_id", "contig", "start", "end", "mode", "count", "status", "message"]
RESULT_KIND_COLUMN = "kind"
RESULT_FILE_COLUMNS = [RESULT_KIND_COLUMN, *RESULT_COLUMNS]
RESULT_ITEM, RESULT_RUN = "item", "run"  # the kinds of line
RESULT_RUN_SEPARATOR = ","  # between a run's counts


class Outcome(NamedTuple):
    """An item's count, status ('ok' or 'error') and message: the last columns of its result row."""

    count: int = 0
    status: str = "ok"
    message: str = ""


def write_results(path, blocks):
    """The results of (sample, items, outcomes) blocks, written as they come (a block's sample, when not None,
    stands for the ALL_SAMPLES of its items); returns (items, failed items, samples). A block's lines are joined
    in C (result_texts): a panel's unit of 742,944 results (8 samples x 92,868 regions) is 16 run lines, 1.5 MB
    (34 MB as a line per result)."""
    tally = {"items": 0, "failed": 0, "samples": set()}

    def texts():
        plan_of = None, None  # (items, ResultPlan): a shared plan's items are the same each sample
        for sample, items, outcomes in blocks:
            if plan_of[0] is not items:
                plan_of = items, result_plan(items)
            counts, statuses, messages = (list(map(field, outcomes)) for field in OUTCOME_FIELDS)
            failed = len(statuses) - statuses.count("ok")
            tally["items"] += len(items)
            tally["failed"] += failed
            tally["samples"].update([sample] if sample else (item.sample for item in items))
            usual = None if failed or messages.count("") != len(messages) else ()  # all ok with no message
            yield from result_texts(sample, items, outcomes, (counts, statuses, messages, usual), plan_of[1])

    write_tsv_texts(path, RESULT_FILE_COLUMNS, texts())
    return tally["items"], tally["failed"], len(tally["samples"])


OUTCOME_FIELDS = [operator.itemgetter(k) for k in range(len(Outcome._fields))]  # count, status, message

# Items a result_texts block holds (and a run at most): a few MB of text at a time.
RESULT_BLOCK_ROWS = 1 << 16


class ResultPlan(NamedTuple):
    """Where the result lines of a list of items begin when every outcome is ok with no message, made once per
    list (a shared plan's items are written once per sample)."""

    runs: list  # whether each item may be in a run (bools)
    starts: list  # the indexes where a line begins: a run's first item, or an item line's


def result_plan(items):
    """The ResultPlan of items: an item may be in a run when its region id is a plain number that is not its
    neighbour's of the same sample (the pieces of a region split in this unit) and it is not a chunk; it
    continues the run of the item before it when that one may too, has its sample and the id before its own."""
    ids = [item.region_id for item in items]
    if plain_numbers(ids) and ("\n" + "\n".join(ids)).count("\n0") == 0:  # none with a leading zero
        numbers = small_numbers(ids) or list(map(int, ids))
    else:  # an id that is no plain number (only tests write such): never in a run
        numbers = [int(i) if i.isascii() and i.isdigit() and i[0] != "0" else None for i in ids]
    samples = [item.sample for item in items]
    one_sample = samples.count(samples[0]) == len(samples) if samples else True
    if one_sample and None not in numbers and "chunk" not in map(RESULT_MODE, items):
        steps = list(map(operator.sub, numbers[1:], numbers[:-1]))
        if 0 not in steps:  # no id twice in a row: the usual plan, its lines begin where the ids skip
            return ResultPlan([True] * len(items), [0, *(i + 1 for i in indexes_of(bytes(map((1).__ne__, steps))))])
    before, after = [None, *numbers[:-1]], [*numbers[1:], None]
    sample_before, sample_after = [None, *samples[:-1]], [*samples[1:], None]
    runs = [
        n is not None and (n != b or s != sb) and (n != a or s != sa) and item.mode != "chunk"
        for n, b, a, s, sb, sa, item in zip(numbers, before, after, samples, sample_before, sample_after, items)
    ]
    starts = [
        i
        for i, (run, run_before, n, b, s, sb) in enumerate(
            zip(runs, [False, *runs[:-1]], numbers, before, samples, sample_before)
        )
        if not (run and run_before and n == b + 1 and s == sb)
    ]
    return ResultPlan(runs, starts)


RESULT_MODE = operator.attrgetter("mode")


def indexes_of(flags):
    """The indexes of the non-zero bytes of `flags`, found in C (a plan's few)."""
    indexes, at = [], flags.find(1)
    while at >= 0:
        indexes.append(at)
        at = flags.find(1, at + 1)
    return indexes


def result_texts(sample, items, outcomes, fields, plan):
    """(text, lines, lines' fields()) blocks of the result lines of items (write_tsv_texts), RESULT_BLOCK_ROWS
    items a block: a run line per run, an item line per other item, in order. fields: the outcomes' counts,
    statuses and messages, and () when all are ok with no message (else None)."""
    counts, statuses, messages, usual = fields
    for first in range(0, len(items), RESULT_BLOCK_ROWS):
        end = min(first + RESULT_BLOCK_ROWS, len(items))
        if usual is None:  # the items not ok, or with a message: an item line each
            bad = [i for i in range(first, end) if statuses[i] != "ok" or messages[i] != ""]
        lines = result_block_lines(first, end, plan, bad if usual is None else usual)
        texts = []
        for line_first, line_end, is_run in lines:
            line_sample = sample or items[line_first].sample
            if is_run:
                counts_text = run_counts_text(counts[line_first:line_end])
                texts.append(
                    f"{RESULT_RUN}\t{line_sample}\t{items[line_first].region_id}\t\t\t\t\t{counts_text}\tok\t\n"
                )
            else:
                _, region_id, contig, start, end_, mode, count, status, message = result_row(
                    line_sample, items[line_first], outcomes[line_first]
                )
                texts.append(
                    f"{RESULT_ITEM}\t{line_sample}\t{region_id}\t{contig}\t{start}\t{end_}\t{mode}\t{count}\t{status}\t{message}\n"
                )

        def line_fields(lines=lines):
            return (result_line_fields(sample, items, outcomes, *line) for line in lines)

        yield "".join(texts), len(texts), line_fields


def result_line_fields(sample, items, outcomes, first, end, is_run):
    """The fields of the result line of items [first, end) (RESULT_FILE_COLUMNS), for write_tsv's lines."""
    if is_run:
        counts = run_counts_text([outcome.count for outcome in outcomes[first:end]])
        return [RESULT_RUN, sample or items[first].sample, items[first].region_id, "", "", "", "", counts, "ok", ""]
    return [RESULT_ITEM, *result_row(sample, items[first], outcomes[first])]


def result_block_lines(first, end, plan, bad):
    """(first, end, is a run) of the lines of items [first, end): the plan's lines, cut at the block's ends and
    around every item in `bad` (not ok, or with a message: an item line of its own)."""
    cuts = [first, *plan.starts[bisect.bisect_right(plan.starts, first) : bisect.bisect_left(plan.starts, end)]]
    if bad:
        cuts = sorted({*cuts, *bad, *(i + 1 for i in bad if i + 1 < end)})
        bad = set(bad)
    runs = plan.runs
    return [(a, b, runs[a] and a not in bad) for a, b in zip(cuts, [*cuts[1:], end])]


def result_row(sample, item, outcome):
    """The fields of an item's item line after its kind (RESULT_COLUMNS; a block's sample, when not None, stands
    for the item's)."""
    return [sample or item.sample, item.region_id, item.contig, item.start, item.end, item.mode, *outcome]


def run_counts_text(counts):
    """A run's counts joined by RESULT_RUN_SEPARATOR: looked up below 10,000 (a panel's usual counts)."""
    try:
        return RESULT_RUN_SEPARATOR.join(map(COUNT_TEXTS.__getitem__, counts))
    except KeyError:
        return RESULT_RUN_SEPARATOR.join(map(str, counts))


COUNT_TEXTS = {count: str(count) for count in range(10_000)}


class ResultRun(NamedTuple):
    """A run line of a unit result: one sample's counts of the regions first_id, first_id + 1, ..."""

    sample: str
    first_id: int
    counts: array  # 'q'
    line: int  # its line in the file (the header is line 1)


# Item lines read_results gives at a time.
RESULT_ROWS_AT_ONCE = 4096


def read_results(handle, what):
    """The results of a unit result, in order: a ResultRun per run line, and lists of the item lines between
    them (at most RESULT_ROWS_AT_ONCE at a time), each as its RESULT_COLUMNS fields. An older version's result
    (a header of RESULT_COLUMNS, no kind) is read as item lines, by its header's columns. TaskFileError naming
    the file for a header of neither version, or without one of the columns; and the line (blank lines not
    counted) for a line of another shape: another number of fields than the header (a cut line), another kind,
    a run whose id or counts are not plain numbers, an ok item whose count is not one."""
    lines = (line for line in handle if line.strip())
    header = next(lines, "").rstrip("\n").split("\t")
    current = header == RESULT_FILE_COLUMNS
    if current:
        at = list(range(1, len(RESULT_FILE_COLUMNS)))
    elif RESULT_KIND_COLUMN in header:
        raise TaskFileError(f"{what}: a unit result of another version of the pipeline (header {' '.join(header)})")
    else:
        try:
            at = column_indexes(header, RESULT_COLUMNS, what)
        except MissingColumns as err:
            raise TaskFileError(str(err)) from None
    as_is = at == list(range(len(RESULT_COLUMNS)))  # an older version's header as it wrote it
    at_count, at_status = at[RESULT_COLUMNS.index("count")], at[RESULT_COLUMNS.index("status")]
    n_fields, rows = len(header), []
    for number, line in enumerate(lines, start=2):
        fields = line.rstrip("\n").split("\t")
        if len(fields) != n_fields:
            problem = f"line {number} has {len(fields)} fields, not {n_fields}: a cut or malformed line"
            raise TaskFileError(f"{what}: {problem}")
        kind = fields[0] if current else RESULT_ITEM
        if kind == RESULT_RUN:
            if rows:
                yield rows
                rows = []
            yield result_run(fields, number, what)
            continue
        if kind != RESULT_ITEM:
            raise TaskFileError(f"{what}: line {number} is of no known kind ('{kind}')")
        count = fields[at_count]
        if fields[at_status] == "ok" and not (count.isascii() and count.isdigit()):
            raise TaskFileError(f"{what}: line {number}: the count '{count}' is not a number")
        rows.append(fields[1:] if current else fields if as_is else [fields[i] for i in at])
        if len(rows) == RESULT_ROWS_AT_ONCE:
            yield rows
            rows = []
    if rows:
        yield rows


def result_run(fields, number, what):
    """The ResultRun of a run line's fields (RESULT_FILE_COLUMNS of them); TaskFileError for another line."""
    _, sample, first_id, contig, start, end, mode, counts, status, message = fields
    texts = counts.split(RESULT_RUN_SEPARATOR)
    values = small_numbers(texts)
    if values is None and plain_numbers(texts, 18):
        values = list(map(int, texts))
    if (
        values is None
        or (contig, start, end, mode, status, message) != ("", "", "", "", "ok", "")
        or not (first_id.isascii() and first_id.isdigit())
    ):
        raise TaskFileError(f"{what}: line {number} is not a run of plain counts: a cut or malformed line")
    return ResultRun(sample, int(first_id), array("q", values), number)


def read_result_rows(handle, items, what="unit result"):
    """Every result of a unit result as a dict of RESULT_COLUMNS (texts), in the order count_unit.py writes them
    (the unit's own items, then its ALL_SAMPLES items once per sample), a run's items' contig, start, end and mode
    taken from the unit's `items`: for tests and people. TaskFileError at a result of another region."""
    own = [item for item in items if item.sample != ALL_SAMPLES]
    shared = [item for item in items if item.sample == ALL_SAMPLES]
    rows = []
    for result in read_results(handle, what):
        if isinstance(result, ResultRun):
            for region_id, count in zip(itertools.count(result.first_id), result.counts):
                k = len(rows)
                item = own[k] if k < len(own) else shared[(k - len(own)) % len(shared)] if shared else None
                if item is None or item.region_id != str(region_id) or item.sample not in (result.sample, ALL_SAMPLES):
                    raise TaskFileError(f"{what}: line {result.line}: region {region_id} is not the unit's next item")
                rows.append(result_row(result.sample, item, Outcome(count)))
        else:
            rows += result
    return [dict(zip(RESULT_COLUMNS, map(str, row))) for row in rows]


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
