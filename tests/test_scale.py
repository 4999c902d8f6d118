"""Panels and cohorts on the real pipeline: a BED of thousands of regions counted in position-split units,
a cohort whose samples share tasks (one corrupt sample named, the others' results written), and -resume
after adding a sample recounting only that sample's group. Counts are compared with samtools view -c."""

import os
import random
import zlib

import pytest
from conftest import expected_count_text, read_text, samtools_count
from make_test_data import Read, random_pairs, write_bam

pytestmark = pytest.mark.pipeline

CONTIGS = [("chr1", 200_000), ("chr2", 120_000), ("chrM", 16_569)]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Seven small BAMs named s1..s7 (different reads each)."""
    folder = tmp_path_factory.mktemp("cohort")
    return {
        f"s{i}": write_bam(str(folder / f"s{i}.bam"), CONTIGS, random_pairs(CONTIGS, 600 + 50 * i, random.Random(i)))
        for i in range(1, 8)
    }


def local_config(tmp_path):
    """Two local CPUs whatever the machine: two sample groups sharing a bound of 2 counting tasks."""
    config = tmp_path / "two-cpus.config"
    config.write_text("executor.cpus = 2\n")
    return ["-c", str(config)]


def group_of(sample, groups=2):
    return zlib.crc32(sample.encode()) % groups + 1


def samplesheet(path, cohort, samples):
    path.write_text("sample,bam\n" + "".join(f"{s},{cohort[s]}\n" for s in samples))
    return str(path)


def corrupt_middle_block(source, target):
    """A copy with bytes flipped halfway through: the header, the index and the EOF block stay intact."""
    data = bytearray(open(source, "rb").read())
    middle = len(data) // 2
    for i in range(middle, middle + 64):
        data[i] ^= 0x5A
    open(target, "wb").write(bytes(data))
    os.link(source + ".bai", target + ".bai")
    stat = os.stat(source)  # as old as its index, which is then fresh: no re-indexing of the corrupt copy
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return target


def test_cohort_shares_tasks_and_a_corrupt_sample_hides_no_other(run_pipeline, cohort, tmp_path):
    samples = [f"s{i}" for i in range(1, 7)]
    assert {group_of(s) for s in samples} == {1, 2}  # both groups hold samples
    bad = corrupt_middle_block(cohort["s2"], str(tmp_path / "s2.bam"))
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("sample,bam\n" + "".join(f"{s},{bad if s == 's2' else cohort[s]}\n" for s in samples))
    run = run_pipeline("--input", str(sheet), "--skip_multiqc", *local_config(tmp_path))
    assert run.result.returncode != 0
    processes = [row["process"] for row in run.trace_rows()]
    # 6 samples, 2 groups of small samples: 2 planning, 2 counting and 2 reducing tasks.
    tasks = (processes.count("PLAN_UNITS"), processes.count("COUNT_UNIT"), processes.count("REDUCE_COUNTS"))
    assert tasks == (2, 2, 2), run.log
    assert "sample 's2': " in run.log and "regions failed; no count file written" in run.log
    assert "region 'chr" in run.log
    assert not os.path.exists(os.path.join(run.outdir, "s2"))
    assert not os.path.exists(os.path.join(run.outdir, "counts_matrix.tsv"))
    for sample in samples:
        if sample != "s2":
            assert read_text(os.path.join(run.outdir, sample, f"{sample}_count.txt")) == expected_count_text(
                cohort[sample]
            )
    assert "  s2: no counts (failed or not run)" in run.log


def test_groups_share_the_local_bound_of_counting_tasks(run_pipeline, cohort, tmp_path):
    """6 samples that would each fill a task (--min_unit_reads 0), 2 groups on 2 CPUs: the groups share the
    bound of 2 tasks (one each, with its group's 3 samples), rather than 2 each."""
    samples = [f"s{i}" for i in range(1, 7)]
    sheet = samplesheet(tmp_path / "sheet.csv", cohort, samples)
    run = run_pipeline("--input", sheet, "--skip_multiqc", "--min_unit_reads", "0", *local_config(tmp_path))
    assert run.result.returncode == 0, run.log
    counting = [row for row in run.trace_rows() if row["process"] == "COUNT_UNIT"]
    assert len(counting) == 2, run.log
    assert sorted(row["tag"].split(" ")[0] for row in counting) == ["group_1", "group_2"]
    for sample in samples:
        assert read_text(os.path.join(run.outdir, sample, f"{sample}_count.txt")) == expected_count_text(cohort[sample])


def test_adding_a_sample_recounts_only_its_group(run_pipeline, cohort, tmp_path):
    outdir, launch = tmp_path / "results", tmp_path / "launch"
    first = samplesheet(tmp_path / "first.csv", cohort, ["s1", "s2", "s4", "s5"])
    run = run_pipeline("--input", first, "--skip_multiqc", *local_config(tmp_path), outdir=outdir, launch_dir=launch)
    assert run.result.returncode == 0, run.log
    added = samplesheet(tmp_path / "added.csv", cohort, ["s1", "s2", "s4", "s5", "s7"])
    run = run_pipeline(
        "--input", added, "--skip_multiqc", "-resume", *local_config(tmp_path), outdir=outdir, launch_dir=launch
    )
    assert run.result.returncode == 0, run.log
    new_group = f"group_{group_of('s7')}"
    rows = [row for row in run.trace_rows() if row["process"] in ("PLAN_UNITS", "COUNT_UNIT", "REDUCE_COUNTS")]
    assert rows
    for row in rows:
        expected = "COMPLETED" if row["tag"].startswith(new_group + " ") else "CACHED"
        assert row["status"] == expected, row
    assert {row["status"] for row in rows} == {"CACHED", "COMPLETED"}
    for sample in ("s1", "s2", "s4", "s5", "s7"):
        assert read_text(outdir / sample / f"{sample}_count.txt") == expected_count_text(cohort[sample])
    assert read_text(outdir / "counts_matrix.tsv").splitlines()[0] == "region\ts1\ts2\ts4\ts5\ts7"


def panel(rng, n):
    """BED lines over CONTIGS: random, nested, overlapping, adjacent, duplicated and empty-of-reads regions."""
    lines = []
    for i in range(n):
        contig, length = rng.choice(CONTIGS[:2])
        start = rng.randrange(0, length - 5000)
        end = start + rng.randint(1, 3000)
        lines.append((contig, start, end))
        kind = i % 5
        if kind == 0:
            lines.append((contig, start + (end - start) // 3, end - (end - start) // 3 + 1))  # nested
        elif kind == 1:
            lines.append((contig, end, end + 50))  # adjacent
        elif kind == 2:
            lines.append((contig, start, end))  # duplicated
    lines.append(("chrM", 0, 16_569))  # a whole contig as a BED region
    rng.shuffle(lines)  # BED order is not genomic order
    return lines


def test_panel_of_thousands_of_regions_counts_as_samtools_does(run_pipeline, tmp_path):
    rng = random.Random(17)
    reads = random_pairs(CONTIGS, 4000, rng)
    reads += [Read("spliced", 0, "chr1", 10_000, "50M20000N50M"), Read("deleted", 0, "chr2", 5_000, "50M3000D50M")]
    bam = write_bam(str(tmp_path / "panel.bam"), CONTIGS, reads)
    regions = panel(rng, 1000)
    bed = tmp_path / "panel.bed"
    bed.write_text("".join(f"{c}\t{s}\t{e}\tr{i}\n" for i, (c, s, e) in enumerate(regions)))
    run = run_pipeline(
        "--input", bam, "--regions", str(bed), "--skip_multiqc", "--max_units", "2", "--units_per_cpu", "16",
        "--min_unit_reads", "0", "--samtools_args", "-F 0x900",
    )  # fmt: skip
    assert run.result.returncode == 0, run.log
    assert [row["process"] for row in run.trace_rows()].count("COUNT_UNIT") == 2
    lines = read_text(os.path.join(run.outdir, "panel", "panel.counts.tsv")).splitlines()[1:]
    got = [int(line.split("\t")[2]) for line in lines]
    expected = [samtools_count(bam, f"{{{c}}}:{s + 1}-{e}", "-F 0x900") for c, s, e in regions]
    assert got == expected
    assert sum(expected) > 1000 and expected.count(0) > 0  # reads in many regions, and some empty ones


def test_a_cohort_on_a_large_panel_gets_more_smaller_groups(run_pipeline, cohort, tmp_path):
    """--max_group_regions bounds samples x regions per group (every task holds its group's items): six
    samples on a panel of ~100 regions with a bound of 150 are 4 groups instead of 2 (the base doubles),
    and every sample's regions still count as samtools view -c counts them."""
    rng = random.Random(5)
    regions = panel(rng, 40)
    bed = tmp_path / "panel.bed"
    bed.write_text("".join(f"{c}\t{s}\t{e}\tr{i}\n" for i, (c, s, e) in enumerate(regions)))
    estimated = bed.stat().st_size // 24  # the pipeline's estimate of a BED's regions, from its size
    samples = [f"s{i}" for i in range(1, 7)]
    assert 2 < len(samples) * estimated / 150 <= 4  # needs more than the 2 base groups: doubled once
    groups = {group_of(s, 4) for s in samples}
    assert len(groups) > 2  # the samples do spread over more groups than before
    sheet = samplesheet(tmp_path / "sheet.csv", cohort, samples)
    run = run_pipeline(
        "--input", sheet, "--regions", str(bed), "--max_group_regions", "150", "--skip_multiqc", *local_config(tmp_path)
    )  # fmt: skip
    assert run.result.returncode == 0, run.log
    processes = [row["process"] for row in run.trace_rows()]
    assert processes.count("PLAN_UNITS") == processes.count("REDUCE_COUNTS") == len(groups), run.log
    for sample in samples:
        lines = read_text(os.path.join(run.outdir, sample, f"{sample}_count.txt")).splitlines()
        counts = [samtools_count(cohort[sample], f"{{{c}}}:{s + 1}-{e}") for c, s, e in regions]
        assert lines[:-1] == [f"Region r{i}: {n}" for i, n in enumerate(counts)]
        assert lines[-1] == f"Total reads: {sum(counts)}"
