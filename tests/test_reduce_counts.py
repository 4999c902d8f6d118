"""Unit tests for bin/reduce_counts.py: exact output text, failures named (in failures.txt and the log),
one sample's failure never hiding another's results, nothing half-written."""

import os

import pytest
import reduce_counts as rc

REGIONS = (
    "region_id\tname\tcontig\tstart\tend\tlength\titems\n"
    "1\tchr1\tchr1\t0\t1000\t1000\t2\n"
    "2\tHLA-A*01:01\tHLA-A*01:01\t0\t300\t300\t1\n"
    "3\tempty\tempty\t0\t50\t50\t1\n"
)
HEADER = "sample\tregion_id\tcontig\tstart\tend\tmode\tcount\tstatus\tmessage\n"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def reduce(tmp_path, *results, samples=("s",)):
    """Reduce result rows (given without their sample column: they are sample 's''s) of the samples."""
    regions = [write(tmp_path, f"{sample}.regions.tsv", REGIONS) for sample in samples]
    paths = [
        write(tmp_path, f"unit_{i:04d}.result.tsv", HEADER + "".join(f"s\t{row}\n" for row in text.splitlines()))
        for i, text in enumerate(results, 1)
    ]
    return rc.main(["--outdir", str(tmp_path), *paths, "--regions", *regions])


def test_chunks_are_summed_and_files_are_exact(tmp_path):
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


def test_every_failed_region_is_named_with_its_error_and_no_file_is_left(tmp_path, caplog):
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
def test_a_failed_sample_never_hides_another_samples_results(tmp_path, shared_table):
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
    results = write(tmp_path, "unit_0001.result.tsv", HEADER + rows)
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


def test_missing_unit_results_fail(tmp_path, caplog):
    code = reduce(tmp_path, "1\tchr1\t0\t500\tchunk\t3\tok\t\n1\tchr1\t500\t1000\tchunk\t3\tok\t\n")
    assert code == 0 and not (tmp_path / "s" / "s_count.txt").exists()
    assert "region 'HLA-A*01:01': 1 of 1 work items reported no result" in caplog.text
    assert "region 'empty': 1 of 1 work items reported no result" in caplog.text
