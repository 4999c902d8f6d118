"""Unit tests for bin/task_files.py: each file between tasks read back as written, its exact text where the
user or main.nf reads it, and its reader's one-line error on a file of another shape."""

import ast
import os
import subprocess
import sys

import plan_units
import pytest
import task_files as tf
from conftest import ROOT
from tsv_files import MissingColumns, block_columns, write_lines, write_tsv

# Contig and region names as users write them: ranges, HLA alleles, shell characters, spaces.
NAMES = ["chr1", "chr3:100-200", "HLA-A*01:01:01:01", "x$y;z&w|v'q", "a b"]
UNIT_HEADER = "\t".join(tf.UNIT_COLUMNS) + "\n"


def test_a_unit_file_reads_back_what_the_planner_wrote(tmp_path):
    planned = [
        plan_units.Item(1, NAMES[0], 0, 1000, "single", 5.0, False, False, "s1"),
        plan_units.Item(1, NAMES[0], 1000, 2000, "chunk", 5.0, False, False, "s1"),
        plan_units.Item(2, NAMES[1], 0, 20000, "batch", 1.0, True, True, "s1"),
        plan_units.Item(3, NAMES[2], 10, 300, "batch", 1.0, False, False, "s 2"),
        plan_units.Item(4, NAMES[3], 0, 3000, "pass", 1.0, True, True, tf.ALL_SAMPLES),
    ]
    path = tmp_path / tf.unit_file_name(7)
    tf.write_unit(str(path), planned)
    assert path.name == "unit_0007.tsv"
    lines = path.read_text().splitlines()
    assert lines[0].split("\t") == tf.UNIT_COLUMNS
    assert lines[3] == f"s1\t2\t{NAMES[1]}\t0\t20000\t1\tbatch\t1"
    with open(path) as handle:
        items = tf.read_unit(handle)
    assert items == [
        tf.UnitItem(p.sample, str(p.region_id), p.contig, p.start, p.end, p.whole_contig, p.mode, p.open_end)
        for p in planned
    ]


def test_a_unit_file_without_open_end_reads_as_not_open_ended():
    lines = ["sample\tregion_id\tcontig\tstart\tend\twhole\tmode\n", "s\t1\tc\t0\t10\t1\tsingle\n"]
    assert tf.read_unit(lines) == [tf.UnitItem("s", "1", "c", 0, 10, True, "single", False)]


@pytest.mark.parametrize(
    "text, problem",
    [
        ("sample\tregion_id\tstart\tend\twhole\tmode\topen_end\n", "units.tsv: no column contig in the header"),
        (UNIT_HEADER + "s\t1\tc\tx\t10\t0\tsingle\t0\n", "units.tsv: line 2 is malformed (ValueError("),
        (UNIT_HEADER + "s\t1\tc\t0\t10\t0\tsingle\t0\ns\t2\tc\n", "units.tsv: line 3 is malformed (IndexError("),
    ],
    ids=["missing-column", "not-a-number", "short-row"],
)
def test_a_unit_file_of_another_shape_is_one_line(text, problem):
    with pytest.raises(tf.TaskFileError) as err:
        tf.read_unit(text.splitlines(keepends=True), "units.tsv")
    assert str(err.value).startswith(problem)
    assert "\n" not in str(err.value)


def test_a_unit_file_reads_by_blocks_what_it_reads_row_by_row(monkeypatch):
    """read_unit splits a block of lines at once; a block it cannot vouch for (a blank line, a long row, a
    start that is no plain number, columns in another order) is read row by row: the same items, and an error
    names the line (blank lines not counted) it named row by row (as the reader before blocks did), in any block."""
    monkeypatch.setattr(tf, "UNIT_BLOCK_LINES", 2)
    rows = [f"s\t{i}\t{NAMES[i % 5]}\t{i}\t{i + 10}\t{i % 2}\tbatch\t{i // 3 % 2}\n" for i in range(9)]
    rows[4] = rows[4].replace("\t4\t14\t", "\t+4\t 14\t")  # int() reads them: so do both
    rows[6] = rows[6].rstrip("\n") + "\textra\n"
    lines = [UNIT_HEADER, *rows[:3], "\n", *rows[3:]]
    expected = tf.unit_row_items(rows, range(8), 2, "unit")
    assert expected[4][3:5] == (4, 14) and expected[0].open_end is False and expected[3].open_end is True
    assert tf.read_unit(lines) == expected
    reordered = ["\t".join(reversed(line.rstrip("\n").split("\t"))) + "\n" for line in [UNIT_HEADER, *rows[:6]]]
    assert tf.read_unit(reordered) == expected[:6]
    with pytest.raises(tf.TaskFileError, match="^u: line 8 is malformed \\(ValueError"):
        tf.read_unit([*lines[:8], "s\t7\tc\tx\t17\t1\tbatch\t0\n"], "u")
    with pytest.raises(tf.TaskFileError, match="^u: line 7 is malformed \\(IndexError"):
        tf.read_unit([*lines[:7], "s\t1\n"], "u")


def test_a_manifest_reads_every_sample_in_order_with_the_names_for_messages():
    lines = [
        "sample\talignments\tindex\tfile_name\tcheck_name\tindex_check_name\tindex_name\n",
        "b\taln1/alignments\taln1/alignments.index\tb.bam\t\t\tb.bam.bai\n",
        "\n",
        "a\taln2/alignments\t\ta.cram\thttps://x/a.cram\n",  # an empty index; trailing fields cut
    ]
    samples = tf.read_samples(lines)
    assert list(samples) == ["b", "a"]
    assert samples["b"] == tf.SampleFiles("b", "aln1/alignments", "aln1/alignments.index", "b.bam", "", "", "b.bam.bai")
    assert samples["a"] == tf.SampleFiles("a", "aln2/alignments", None, "a.cram", "https://x/a.cram")


def test_the_counters_manifest_has_no_names_for_messages():
    samples = tf.read_samples(["sample\talignments\tindex\n", "s\taln1/alignments\taln1/alignments.index\n"])
    assert samples == {"s": tf.SampleFiles("s", "aln1/alignments", "aln1/alignments.index")}


@pytest.mark.parametrize(
    "text, problem",
    [
        ("sample\tindex\ns\tx\n", "samples.tsv: no column alignments in the header"),
        ("sample\talignments\tindex\n\tx\ty\n", "samples.tsv: line 2 has no sample name or no alignments file"),
        ("sample\talignments\tindex\ns\tx\t\ns\ty\t\n", "samples.tsv: sample 's' is listed twice"),
    ],
    ids=["missing-column", "no-sample", "twice"],
)
def test_a_manifest_of_another_shape_is_one_line(text, problem):
    with pytest.raises(tf.TaskFileError) as err:
        tf.read_samples(text.splitlines(keepends=True), "samples.tsv")
    assert str(err.value) == problem


def test_unit_samples_lists_each_units_samples(tmp_path):
    path = tmp_path / tf.UNIT_SAMPLES_FILE
    tf.write_unit_samples(str(path), [[tf.unit_file_name(1), "a"], [tf.unit_file_name(1), "b"], ["unit_0002.tsv", "a"]])
    assert path.read_text() == "unit\tsample\nunit_0001.tsv\ta\nunit_0001.tsv\tb\nunit_0002.tsv\ta\n"


def test_a_regions_table_reads_back_for_the_reducer(tmp_path):
    regions = [plan_units.Region(i, name, name, 10 * i, 10 * i + 5 + i) for i, name in enumerate(NAMES, start=1)]
    n_items = {1: 1, 2: 3, 3: 1, 4: 1, 5: 2}
    path = tmp_path / tf.regions_table_name("s 1")
    tf.write_regions_table(str(path), regions, n_items)
    assert tf.sample_of(str(path), tf.REGIONS_SUFFIX) == "s 1"
    assert path.read_text().splitlines()[:2] == ["\t".join(tf.REGION_COLUMNS), "1\tchr1\tchr1\t10\t16\t6\t1"]
    table = tf.RegionsTable(str(path))
    assert len(table) == len(regions)
    assert list(table.expected_items) == [1, 3, 1, 1, 2]
    assert list(table.starts) == [r.start for r in regions] and list(table.ends) == [r.end for r in regions]
    assert list(table.rows()) == [(i, r.name, str(r.end - r.start)) for i, r in enumerate(regions)]


def test_a_regions_table_out_of_order_is_refused(tmp_path):
    path = tmp_path / "s.regions.tsv"
    path.write_text("\t".join(tf.REGION_COLUMNS) + "\n2\tc\tc\t0\t5\t5\t1\n")
    with pytest.raises(ValueError, match="region ids must be 1, 2, ... in order"):
        tf.RegionsTable(str(path))


def test_a_unit_result_is_read_by_the_columns_the_reducer_needs(tmp_path):
    items = [
        tf.UnitItem("s", "1", NAMES[2], 0, 10, False, "batch"),
        tf.UnitItem("t", "2", NAMES[3], 5, 9, False, "single"),
    ]
    shared = [tf.UnitItem(tf.ALL_SAMPLES, "3", "c", 0, 100, True, "batch", True)]
    blocks = [
        (None, items, [tf.Outcome(4), tf.Outcome(0, "error", "samtools reported an error: x")]),
        ("a", shared, [tf.Outcome(7)]),
        ("b", shared, [tf.Outcome(8)]),
    ]
    path = tmp_path / "unit_0001.result.tsv"
    assert tf.write_results(str(path), iter(blocks)) == (4, 1, 4)  # items, failed items, samples
    with open(path) as handle:
        columns, lines = tf.result_lines(handle, str(path))
        rows = [[line.rstrip("\n").split("\t")[i] for i in columns] for line in lines]
    assert [tf.RESULT_COLUMNS[i] for i in columns] == tf.RESULT_READ_COLUMNS
    assert rows == [
        ["s", "1", NAMES[2], "0", "10", "4", "ok", ""],
        ["t", "2", NAMES[3], "5", "9", "0", "error", "samtools reported an error: x"],
        ["a", "3", "c", "0", "100", "7", "ok", ""],
        ["b", "3", "c", "0", "100", "8", "ok", ""],
    ]


def test_a_unit_results_counted_block_reads_in_runs_of_one_sample_as_split_in_full():
    """counted_rows reads a block of counted rows (status ok, no message) in runs of one sample each (where a
    group's unit result passes from one sample to the next) as block_columns splits it; any other block (a
    failed item, a sample met again, a short or long row, more runs than COUNTED_RUNS) is None: the reducer
    then splits it in full."""

    def line(sample, region_id, count=0, status="ok", message=""):
        return f"{sample}\t{region_id}\t{NAMES[region_id % 5]}\t{region_id}\t9\tbatch\t{count}\t{status}\t{message}\n"

    runs = "".join(line("a b", i, i) for i in range(1, 5)) + "".join(line("a", i) for i in range(1, 4))
    expected = block_columns(runs, len(tf.RESULT_COLUMNS), [0, 1, 6, 7])
    assert expected[0] == ["a b"] * 4 + ["a"] * 3 and expected[2][:4] == ["1", "2", "3", "4"]
    assert tf.counted_rows(runs) == expected
    assert tf.counted_rows(runs.rstrip("\n")) == expected  # the file's last line, without its line break
    assert tf.counted_rows(line("a", 7)) == [["a"], ["7"], ["0"], ["ok"]]
    for other in (
        runs + line("a b", 5),
        runs + line("c", 1, 0, "error", "samtools reported an error: x"),
        runs + line("c", 1, 3, "ok", "x"),
        runs + "c\tok\t\n",
        runs + line("c", 1).replace("\tbatch", "\tbatch\tx"),
        runs + line("c", 1).replace("\tbatch", ""),
        "".join(line(sample, 1) for sample in "abcdefgh"[: tf.COUNTED_RUNS + 1]),
    ):
        assert tf.counted_rows(other) is None, other


def test_a_unit_result_without_a_column_is_one_line(tmp_path):
    path = tmp_path / "r.result.tsv"
    path.write_text("sample\tregion_id\tcontig\tstart\tend\tmode\tcount\tmessage\n")
    with open(path) as handle, pytest.raises(MissingColumns) as err:
        tf.result_lines(handle, str(path))
    assert str(err.value) == f"{path}: no column status in the header"


def test_a_samples_count_file_and_counts_table_are_written_and_read_back(tmp_path):
    regions = [(0, "chr1", "400000"), (1, "HLA-A*01:01:01:01", "3503"), (2, "a b", "5")]
    outputs = []
    for sample, counts in (("s", [10, 0, 3]), ("t", [1, 2, 0])):
        os.makedirs(tmp_path / sample)
        outputs.append((counts, *tf.sample_count_paths(sample, str(tmp_path))))
    tf.write_sample_counts(iter(regions), outputs)
    count_path, table_path = tf.sample_count_paths("s", str(tmp_path))
    assert count_path == str(tmp_path / "s" / "s_count.txt")
    assert tf.sample_of(table_path, tf.COUNTS_TABLE_SUFFIX) == "s"
    with open(count_path) as handle:
        assert handle.read() == "Region chr1: 10\nRegion HLA-A*01:01:01:01: 0\nRegion a b: 3\nTotal reads: 13\n"
    with open(table_path) as handle:
        assert list(tf.counts_table_rows(handle, table_path)) == [
            ("chr1", "400000", 10),
            ("HLA-A*01:01:01:01", "3503", 0),
            ("a b", "5", 3),
        ]
    assert sorted(os.listdir(tmp_path / "t")) == ["t.counts.tsv", "t_count.txt"]  # no .tmp left


BAD_ROW = "expected region, length and a non-negative integer count"


@pytest.mark.parametrize(
    "text, problem",
    [
        ("region\tcount\nr\t1\n", "expected the header 'region\tlength\tcount'"),
        ("", "expected the header 'region\tlength\tcount'"),
        ("region\tlength\tcount\nr\t5\t1\nr\t5\t-1\n", f"line 3: {BAD_ROW}"),
        ("region\tlength\tcount\nr\t5\n", f"line 2: {BAD_ROW}"),
    ],
    ids=["header", "empty", "negative", "short"],
)
def test_a_counts_table_of_another_shape_is_one_line(tmp_path, text, problem):
    with pytest.raises(tf.TaskFileError) as err:
        list(tf.counts_table_rows(text.splitlines(keepends=True), "s.counts.tsv"))
    assert str(err.value) == f"s.counts.tsv: {problem}"


def test_a_file_named_otherwise_names_the_expected_name():
    with pytest.raises(tf.TaskFileError) as err:
        tf.sample_of("dir/.counts.tsv", tf.COUNTS_TABLE_SUFFIX)
    assert str(err.value) == "dir/.counts.tsv: expected a file named <sample>.counts.tsv"


def test_failure_reports_read_back_one_per_sample(tmp_path):
    reports = [
        tf.failure_report_text("sample 'a': 2 of 9 regions failed", ["region 'x': boom", "region 'y': bang"]),
        tf.failure_report_text("sample 'b': 1 of 9 regions failed", ["region 'z': 1 of 2 work items reported none"]),
    ]
    path = tmp_path / tf.FAILURES_FILE
    write_lines(str(path), reports)
    assert path.read_text().splitlines()[:2] == ["sample 'a': 2 of 9 regions failed", "  region 'x': boom"]
    assert tf.read_failures(str(path)) == reports


def test_the_counter_runs_on_the_standard_library_of_python_3_8():
    """The counter's image has Python 3.8 without numpy or pysam: count_unit.py and every bin/ module it imports
    load without them (a batch pass is then read as SAM text) and use no syntax newer than 3.8 (a parenthesized
    `with` made count_unit.py a SyntaxError there)."""
    code = (
        "import sys; sys.modules['numpy'] = sys.modules['pysam'] = None; "
        f"sys.path.insert(0, {os.path.join(ROOT, 'bin')!r}); "
        "import count_unit, count_modes; assert count_modes.bam_records is None; "
        "print('\\n'.join(sorted(m.__file__ for m in list(sys.modules.values()) "
        f"if getattr(m, '__file__', None) and m.__file__.startswith({os.path.join(ROOT, 'bin')!r}))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = result.stdout.split()
    assert {os.path.basename(m) for m in modules} >= {"count_unit.py", "task_files.py", "samtools_pipes.py"}
    for module in modules:
        with open(module) as handle:
            ast.parse(handle.read(), module, feature_version=(3, 8))


def test_a_regions_table_of_one_item_each_is_written_as_with_the_counts(tmp_path):
    """n_items None (the planner's regions counted by one item each) writes what a count of 1 for each does."""
    regions = [plan_units.Region(i, name, name, 10 * i, 10 * i + 5) for i, name in enumerate(NAMES, start=1)]
    tf.write_regions_table(str(tmp_path / "a.tsv"), regions, {i: 1 for i in range(1, len(NAMES) + 1)})
    tf.write_regions_table(str(tmp_path / "b.tsv"), regions, None)
    assert (tmp_path / "a.tsv").read_text() == (tmp_path / "b.tsv").read_text()


def test_unit_results_are_the_bytes_the_csv_writer_wrote_row_by_row(tmp_path, monkeypatch):
    """write_results joins a block's lines in C; a block with a tab in a field is written row by row as
    write_tsv writes it (csv module, or tsv_line for a row it refuses): the same bytes for names and messages
    with tabs, quotes, line breaks and carriage returns, counts past the looked-up ones, own and shared items,
    in blocks cut short (RESULT_BLOCK_ROWS)."""
    monkeypatch.setattr(tf, "RESULT_BLOCK_ROWS", 3)
    odd = [*NAMES, 'q"uote', "t\tab", "cr\rx", "new\nline", ""]
    own = [tf.UnitItem(f"s{i % 2}", str(i), name, i, i + 10, False, "single") for i, name in enumerate(odd)]
    shared = [tf.UnitItem(tf.ALL_SAMPLES, str(i), name, i, i + 5, False, "batch") for i, name in enumerate(NAMES)]
    plain = [tf.UnitItem(tf.ALL_SAMPLES, str(i), "chr1", i, i + 5, False, "batch") for i in range(7)]
    outcomes = [tf.Outcome(i * 4999) for i in range(len(odd))]
    outcomes[2] = tf.Outcome(0, "error", 'samtools: "x"\tfailed')
    blocks = [
        (None, own, outcomes),
        ("a", shared, [tf.Outcome(i) for i in range(len(shared))]),
        ("b\tc", shared, [tf.Outcome(0, "error", "boom")] * len(shared)),
        ("d", plain, [tf.Outcome(10**12 + i) for i in range(len(plain))]),
        ("e", plain, [tf.Outcome(i) for i in range(len(plain))]),
        ("e", [], []),
    ]
    path, expected = tmp_path / "fast.tsv", tmp_path / "rows.tsv"
    assert tf.write_results(str(path), iter(blocks)) == (34, 6, 6)  # items, failed items, samples
    rows = [tf.result_row(sample, i, o) for sample, items, outs in blocks for i, o in zip(items, outs)]
    write_tsv(str(expected), tf.RESULT_COLUMNS, rows)
    assert path.read_bytes() == expected.read_bytes()
    assert b"b c\t1\t" in path.read_bytes() and b'\tq"uote\t' in path.read_bytes()  # a tab a space, quotes as is


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("s1\tchr1\t1000\t12", None),
        ("s1\tchr1\t1000\t1²", "line 3 has a length or a count that is not a number"),
        ("s1\tchr1\t١٠٠٠\t12", "line 3 has a length or a count that is not a number"),
        ("s1\tchr1\t1000\t-1", "line 3 has a length or a count that is not a number"),
        ("s1\tchr1\t1000", "a row has fewer fields than the header"),
    ],
)
def test_index_statistics_read_back_and_a_bad_row_is_named(row, problem):
    lines = ["sample\tcontig\tlength\trecords\n", "s0\tchr1\t1000\t7\n", row + "\n"]
    if problem is None:
        assert tf.read_index_statistics(lines, "stats") == {"s0": [("chr1", 1000, 7)], "s1": [("chr1", 1000, 12)]}
        return
    with pytest.raises(tf.TaskFileError) as err:
        tf.read_index_statistics(lines, "stats")
    assert str(err.value) == f"stats: {problem}"
