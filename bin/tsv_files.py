"""Tab-separated files shared by the bin/ helpers: written through a temporary name, so that no reader
(nor a publish step) ever sees a half-written file, and read back as dicts. Fields never hold tabs or
newlines: SAM names cannot, and messages are flattened before writing."""

import csv
import itertools
import os


def write_lines(path, lines):
    """Write lines (any iterable: a generator streams) to path through path.tmp and an atomic rename."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as handle:
        handle.writelines(f"{line}\n" for line in lines)
    os.replace(tmp, path)


def write_tsv(path, header, rows):
    """A header row and rows of fields (any type, tabs in fields become spaces), through a temporary name.
    The csv module joins a row in C; a row it will not write unescaped (a tab, a quote, a line break in a
    field) is written by tsv_line instead."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE, escapechar=None)
        for row in itertools.chain([header], rows):
            try:
                if None in row:  # csv writes None as '', str() as 'None'
                    raise csv.Error("None")
                writer.writerow(row)
            except csv.Error:
                handle.write(tsv_line(row) + "\n")
    os.replace(tmp, path)


def tsv_line(row):
    line = "\t".join(map(str, row))
    if line.count("\t") != len(row) - 1:  # a field holds a tab (rarely): a space instead, the columns stay
        line = "\t".join(str(field).replace("\t", " ") for field in row)
    return line


def iter_tsv(lines):
    """Rows of a TSV with a header, as dicts, one at a time (a 1,000,000-row table is never held whole)."""
    header = None
    for line in lines:
        if not line.strip():
            continue
        fields = line.rstrip("\n").split("\t")
        if header is None:
            header = fields
        else:
            yield dict(zip(header, fields))


class MissingColumns(ValueError):
    """A TSV's header lacks columns its reader needs."""


def column_indexes(header, columns, what="table"):
    """The positions of `columns` in a header's fields; MissingColumns naming those it lacks."""
    missing = [column for column in columns if column not in header]
    if missing:
        raise MissingColumns(f"{what}: no column {', '.join(missing)} in the header")
    return [header.index(column) for column in columns]


def iter_columns(lines, columns, what="table"):
    """The named columns of each row of a TSV with a header, as lists in the order of `columns`, one row at a
    time: a dict per row costs more than the rest of a reducer's work. ValueError when a column is missing."""
    rows = (line.rstrip("\n").split("\t") for line in lines if line.strip())
    header = next(rows, None)
    if header is None:
        return
    indexes = column_indexes(header, columns, what)
    for row in rows:
        yield [row[i] for i in indexes]


def read_tsv(lines):
    """Rows of a TSV with a header, as dicts."""
    rows = [line.rstrip("\n").split("\t") for line in lines if line.strip()]
    if not rows:
        return []
    header = rows[0]
    return [dict(zip(header, row)) for row in rows[1:]]
