"""Unit tests for bin/task_files.py: each file between tasks read back as written, its exact text where the
user or main.nf reads it, and its reader's one-line error on a file of another shape."""

import ast
import os
import random
import subprocess
import sys

import plan_units
import pytest
import task_files as tf
from conftest import ROOT
from tsv_files import write_lines, write_tsv

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


def test_a_unit_result_is_runs_of_the_usual_results_and_item_lines_of_the_others(tmp_path):
    """A sample's items ok with no message, counting regions n, n + 1, ... once each, are one run line; a piece of
    a region split in the unit, a failure, a message, an id that is no plain number are item lines. read_results
    gives them back in order, a run's counts as numbers."""
    items = [
        tf.UnitItem("s", "1", NAMES[2], 0, 10, False, "batch"),
        tf.UnitItem("s", "2", NAMES[3], 5, 9, False, "single"),
        tf.UnitItem("s", "3", NAMES[0], 0, 500, False, "single"),  # a region split in two pieces
        tf.UnitItem("s", "3", NAMES[0], 500, 1000, False, "chunk"),
        tf.UnitItem("s", "4", NAMES[4], 0, 9, False, "batch"),
        tf.UnitItem("t", "5", NAMES[1], 5, 9, False, "single"),
    ]
    shared = [tf.UnitItem(tf.ALL_SAMPLES, str(i), "c", 0, 100, True, "batch", True) for i in (6, 7, 8)]
    own = [tf.Outcome(4), tf.Outcome(12_345), tf.Outcome(1), tf.Outcome(2), tf.Outcome(0), tf.Outcome(3)]
    blocks = [
        (None, items, own),
        ("a", shared, [tf.Outcome(7), tf.Outcome(0, "error", "samtools reported an error: x"), tf.Outcome(9)]),
        ("b", shared, [tf.Outcome(8)] * 3),
    ]
    path = tmp_path / "unit_0001.result.tsv"
    assert tf.write_results(str(path), iter(blocks)) == (12, 1, 4)  # items, failed items, samples
    assert path.read_text() == "".join(
        line.replace("|", "\t") + "\n"
        for line in [
            "kind|sample|region_id|contig|start|end|mode|count|status|message",
            "run|s|1|||||4,12345|ok|",
            f"item|s|3|{NAMES[0]}|0|500|single|1|ok|",
            f"item|s|3|{NAMES[0]}|500|1000|chunk|2|ok|",
            "run|s|4|||||0|ok|",
            "run|t|5|||||3|ok|",
            "run|a|6|||||7|ok|",
            "item|a|7|c|0|100|batch|0|error|samtools reported an error: x",
            "run|a|8|||||9|ok|",
            "run|b|6|||||8,8,8|ok|",
        ]
    )
    with open(path) as handle:
        results = list(tf.read_results(handle, str(path)))
    run = results[0]
    assert (run.sample, run.first_id, list(run.counts), run.line) == ("s", 1, [4, 12_345], 2)
    assert results[1] == [
        ["s", "3", NAMES[0], "0", "500", "single", "1", "ok", ""],
        ["s", "3", NAMES[0], "500", "1000", "chunk", "2", "ok", ""],
    ]
    assert results[5] == [["a", "7", "c", "0", "100", "batch", "0", "error", "samtools reported an error: x"]]
    assert [(r.sample, r.first_id, list(r.counts)) for r in results[2:5] + results[6:]] == [
        ("s", 4, [0]),
        ("t", 5, [3]),
        ("a", 6, [7]),
        ("a", 8, [9]),
        ("b", 6, [8, 8, 8]),
    ]
    with open(path) as handle:
        rows = tf.read_result_rows(handle, items + shared)
    assert [list(row.values()) for row in rows] == [
        list(map(str, tf.result_row(sample, i, o))) for sample, its, outs in blocks for i, o in zip(its, outs)
    ]


def test_an_older_versions_unit_result_is_read_as_item_lines(tmp_path):
    """A result cached by -resume from before the runs (a header of RESULT_COLUMNS, no kind, its columns in any
    order) reads as the item lines it holds."""
    path = tmp_path / "r.result.tsv"
    path.write_text(
        "sample\tregion_id\tcontig\tstart\tend\tmode\tcount\tstatus\tmessage\n"
        "s\t1\tc\t0\t10\tbatch\t4\tok\t\n\ns\t2\tc\t10\t20\tsingle\t0\terror\tboom\n"
    )
    with open(path) as handle:
        assert list(tf.read_results(handle, str(path))) == [
            [
                ["s", "1", "c", "0", "10", "batch", "4", "ok", ""],
                ["s", "2", "c", "10", "20", "single", "0", "error", "boom"],
            ]
        ]
    path.write_text(
        "mode\tstatus\tsample\tregion_id\tcontig\tstart\tend\tcount\tmessage\tx\nbatch\tok\ts\t1\tc\t0\t9\t4\t\ty\n"
    )
    with open(path) as handle:
        assert list(tf.read_results(handle, str(path))) == [[["s", "1", "c", "0", "9", "batch", "4", "ok", ""]]]


def test_a_unit_result_without_a_column_is_one_line(tmp_path):
    path = tmp_path / "r.result.tsv"
    path.write_text("sample\tregion_id\tcontig\tstart\tend\tmode\tcount\tmessage\n")
    with open(path) as handle, pytest.raises(tf.TaskFileError) as err:
        list(tf.read_results(handle, str(path)))
    assert str(err.value) == f"{path}: no column status in the header"


RESULT_HEADER = "\t".join(tf.RESULT_FILE_COLUMNS) + "\n"
CUT = "a cut or malformed line"
OTHER_VERSION = "a unit result of another version of the pipeline"


@pytest.mark.parametrize(
    "text, problem",
    [
        (RESULT_HEADER + "run\ts\t1\t\t\t\t\t4\tok\t\nrun\ts\t2\t\t\t\t\t4,0,", f"line 3 has 8 fields, not 10: {CUT}"),
        (RESULT_HEADER + "run\ts\t1\t\t\t\t\t4,0,\tok\t\n", f"line 2 is not a run of plain counts: {CUT}"),
        (RESULT_HEADER + "run\ts\t1\t\t\t\t\t4,-1\tok\t\n", f"line 2 is not a run of plain counts: {CUT}"),
        (RESULT_HEADER + "run\ts\t1\t\t\t\t\t4, 1\tok\t\n", f"line 2 is not a run of plain counts: {CUT}"),
        (RESULT_HEADER + "run\ts\tx\t\t\t\t\t4\tok\t\n", f"line 2 is not a run of plain counts: {CUT}"),
        (RESULT_HEADER + "run\ts\t1\t\t\t\t\t4\terror\tboom\n", f"line 2 is not a run of plain counts: {CUT}"),
        (RESULT_HEADER + "run\ts\t1\tc\t0\t9\tbatch\t4\tok\t\n", f"line 2 is not a run of plain counts: {CUT}"),
        (RESULT_HEADER + "item\ts\t1\tc\t0\t9\tbatch\t4\to", f"line 2 has 9 fields, not 10: {CUT}"),
        (RESULT_HEADER + "item\ts\t1\tc\t0\t9\tbatch\tx\tok\t\n", "line 2: the count 'x' is not a number"),
        (RESULT_HEADER + "item\ts\t1\tc\t0\t9\tbatch\t-1\tok\t\n", "line 2: the count '-1' is not a number"),
        (RESULT_HEADER + "items\ts\t1\tc\t0\t9\tbatch\t1\tok\t\n", "line 2 is of no known kind ('items')"),
        ("kind\tsample\tcounts\ns\t1,2\n", f"{OTHER_VERSION} (header kind sample counts)"),
        ("\t".join(tf.RESULT_COLUMNS) + "\ns\t1\tc\t0\t9\tbatch\t4\tok\n", f"line 2 has 8 fields, not 9: {CUT}"),
    ],
    ids=["cut-run", "cut-count", "negative", "space", "run-id", "run-status", "run-fields", "cut-item", "item-count",
         "item-negative", "kind", "version", "old-cut"],
)  # fmt: skip
def test_a_unit_result_of_another_shape_is_one_line_naming_it(text, problem):
    with pytest.raises(tf.TaskFileError) as err:
        list(tf.read_results(text.splitlines(keepends=True), "u.result.tsv"))
    assert str(err.value) == f"u.result.tsv: {problem}"


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


def result_lines_one_by_one(blocks, block_rows):
    """The fields of a unit result's lines as task_files' docstring says, made one result at a time: the usual
    results (ok, no message, a plain id, no chunk, not the id of a neighbouring item of their sample) in runs of
    consecutive ids of one sample within a block of block_rows items; each other result an item line."""
    lines, last = [], None  # last: (sample, id) of the run the line before is, or None

    def plain(region_id):
        return region_id.isascii() and region_id.isdigit() and region_id[0] != "0"

    for sample, items, outcomes in blocks:
        for k, (item, outcome) in enumerate(zip(items, outcomes)):
            neighbours = [items[j] for j in (k - 1, k + 1) if 0 <= j < len(items)]
            usual = (
                outcome.status == "ok"
                and outcome.message == ""
                and plain(item.region_id)
                and item.mode != "chunk"
                and not any(n.sample == item.sample and n.region_id == item.region_id for n in neighbours)
            )
            line_sample = sample or item.sample
            if not usual:
                lines.append([tf.RESULT_ITEM, *tf.result_row(sample, item, outcome)])
                last = None
            elif last == (line_sample, int(item.region_id) - 1) and k % block_rows:
                lines[-1][7] += f",{outcome.count}"
            else:
                lines.append([tf.RESULT_RUN, line_sample, item.region_id, "", "", "", "", str(outcome.count), "ok", ""])
            last = (line_sample, int(item.region_id)) if usual else None
    return lines


def odd_results(rng, n_items, names, samples=("s0", "s1")):
    """Items of own samples and shared ones with their outcomes, as write_results gets them: runs, pieces of split
    regions, chunks alone, ids that are no plain numbers, failures and messages, counts past 10,000."""

    def outcome():
        roll = rng.random()
        if roll < 0.08:
            return tf.Outcome(0, "error", rng.choice(['samtools: "x"\tfailed', "boom", ""]))
        if roll < 0.1:
            return tf.Outcome(rng.randrange(5), "ok", "a warning")
        return tf.Outcome(rng.choice([0, 1, 2, 9_999, 10_000, 123_456, 10**12]))

    def items_of(sample, first_id):
        items, region_id = [], first_id
        while len(items) < n_items:
            roll, name = rng.random(), rng.choice(names)
            region_id += 1 if roll < 0.9 else rng.randrange(2, 5)
            if roll < 0.05:  # a split region: its pieces
                pieces = [tf.UnitItem(sample, str(region_id), name, 0, 10, False, "single")]
                pieces += [
                    tf.UnitItem(sample, str(region_id), name, 10 * p, 10 * p + 10, False, "chunk") for p in (1, 2)
                ]
                items += pieces[: rng.randrange(1, 4)]
            elif roll < 0.07:  # a chunk alone (the other pieces in another unit)
                items.append(tf.UnitItem(sample, str(region_id), name, 10, 20, False, "chunk"))
            elif roll < 0.08:
                items.append(tf.UnitItem(sample, rng.choice(["x", "07", "0", "1 2"]), name, 0, 5, False, "batch"))
            else:
                items.append(tf.UnitItem(sample, str(region_id), name, 0, 5, rng.random() < 0.5, "batch"))
        return items

    own = [item for sample in samples for item in items_of(sample, 0)]
    own = own[: n_items // 2] + sorted(own[n_items // 2 :], key=lambda item: rng.random())  # some interleaved
    shared = items_of(tf.ALL_SAMPLES, 1000)
    blocks = [(None, own, [outcome() for _ in own])]
    blocks += [(sample, shared, [outcome() for _ in shared]) for sample in ("a", "b\tc", "d")]
    return blocks + [("e", [], [])]


@pytest.mark.parametrize("block_rows", [3, 7, 1 << 16])
def test_unit_results_are_the_lines_the_format_says_as_write_tsv_writes_them(tmp_path, monkeypatch, block_rows):
    """write_results joins a block's lines in C; the same bytes as write_tsv's of the lines the format says, made
    one result at a time (result_lines_one_by_one): names and messages with tabs, quotes, line breaks and carriage
    returns (a tab a space, as write_tsv writes them), counts past the looked-up ones, own and shared items, runs
    cut at the blocks' ends (RESULT_BLOCK_ROWS)."""
    monkeypatch.setattr(tf, "RESULT_BLOCK_ROWS", block_rows)
    blocks = odd_results(random.Random(block_rows), 300, [*NAMES, 'q"uote', "t\tab", "cr\rx", "new\nline", ""])
    path, expected = tmp_path / "fast.tsv", tmp_path / "lines.tsv"
    n_items = sum(len(items) for _, items, _ in blocks)
    n_failed = sum(o.status != "ok" for _, _, outcomes in blocks for o in outcomes)
    assert tf.write_results(str(path), iter(blocks)) == (n_items, n_failed, 6)  # items, failed, samples (e with none)
    lines = result_lines_one_by_one(blocks, block_rows)
    write_tsv(str(expected), tf.RESULT_FILE_COLUMNS, lines)
    assert path.read_bytes() == expected.read_bytes()
    kinds = [line[0] for line in lines]
    assert kinds.count(tf.RESULT_RUN) > 20 and kinds.count(tf.RESULT_ITEM) > 20
    assert b"b c\t" in path.read_bytes() and b'\tq"uote\t' in path.read_bytes()  # a tab a space, quotes as is


@pytest.mark.parametrize("block_rows", [5, 1 << 16])
def test_unit_results_read_back_as_the_rows_an_older_version_wrote(tmp_path, monkeypatch, block_rows):
    """The round trip: every result read back (read_result_rows) as the older version's row of it (RESULT_COLUMNS,
    written by write_tsv, read back from that file too): names and messages with tabs and quotes (line breaks
    would cut a line, in either version: SAM names and samtools' flattened messages have none)."""
    monkeypatch.setattr(tf, "RESULT_BLOCK_ROWS", block_rows)
    blocks = odd_results(random.Random(block_rows), 400, [*NAMES, 'q"uote', "t\tab", ""], samples=("s0", "s\t1"))
    items = [item for _, block_items, _ in blocks[:2] for item in block_items]
    new, old = tmp_path / "new.result.tsv", tmp_path / "old.result.tsv"
    tf.write_results(str(new), iter(blocks))
    rows = [tf.result_row(sample, i, o) for sample, its, outs in blocks for i, o in zip(its, outs)]
    write_tsv(str(old), tf.RESULT_COLUMNS, rows)
    expected = [dict(zip(tf.RESULT_COLUMNS, (str(field).replace("\t", " ") for field in row))) for row in rows]
    unit_items = [i._replace(sample=i.sample.replace("\t", " "), contig=i.contig.replace("\t", " ")) for i in items]
    for path in (new, old):
        with open(path) as handle:
            assert tf.read_result_rows(handle, unit_items) == expected, path
    assert new.read_text().count("\nrun\t") > 20


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
