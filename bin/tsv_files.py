"""Tab-separated files shared by the bin/ helpers: written through a temporary name, so that no reader
(nor a publish step) ever sees a half-written file, and read back as dicts. Fields never hold tabs or
newlines: SAM names cannot, and messages are flattened before writing."""

import csv
import itertools
import os
from array import array


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


# Rows a write_formatted_tsv block holds: a few hundred kB of text at a time.
BLOCK_ROWS = 4096


def write_formatted_tsv(path, header, records, lines_of, row_of):
    """write_tsv's file of records, faster for a panel's hundreds of thousands of rows: the lines of a block of
    records are made by lines_of(block) (f-strings of their fields, tab-separated, each ending in a line
    break), not by the csv module from a list of each record's fields. A block whose lines hold more tabs
    than its columns (a field with a tab, rarely) is made again, a tsv_line of row_of(record) a record, as
    write_tsv writes it. The csv module writes its rows as tsv_line does, or refuses them and write_tsv
    writes tsv_line (tested)."""
    records = iter(records)

    def texts():
        for block in iter(lambda: list(itertools.islice(records, BLOCK_ROWS)), []):
            yield "".join(lines_of(block)), len(block), lambda block=block: map(row_of, block)

    write_tsv_texts(path, header, texts())


def write_tsv_texts(path, header, texts):
    """write_tsv's file of rows given as (text, rows in it, rows()) blocks: the text of each block's lines (fields
    tab-separated, each line ending in a line break), made by the caller as it likes (joined in C), written
    when it holds exactly its rows' tabs (tsv_text); rows() gives its rows' fields for write_tsv's lines."""
    tabs = len(header) - 1
    tmp = f"{path}.tmp"
    with open(tmp, "w", newline="") as handle:
        handle.write(tsv_line(header) + "\n")
        for text, n_rows, rows in texts:
            handle.write(tsv_text(text, n_rows, tabs, rows))
    os.replace(tmp, path)


def tsv_text(text, n_rows, tabs, rows):
    """The lines of n_rows rows of tabs + 1 fields as write_tsv writes them: `text`, their fields joined, when
    it holds tabs x n_rows tabs; else (a field holds a tab, rarely) a tsv_line of each of rows(). Joined fields
    are what write_tsv writes: the csv module writes a row as tsv_line does, or refuses it (a quote or a line
    break in a field) and write_tsv writes its tsv_line; tsv_line joins fields without a tab unchanged."""
    if text.count("\t") == tabs * n_rows:
        return text
    return "".join(tsv_line(row) + "\n" for row in rows())


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


# Characters read at a time by text_blocks: a block's split fields (~25,000 rows) take ~15 MB.
BLOCK_CHARS = 1 << 20


def text_blocks(handle, size=BLOCK_CHARS):
    """The rest of a file as blocks of whole lines of about `size` characters: a panel's tables are split a block
    at a time by C-level string methods (block_columns), never held whole."""
    while True:
        text = handle.read(size)
        if not text:
            return
        if not text.endswith("\n"):
            text += handle.readline()
        yield text


def block_columns(text, n_fields, wanted):
    """The columns at positions `wanted` (lists of field texts, one per line) of a block of lines that all have
    exactly n_fields tab-separated fields; None for any other block (a blank line, a short or long row), which
    the caller reads line by line. Split in C: each line break becomes a field of its own, so the rows are
    regular exactly when every (n_fields + 1)-th field is a line break."""
    if not text.endswith("\n"):
        text += "\n"
    n_lines = text.count("\n")
    fields = text.replace("\n", "\t\n\t").split("\t")
    fields.pop()  # the empty field after the last line break
    stride = n_fields + 1
    if len(fields) != n_lines * stride or fields[n_fields::stride].count("\n") != n_lines:
        return None
    return [fields[i::stride] for i in wanted]


def plain_numbers(texts, max_digits=None):
    """Whether every text is a non-empty run of ASCII digits (of at most max_digits): what int() reads
    without fail, checked in C on the texts joined."""
    joined = "".join(texts)
    if not (joined.isascii() and joined.encode().isdigit()) or "" in texts:  # bytes.isdigit: a table look-up
        return False
    return max_digits is None or max(map(len, texts), default=0) <= max_digits


def int_array(typecode, texts):
    """array(typecode) of the integers written in `texts`, or None when one is no integer or does not fit."""
    try:
        return array(typecode, map(int, texts))
    except (ValueError, OverflowError):
        return None


# The value of each plain number below 10,000 by its text: a look-up is ~4 times cheaper than int() (which first
# copies its text), and a panel's counts are mostly such numbers.
SMALL_NUMBERS = {str(number): number for number in range(10_000)}


def small_numbers(texts):
    """The values of texts that are all plain numbers below 10,000 (no sign, no leading zero), as a list; None
    when one is another text (the caller reads them by int())."""
    try:
        return list(map(SMALL_NUMBERS.__getitem__, texts))
    except KeyError:
        return None
