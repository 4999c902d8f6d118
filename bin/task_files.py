"""The files that pass between the pipeline's tasks, each defined here once: its name, columns, row type,
reader and writer. The planner, the counter, the reducer and the matrix import them, so that a writer and
its reader cannot drift apart. Standard library only, Python 3.8: the counter's image has no numpy.

    file                                written by                  read by
    sample manifest (samples.tsv)       the modules (Groovy)        plan_units.py, count_unit.py
    unit file (units/unit_NNNN.tsv)     plan_units.py               count_unit.py
    unit_samples.tsv                    plan_units.py               workflows/regioncount.nf (a unit task's files)
    regions table (<s>.regions.tsv)     plan_units.py               reduce_counts.py
    unit result (<unit>.result.tsv)     count_unit.py               reduce_counts.py
    count file (<s>/<s>_count.txt)      reduce_counts.py            utils_run_summary (the run summary), the user
    counts table (<s>/<s>.counts.tsv)   reduce_counts.py            counts_matrix.py
    failures.txt                        reduce_counts.py            counts_matrix.py
"""

import contextlib
import itertools
import os
from array import array
from dataclasses import dataclass
from sys import intern
from typing import NamedTuple, Optional

from tsv_files import MissingColumns, column_indexes, iter_columns, iter_tsv, write_tsv


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
    rows = (
        [i.sample, i.region_id, i.contig, i.start, i.end, int(i.whole_contig), i.mode, int(i.open_end)] for i in items
    )
    write_tsv(path, UNIT_COLUMNS, rows)


def read_unit(lines, what="unit file"):
    """The UnitItems of a unit file, its columns picked by position: a dict per row would cost more than
    counting a panel's region. TaskFileError (one line) for a missing column or a malformed row."""
    lines = iter(lines)
    header = next((line for line in lines if line.strip()), "")
    fields = header.rstrip("\n").split("\t")
    columns = [column for column in UNIT_COLUMNS if column not in UNIT_OPTIONAL_COLUMNS or column in fields]
    number = 1  # the header's line
    try:
        rows = iter_columns(itertools.chain([header], lines), columns, what)
        items = []
        for number, (sample, region_id, contig, start, end, whole, mode, *rest) in enumerate(rows, start=2):  # noqa: B007 (named in the errors below)
            # One string per sample and contig, not one per row.
            item = UnitItem(intern(sample), region_id, intern(contig), int(start), int(end), whole == "1", mode)
            items.append(item._replace(open_end=True) if rest and rest[0] == "1" else item)
    except IndexError as err:  # a short row
        raise TaskFileError(f"{what}: line {number + 1} is malformed ({err!r})") from None
    except MissingColumns as err:
        raise TaskFileError(str(err)) from None
    except ValueError as err:  # a start that is no number
        raise TaskFileError(f"{what}: line {number} is malformed ({err!r})") from None
    return items


def write_unit_samples(path, unit_samples):
    """unit_samples.tsv: (unit file name, sample) pairs, the samples whose files each unit is counted in."""
    write_tsv(path, UNIT_SAMPLES_COLUMNS, unit_samples)


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
    (n_items: region id -> items), written as made: a panel's rows are never held."""
    rows = ([r.region_id, r.name, r.contig, r.start, r.end, r.end - r.start, n_items[r.region_id]] for r in regions)
    write_tsv(path, REGION_COLUMNS, rows)


class RegionsTable:
    """The columns of a regions table the reducer needs, read once for every sample whose table is this file:
    the samples of a shared plan have hard links to one table. Flat arrays indexed by region order (region_id
    1, 2, ...): a panel's 1,000,000 regions take ~20 MB here. Names are not kept: the table is read again
    when the files are written (rows)."""

    def __init__(self, path):
        self.path = path
        self.expected_items, self.starts, self.ends = array("i"), array("q"), array("q")
        with open(path) as handle:
            rows = iter_columns(handle, ["region_id", "items", "start", "end"], path)
            for number, (region_id, items, start, end) in enumerate(rows, start=1):
                if int(region_id) != number:
                    raise ValueError(f"{path}: region ids must be 1, 2, ... in order (row {number})")
                self.expected_items.append(int(items))
                self.starts.append(int(start))
                self.ends.append(int(end))

    def __len__(self):
        return len(self.expected_items)

    def rows(self):
        """(index, name, length text) of every region, in order."""
        with open(self.path) as handle:
            for index, (name, length) in enumerate(iter_columns(handle, ["name", "length"], self.path)):
                yield index, name, length


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
    None, stands for the ALL_SAMPLES of its items); returns (items, failed items, samples)."""
    tally = {"items": 0, "failed": 0, "samples": set()}

    def rows():
        for sample, items, outcomes in blocks:
            for item, o in zip(items, outcomes):
                tally["items"] += 1
                tally["failed"] += o.status != "ok"
                yield [
                    sample or item.sample,
                    item.region_id,
                    item.contig,
                    item.start,
                    item.end,
                    item.mode,
                    o.count,
                    o.status,
                    o.message,
                ]
            tally["samples"].update([sample] if sample else (item.sample for item in items))

    write_tsv(path, RESULT_COLUMNS, rows())
    return tally["items"], tally["failed"], len(tally["samples"])


def result_lines(handle, what):
    """(positions of RESULT_READ_COLUMNS in a unit result's header, the lines of its rows, unsplit): the reducer
    splits a panel's millions of rows itself, a split each. MissingColumns for a header without one."""
    lines = (line for line in handle if line.strip())
    return column_indexes(next(lines, "").rstrip("\n").split("\t"), RESULT_READ_COLUMNS, what), lines


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
    are `regions` ((index, name, length text) in order, RegionsTable.rows), in one pass over them, each
    through a temporary name; a count file is put in place last, so that it is there only when both of its
    sample's files are complete."""
    with contextlib.ExitStack() as stack:
        files = []
        for counts, count_path, table_path in outputs:
            count_file = stack.enter_context(open(f"{count_path}.tmp", "w"))
            table_file = stack.enter_context(open(f"{table_path}.tmp", "w"))
            table_file.write("\t".join(COUNTS_TABLE_COLUMNS) + "\n")
            files.append((counts, count_file.write, table_file.write))
        for index, name, length in regions:
            for counts, write_count, write_table in files:
                count = counts[index]
                write_count(f"Region {name}: {count}\n")
                write_table(f"{name}\t{length}\t{count}\n")
        for counts, write_count, _ in files:
            write_count(f"Total reads: {sum(counts)}\n")
    for _, count_path, table_path in outputs:
        os.replace(f"{table_path}.tmp", table_path)
        os.replace(f"{count_path}.tmp", count_path)


def counts_table_rows(handle, path):
    """(region, length text, count) of each line of a counts table; TaskFileError naming the file and line
    for another header or a row that is not region, length and a non-negative integer count."""
    lines = (line for line in handle if line.strip())
    if next(lines, "").rstrip("\r\n").split("\t") != COUNTS_TABLE_COLUMNS:
        raise TaskFileError(f"{path}: expected the header '{chr(9).join(COUNTS_TABLE_COLUMNS)}'")
    for lineno, line in enumerate(lines, start=2):
        row = line.rstrip("\r\n").split("\t")
        if len(row) != len(COUNTS_TABLE_COLUMNS) or not (
            row[1].isascii() and row[1].isdigit() and row[2].isascii() and row[2].isdigit()
        ):
            raise TaskFileError(f"{path}: line {lineno}: expected region, length and a non-negative integer count")
        yield row[0], row[1], int(row[2])


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
