"""Unit tests for bin/reduce_counts.py: exact output text, failures named (in failures.txt and the log),
one sample's failure never hiding another's results, nothing half-written. Results written by hand are item lines
(task_files' format) and run lines, or an older version's rows (a result cached by -resume): the rows give the
same outputs either way."""

import os

import pytest
import reduce_counts as rc

REGIONS = (
    "region_id\tname\tcontig\tstart\tend\tlength\titems\n"
    "1\tchr1\tchr1\t0\t1000\t1000\t2\n"
    "2\tHLA-A*01:01\tHLA-A*01:01\t0\t300\t300\t1\n"
    "3\tempty\tempty\t0\t50\t50\t1\n"
)
# An older version's header: its rows are this version's item lines without their kind.
OLD_HEADER = "sample\tregion_id\tcontig\tstart\tend\tmode\tcount\tstatus\tmessage\n"
HEADER = "kind\t" + OLD_HEADER


@pytest.fixture(params=["item lines", "older version"])
def result_text(request):
    """The text of a unit result of rows (`sample region_id ... message` lines): item lines, or an older
    version's rows."""
    if request.param == "older version":
        return lambda rows: OLD_HEADER + rows
    return lambda rows: HEADER + "".join(f"item\t{row}" for row in rows.splitlines(keepends=True))


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.fixture
def reduce(result_text):
    def reduce(tmp_path, *results, samples=("s",)):
        """Reduce result rows (given without their sample column: they are sample 's''s) of the samples."""
        regions = [write(tmp_path, f"{sample}.regions.tsv", REGIONS) for sample in samples]
        paths = [
            write(
                tmp_path, f"unit_{i:04d}.result.tsv", result_text("".join(f"s\t{row}\n" for row in text.splitlines()))
            )
            for i, text in enumerate(results, 1)
        ]
        return rc.main(["--outdir", str(tmp_path), *paths, "--regions", *regions])

    return reduce


def test_chunks_are_summed_and_files_are_exact(tmp_path, reduce):
    code = reduce(
        tmp_path,
        "1\tchr1\t0\t500\tchunk\t10\tok\t\n3\tempty\t0\t50\tbatch\t0\tok\t\n",
        "1\tchr1\t500\t1000\tchunk\t5\tok\t\n2\tHLA-A*01:01\t0\t300\tsingle\t7\tok\t\n",
    )
    assert code == 0
    assert (tmp_path / "s" / "s_count.txt").read_text() == (
        "Region chr1: 15\nRegion HLA-A*01:01: 7\nRegion empty: 0\nTotal reads: 22\n"
    )
    assert (tmp_path / "failures.txt").read_text() == ""
    assert (tmp_path / "s" / "s.counts.tsv").read_text() == (
        "region\tlength\tcount\nchr1\t1000\t15\nHLA-A*01:01\t300\t7\nempty\t50\t0\n"
    )


def test_every_failed_region_is_named_with_its_error_and_no_file_is_left(tmp_path, caplog, reduce):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "s_count.txt").write_text("stale from an earlier run\n")
    code = reduce(
        tmp_path,
        "1\tchr1\t0\t500\tchunk\t0\terror\tsamtools exited with status 1: truncated file\n"
        "3\tempty\t0\t50\tbatch\t0\tok\t\n",
        "2\tHLA-A*01:01\t0\t300\tsingle\t0\terror\tsamtools reported an error: bad region\n",
    )
    assert code == 0  # the run fails later, once the group's other samples are published (counts_matrix.py)
    assert "sample 's': 2 of 3 regions failed; no count file written" in caplog.text
    assert (
        "region 'chr1': chr1:1-500: samtools exited with status 1: truncated file; 1 of 2 work items reported no result"
        in caplog.text
    )
    assert "region 'HLA-A*01:01': samtools reported an error: bad region" in caplog.text
    assert not (tmp_path / "s" / "s_count.txt").exists()
    assert not (tmp_path / "s" / "s.counts.tsv").exists()
    # The count and the first failures on the first line (the console's), then every failed region (item 14).
    chr1 = "region 'chr1': chr1:1-500: samtools exited with status 1: truncated file; "
    chr1 += "1 of 2 work items reported no result"
    hla = "region 'HLA-A*01:01': samtools reported an error: bad region"
    assert (tmp_path / "failures.txt").read_text() == (
        f"sample 's': 2 of 3 regions failed; no count file written; first: {chr1} | {hla}\n  {chr1}\n  {hla}\n"
    )


@pytest.mark.parametrize("shared_table", [False, True])
def test_a_failed_sample_never_hides_another_samples_results(tmp_path, shared_table, result_text):
    """Also when the samples' regions tables are hard links to one file (a shared plan): read once, the
    samples written in one read of it, the failed one left out."""
    good = (
        "1\tchr1\t0\t500\tchunk\t3\tok\t\n1\tchr1\t500\t1000\tchunk\t1\tok\t\n"
        "2\tHLA-A*01:01\t0\t300\tsingle\t1\tok\t\n3\tempty\t0\t50\tbatch\t0\tok\t\n"
    )
    bad = good.replace("single\t1\tok\t", "single\t0\terror\tsamtools exited with status 1: corrupt block")
    regions = [write(tmp_path, f"{sample}.regions.tsv", REGIONS) for sample in ("a", "b", "c")]
    if shared_table:
        for path in regions[1:]:
            os.remove(path)
            os.link(regions[0], path)
    rows = "".join(
        f"{sample}\t{row}\n" for sample, text in (("a", good), ("b", bad), ("c", good)) for row in text.splitlines()
    )
    results = write(tmp_path, "unit_0001.result.tsv", result_text(rows))
    assert rc.main(["--outdir", str(tmp_path), results, "--regions", *regions]) == 0
    for sample in ("a", "c"):
        assert (tmp_path / sample / f"{sample}_count.txt").read_text() == (
            "Region chr1: 4\nRegion HLA-A*01:01: 1\nRegion empty: 0\nTotal reads: 5\n"
        )
    assert not (tmp_path / "b").exists()
    failure = "region 'HLA-A*01:01': samtools exited with status 1: corrupt block"
    assert (tmp_path / "failures.txt").read_text() == (
        f"sample 'b': 1 of 3 regions failed; no count file written; first: {failure}\n  {failure}\n"
    )


def test_missing_unit_results_fail(tmp_path, caplog, reduce):
    code = reduce(tmp_path, "1\tchr1\t0\t500\tchunk\t3\tok\t\n1\tchr1\t500\t1000\tchunk\t3\tok\t\n")
    assert code == 0 and not (tmp_path / "s" / "s_count.txt").exists()
    assert "region 'HLA-A*01:01': 1 of 1 work items reported no result" in caplog.text
    assert "region 'empty': 1 of 1 work items reported no result" in caplog.text


def run_line(sample, first_id, *counts):
    return f"run\t{sample}\t{first_id}\t\t\t\t\t{','.join(map(str, counts))}\tok\t\n"


def reduce_lines(tmp_path, *results):
    """Reduce unit results of these lines (item lines and run lines) for sample s."""
    regions = write(tmp_path, "s.regions.tsv", REGIONS)
    paths = [write(tmp_path, f"unit_{i:04d}.result.tsv", HEADER + text) for i, text in enumerate(results, 1)]
    return rc.main(["--outdir", str(tmp_path), *paths, "--regions", regions])


def errors(caplog):
    return [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]


def test_runs_and_item_lines_add_up_as_rows_do(tmp_path):
    """A run's counts are its regions' (with the pieces of a split region in item lines, in any file order)."""
    assert reduce_lines(tmp_path, "item\ts\t1\tchr1\t500\t1000\tchunk\t5\tok\t\n", run_line("s", 1, 10, 7, 0)) == 0
    assert (tmp_path / "s" / "s_count.txt").read_text() == (
        "Region chr1: 15\nRegion HLA-A*01:01: 7\nRegion empty: 0\nTotal reads: 22\n"
    )
    assert (tmp_path / "failures.txt").read_text() == ""


@pytest.mark.parametrize(
    "results, problem",
    [
        ((run_line("s", 1, 1, 2, 3), run_line("s", 2, 9)), "region 'HLA-A*01:01': counted 2 times instead of 1"),
        ((run_line("s", 2, 1, 2),), "region 'chr1': 2 of 2 work items reported no result"),
        ((run_line("s", 1, 1) + run_line("s", 3, 0),), "region 'HLA-A*01:01': 1 of 1 work items reported no result"),
    ],
    ids=["duplicate", "missing", "missing-between"],
)
def test_a_region_missing_or_counted_twice_in_runs_is_named(tmp_path, results, problem):
    assert reduce_lines(tmp_path, *results) == 0
    assert not (tmp_path / "s").exists()
    assert f"\n  {problem}\n" in (tmp_path / "failures.txt").read_text()


@pytest.mark.parametrize(
    "text, problem",
    [
        (run_line("s", 3, 1, 2), "line 2: result for unknown region id 4"),
        (run_line("s", 0, 1), "line 2: result for unknown region id 0"),
        (run_line("s", 1, 1, 2, 3)[:-9] + "\n", "line 2 has 8 fields, not 10: a cut or malformed line"),
        (run_line("s", 1, 1, "x", 3), "line 2 is not a run of plain counts: a cut or malformed line"),
        ("item\ts\t4\tc\t0\t9\tbatch\t1\tok\t\n", "result for unknown region id 4"),
        ("item\ts\t1\tc\t0\t9\tbatch\t1_0\tok\t\n", "line 2: the count '1_0' is not a number"),
        ("item\ts\tx\tc\t0\t9\tbatch\t1\tok\t\n", "invalid literal for int() with base 10: 'x'"),
    ],
    ids=["past-the-table", "zero", "cut", "count", "item-id", "item-count", "item-id-text"],
)
def test_a_result_the_reducer_cannot_add_is_one_line_naming_its_file(tmp_path, caplog, text, problem):
    assert reduce_lines(tmp_path, run_line("s", 1, 1, 2, 3), text) == 2
    assert errors(caplog) == [f"{tmp_path / 'unit_0002.result.tsv'}: {problem}"]
    assert not (tmp_path / "s").exists() and not (tmp_path / "failures.txt").exists()


def test_a_result_of_a_sample_not_in_the_group_is_named(tmp_path, caplog):
    assert reduce_lines(tmp_path, run_line("s", 1, 1, 2, 3) + run_line("t", 1, 5)) == 1
    assert errors(caplog) == ["results for samples without a regions table: t"]


def test_a_result_of_an_older_version_and_one_of_this_give_the_same_counts(tmp_path):
    """-resume may reuse a counting task of an older version (its rows) beside one of this version (runs)."""
    old = OLD_HEADER + "s\t1\tchr1\t0\t500\tchunk\t10\tok\t\ns\t1\tchr1\t500\t1000\tchunk\t5\tok\t\n"
    regions = write(tmp_path, "s.regions.tsv", REGIONS)
    paths = [write(tmp_path, "unit_0001.result.tsv", old)]
    paths.append(write(tmp_path, "unit_0002.result.tsv", HEADER + run_line("s", 2, 7, 0)))
    assert rc.main(["--outdir", str(tmp_path), *paths, "--regions", regions]) == 0
    assert (tmp_path / "s" / "s_count.txt").read_text() == (
        "Region chr1: 15\nRegion HLA-A*01:01: 7\nRegion empty: 0\nTotal reads: 22\n"
    )
