"""Memory of the per-region helpers on a large panel (issue 19, item 15): the reducer and the matrix stream, so
their peak RSS stays far below their 1 GB request however many regions a sample has. Before, a 1,000,000-region
BED took the reducer to 1.7 GB and the matrix to 709 MB (both held every region of every sample as objects).

Each script runs in its own process on 300,000 regions; ru_maxrss of the finished child is its peak.
"""

import os
import subprocess
import sys

import pytest
import task_files as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_REGIONS = 300_000
# A Python process with the script's modules: ~15 MB. The old reducer took ~500 MB on 300,000 regions.
PEAK_LIMIT_MB = 120
# The matrix of samples whose regions differ keeps a compact entry per region of their union: ~105 MB.
JOINED_PEAK_LIMIT_MB = 200


def peak_rss_mb(args, cwd):
    """Run a bin/ script in a fresh process; its peak resident memory in MB (the largest child so far, so each
    measurement runs in its own forked helper process)."""
    code = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], check=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, sys.executable, *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    return int(result.stdout.split()[-1]) / 1024


@pytest.fixture(scope="module")
def panel_results(tmp_path_factory):
    """A sample's regions table (plan_units.py's format) and two unit results for it: count_unit.py's (runs), and
    as an older version wrote them (a row per region, as -resume may find them)."""
    folder = tmp_path_factory.mktemp("panel")
    (folder / "regions").mkdir()
    with open(folder / "regions" / "s.regions.tsv", "w") as handle:
        handle.write("region_id\tname\tcontig\tstart\tend\tlength\titems\n")
        handle.writelines(
            f"{i}\ttarget_{i}\tchr{i % 22 + 1}\t{i * 300}\t{i * 300 + 150}\t150\t1\n" for i in range(1, N_REGIONS + 1)
        )
    for unit, ids in (
        ("unit_0001", range(1, N_REGIONS // 2 + 1)),
        ("unit_0002", range(N_REGIONS // 2 + 1, N_REGIONS + 1)),
    ):
        (folder / "old").mkdir(exist_ok=True)
        with open(folder / "old" / f"{unit}.result.tsv", "w") as handle:
            handle.write("sample\tregion_id\tcontig\tstart\tend\tmode\tcount\tstatus\tmessage\n")
            handle.writelines(
                f"s\t{i}\tchr{i % 22 + 1}\t{i * 300}\t{i * 300 + 150}\tbatch\t{i % 97}\tok\t\n" for i in ids
            )
        items = [tf.UnitItem("s", str(i), f"chr{i % 22 + 1}", i * 300, i * 300 + 150, False, "batch") for i in ids]
        tf.write_results(str(folder / f"{unit}.result.tsv"), [(None, items, [tf.Outcome(i % 97) for i in ids])])
    return folder


@pytest.mark.parametrize("version", ["this", "old"])
def test_the_reducer_streams_a_large_panel(panel_results, version):
    outdir = panel_results / f"reduced_{version}"
    outdir.mkdir()
    script = os.path.join(ROOT, "bin", "reduce_counts.py")
    folder = panel_results if version == "this" else panel_results / "old"
    results = [str(folder / f"unit_000{n}.result.tsv") for n in (1, 2)]
    args = [script, "--outdir", str(outdir), *results, "--regions", str(panel_results / "regions" / "s.regions.tsv")]
    peak = peak_rss_mb(args, panel_results)
    lines = (outdir / "s" / "s_count.txt").read_text().splitlines()
    assert len(lines) == N_REGIONS + 1
    assert lines[0] == "Region target_1: 1" and lines[-2] == f"Region target_{N_REGIONS}: {N_REGIONS % 97}"
    assert lines[-1] == f"Total reads: {sum(i % 97 for i in range(1, N_REGIONS + 1))}"
    assert peak < PEAK_LIMIT_MB, f"reduce_counts.py peaked at {peak:.0f} MB on {N_REGIONS} regions"


def test_the_matrix_streams_samples_of_one_panel(panel_results):
    tables = panel_results / "tables"
    tables.mkdir()
    for sample, shift in (("a", 0), ("b", 5), ("c", 11)):
        with open(tables / f"{sample}.counts.tsv", "w") as handle:
            handle.write("region\tlength\tcount\n")
            handle.writelines(f"target_{i}\t150\t{(i + shift) % 89}\n" for i in range(1, N_REGIONS + 1))
    outdir = panel_results / "matrix"
    outdir.mkdir()
    script = os.path.join(ROOT, "bin", "counts_matrix.py")
    paths = [str(tables / f"{s}.counts.tsv") for s in "abc"]
    peak = peak_rss_mb([script, "--outdir", str(outdir), "--", *paths], panel_results)
    lines = (outdir / "counts_matrix.tsv").read_text().splitlines()
    assert lines[0] == "region\ta\tb\tc" and len(lines) == N_REGIONS + 1
    assert lines[1] == f"target_1\t{1 % 89}\t{6 % 89}\t{12 % 89}"
    # The region names are kept (plot labels): ~30 MB of the peak for 300,000 names.
    assert peak < PEAK_LIMIT_MB, f"counts_matrix.py peaked at {peak:.0f} MB on {N_REGIONS} regions x 3 samples"


def test_the_matrix_joins_samples_of_other_panels_in_bounded_memory(tmp_path):
    """Samples whose regions differ (each lacks another 1% of the panel, one has regions of its own) are joined
    through a count column per sample in a temporary file: memory holds the rows of the union (~105 MB here), not
    a count object per region and sample (the in-memory join peaked at ~450 MB here, 4.3 GB on 1,000,000 x 16)."""
    tables = tmp_path / "tables"
    tables.mkdir()
    for k, sample in enumerate("abcd"):
        with open(tables / f"{sample}.counts.tsv", "w") as handle:
            handle.write("region\tlength\tcount\n")
            for i in range(1, N_REGIONS + 1):
                if i % 100 != k:
                    handle.write(f"target_{i}\t150\t{(i + k) % 89}\n")
                if sample == "d" and i % 1000 == 0:
                    handle.write(f"extra_{i}\t100\t1\n")
    outdir = tmp_path / "matrix"
    outdir.mkdir()
    script = os.path.join(ROOT, "bin", "counts_matrix.py")
    paths = [str(tables / f"{s}.counts.tsv") for s in "abcd"]
    peak = peak_rss_mb([script, "--outdir", str(outdir), "--", *paths], tmp_path)
    lines = (outdir / "counts_matrix.tsv").read_text().splitlines()
    assert lines[0] == "region\ta\tb\tc\td" and len(lines) == N_REGIONS + N_REGIONS // 1000 + 1
    # a's rows, then those b has and a lacks, then d's own.
    assert (
        lines[1] == "target_1\t1\tNA\t3\t4" and lines[N_REGIONS - N_REGIONS // 100 + 1] == "target_100\tNA\t12\t13\t14"
    )
    assert lines[-1] == f"extra_{N_REGIONS}\tNA\tNA\tNA\t1"
    assert sorted(os.listdir(outdir)) == [
        "counts_matrix.tsv",
        "region_counts_general_stats_mqc.tsv",
        "region_counts_mqc.tsv",
    ]
    assert peak < JOINED_PEAK_LIMIT_MB, f"counts_matrix.py peaked at {peak:.0f} MB joining {N_REGIONS} x 4"


# A group of 12 samples on two references (no shared plan) x 60,000 BED regions: the planner held every sample's
# items, 271 MB; streamed (plan_units.StreamedPlan), ~106 MB.
PLANNER_PEAK_LIMIT_MB = 160


def test_the_planner_streams_a_group_of_samples_sharing_no_plan(tmp_path):
    import random

    from make_test_data import TEST_CONTIGS, random_pairs, write_bam

    rng = random.Random(1)
    longer = [(name, length + (name == "chr1")) for name, length in TEST_CONTIGS]  # another reference
    bams = [
        write_bam(str(tmp_path / "a.bam"), TEST_CONTIGS, random_pairs(TEST_CONTIGS, 300, rng)),
        write_bam(str(tmp_path / "b.bam"), longer, random_pairs(TEST_CONTIGS, 300, rng)),
    ]
    (tmp_path / "panel.bed").write_text(
        "".join(f"chr{1 + i % 2}\t{i // 2 * 6}\t{i // 2 * 6 + 5}\n" for i in range(60_000))
    )
    rows = [f"s{i}\t{bams[i % 2]}\t{bams[i % 2]}.bai\t{os.path.basename(bams[i % 2])}" for i in range(12)]
    (tmp_path / "samples.tsv").write_text("\n".join(["sample\talignments\tindex\tfile_name", *rows]) + "\n")
    script = os.path.join(ROOT, "bin", "plan_units.py")
    args = [script, "--samples", "samples.tsv", "--bed", "panel.bed", "--outdir", "out"]
    peak = peak_rss_mb(args, tmp_path)
    with open(tmp_path / "out" / "units" / "unit_0001.tsv") as handle:
        assert sum(1 for _ in handle) == 1 + 12 * 60_000  # every sample's every region: the group's own items
    assert peak < PLANNER_PEAK_LIMIT_MB, f"planner peak RSS {peak:.0f} MB"
