"""Messy inputs and the output folder, on the real pipeline: paths, indexes, references, samplesheets,
concurrent, interrupted, failed and resumed runs. Every count is compared with `samtools view -c` on the
same file; every refusal with its one line and a non-zero exit, and no count file left behind."""

import glob
import os
import random
import shutil
import signal

import pysam
import pytest
from conftest import expected_count_text, read_text, samtools_count, samtools_wrapper, wait_for
from make_test_data import Read, random_pairs, write_bam
from test_inputs import assert_refused

pytestmark = pytest.mark.pipeline

SMALL_CONTIGS = [("chr1", 60_000), ("chr2", 40_000), ("chrM", 16_569)]


@pytest.fixture(scope="module")
def bam(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bam")
    return write_bam(str(folder / "sample.bam"), SMALL_CONTIGS, random_pairs(SMALL_CONTIGS, 800, random.Random(3)))


@pytest.fixture(scope="module")
def other_bam(tmp_path_factory):
    folder = tmp_path_factory.mktemp("other")
    return write_bam(str(folder / "other.bam"), SMALL_CONTIGS, random_pairs(SMALL_CONTIGS, 300, random.Random(4)))


def count_text(run, sample):
    return read_text(os.path.join(run.outdir, sample, f"{sample}_count.txt"))


def processes(run):
    return [row["process"] for row in run.trace_rows()]


# --- paths ----------------------------------------------------------------------------------------------


def test_existing_path_with_glob_characters_is_that_file(run_pipeline, bam, other_bam, tmp_path):
    literal = tmp_path / "s[1].bam"
    shutil.copy(bam, literal)
    shutil.copy(bam + ".bai", f"{literal}.bai")
    shutil.copy(other_bam, tmp_path / "s1.bam")  # what the pattern s[1].bam would match
    shutil.copy(other_bam + ".bai", tmp_path / "s1.bam.bai")
    run = run_pipeline("--input", str(literal), "--skip_multiqc")
    assert run.result.returncode == 0, run.log
    assert count_text(run, "s_1_") == expected_count_text(bam)
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(f"sample,bam\nliteral,{literal}\n")
    run = run_pipeline("--input", str(sheet), "--skip_multiqc", outdir=tmp_path / "sheet_results")
    assert run.result.returncode == 0, run.log
    assert count_text(run, "literal") == expected_count_text(bam)


def test_dollar_in_input_path_and_outdir(run_pipeline, bam, tmp_path):
    folder = tmp_path / "dol$HOME"
    folder.mkdir()
    shutil.copy(bam, folder / "a.bam")
    shutil.copy(bam + ".bai", folder / "a.bam.bai")
    shutil.copy(bam, folder / "b.bam")  # no index: SAMTOOLS_INDEX stages it too
    sheet = folder / "samples $USER.csv"
    sheet.write_text(f"sample,bam\na,{folder / 'a.bam'}\nb,{folder / 'b.bam'}\n")
    outdir = tmp_path / "out $x `y`"
    run = run_pipeline("--input", str(sheet), outdir=outdir)
    assert run.result.returncode == 0, run.log
    assert count_text(run, "a") == count_text(run, "b") == expected_count_text(bam)
    assert os.path.exists(outdir / "multiqc" / "multiqc_report.html")
    assert "samtools: 1.16.1" in read_text(outdir / "pipeline_info" / "software_versions.yml")


# --- indexes ------------------------------------------------------------------------------------------


def test_csi_index_beside_a_long_contig_is_used(run_pipeline, tmp_path):
    contigs = [("chrLong", 600_000_000), ("chr2", 50_000)]
    reads = [Read(f"r{i}", 0, "chrLong", 550_000_000 + i * 1000, "100M") for i in range(30)]
    reads += [Read(f"s{i}", 0, "chr2", i * 500, "100M") for i in range(20)]
    path = write_bam(str(tmp_path / "long.bam"), contigs, reads, index=False)
    pysam.index("-c", path)  # long.bam.csi: a BAI cannot index past 512 Mb
    run = run_pipeline("--input", path, "--skip_multiqc")
    assert run.result.returncode == 0, run.log
    assert "SAMTOOLS_INDEX" not in processes(run)
    assert (
        count_text(run, "long")
        == expected_count_text(path)
        == ("Region chrLong: 30\nRegion chr2: 20\nTotal reads: 50\n")
    )
    # The same CSI in a samplesheet's bai column; and without any index, the pipeline builds a CSI itself.
    shutil.copy(path + ".csi", tmp_path / "given.csi")
    shutil.copy(path, tmp_path / "noindex.bam")
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(f"sample,bam,bai\ngiven,{path},{tmp_path / 'given.csi'}\nnoindex,{tmp_path / 'noindex.bam'},\n")
    run = run_pipeline("--input", str(sheet), "--skip_multiqc", outdir=tmp_path / "sheet")
    assert run.result.returncode == 0, run.log
    assert count_text(run, "given") == count_text(run, "noindex") == expected_count_text(path)


def test_index_written_with_its_bam_is_not_rebuilt(run_pipeline, bam, tmp_path):
    sorted_bam = str(tmp_path / "written.bam")
    pysam.sort("--write-index", "-o", sorted_bam, bam, catch_stdout=False)
    assert os.path.exists(sorted_bam + ".csi")
    # Milliseconds older within the same second, as samtools writes them: fresh. Whole seconds older: stale.
    second = int(os.stat(sorted_bam).st_mtime)
    os.utime(sorted_bam, (second + 0.9, second + 0.9))
    os.utime(sorted_bam + ".csi", (second + 0.1, second + 0.1))
    run = run_pipeline("--input", sorted_bam, "--skip_multiqc")
    assert run.result.returncode == 0, run.log
    assert "SAMTOOLS_INDEX" not in processes(run) and "re-indexing" not in run.log
    assert count_text(run, "written") == expected_count_text(bam)
    os.utime(sorted_bam + ".csi", (second - 2, second - 2))
    run = run_pipeline("--input", sorted_bam, "--skip_multiqc", outdir=tmp_path / "stale")
    assert run.result.returncode == 0, run.log
    assert f"{sorted_bam}.csi is older than {sorted_bam}: re-indexing" in run.log
    assert "SAMTOOLS_INDEX" in processes(run)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference")
    rng = random.Random(9)
    fasta = folder / "ref.fa"
    with open(fasta, "w") as handle:
        for name, length in SMALL_CONTIGS:
            sequence = "".join(rng.choice("ACGT") for _ in range(length))
            handle.write(f">{name}\n" + "\n".join(sequence[i : i + 60] for i in range(0, length, 60)) + "\n")
    return fasta


def test_bad_index_files_are_named(run_pipeline, bam, reference, tmp_path):
    empty = tmp_path / "empty.bam"
    shutil.copy(bam, empty)
    (tmp_path / "empty.bam.bai").write_bytes(b"")
    assert_refused(
        run_pipeline("--input", str(empty)),
        f"{tmp_path}/empty.bam.bai: empty index file (0 bytes): remove it (the pipeline then builds one) "
        "or give a valid index",
    )
    cram = str(tmp_path / "sample.cram")
    pysam.view("-C", "-T", str(reference), "-o", cram, bam, catch_stdout=False)
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(f"sample,bam,bai\nc,{cram},{bam}.bai\n")
    assert_refused(
        run_pipeline("--input", str(sheet), "--fasta", str(reference), outdir=tmp_path / "cram"),
        f"{bam}.bai: a BAI index, which cannot index the CRAM file sample.cram (expected .crai)",
    )


def test_cram_with_bgzipped_reference(run_pipeline, bam, reference, tmp_path):
    gz = str(tmp_path / "ref.fa.gz")
    pysam.tabix_compress(str(reference), gz)  # bgzip
    pysam.faidx(gz)  # ref.fa.gz.fai and ref.fa.gz.gzi
    assert os.path.exists(gz + ".gzi")
    cram = str(tmp_path / "bgz.cram")
    pysam.view("-C", "-T", gz, "-o", cram, bam, catch_stdout=False)
    pysam.index(cram)
    run = run_pipeline("--input", cram, "--fasta", gz, "--skip_multiqc")
    assert run.result.returncode == 0, run.log
    assert count_text(run, "bgz") == expected_count_text(bam)
    assert "operator `first` is useless" not in run.log  # the indexed FASTA is a value channel already
    # Without its indexes, the pipeline makes both.
    bare = str(tmp_path / "bare.fa.gz")
    shutil.copy(gz, bare)
    run = run_pipeline("--input", cram, "--fasta", bare, "--skip_multiqc", outdir=tmp_path / "bare")
    assert run.result.returncode == 0, run.log
    assert "SAMTOOLS_FAIDX" in processes(run)
    assert count_text(run, "bgz") == expected_count_text(bam)


# On a case-insensitive file system (macOS) 'S1/S1_count.txt' and 's1/s1_count.txt' are one file: one sample's
# published results would replace the other's. Names that differ only in case are refused on every file system.
@pytest.mark.parametrize(
    "names, pattern, named",
    [
        (("s 1.bam", "s_1.bam"), "s*.bam", "{d}/s_1.bam: sample name 's_1' is also that of {d}/s 1.bam"),
        (
            ("S1.bam", "s1.bam"),
            "*.bam",
            "{d}/s1.bam: sample name 's1' is also that of {d}/S1.bam in other case ('S1': on a case-insensitive "
            "file system, such as macOS', one folder)",
        ),
    ],
    ids=["same-name", "other-case"],
)
def test_file_names_that_become_one_sample_name_are_both_named(run_pipeline, bam, tmp_path, names, pattern, named):
    for name in names:
        shutil.copy(bam, tmp_path / name)
    assert_refused(
        run_pipeline("--input", str(tmp_path / pattern)),
        named.format(d=tmp_path) + " (a file's name without .bam/.cram, other characters than letters, digits, '.', "
        "'_' and '-' made '_'): rename one, or name the samples in a samplesheet",
    )


def path_without(tmp_path, *tools):
    """A PATH of links to every program of /usr/bin and /bin but `tools`, and Nextflow's folder."""
    folder = tmp_path / "path"
    folder.mkdir()
    for source in ("/usr/bin", "/bin"):
        for name in os.listdir(source):
            if name not in tools and not (folder / name).exists():
                (folder / name).symlink_to(os.path.join(source, name))
    return f"{folder}:{os.path.dirname(shutil.which('nextflow'))}"


def test_tools_missing_on_the_local_path_are_named_before_any_work(run_pipeline, bam, tmp_path):
    path = path_without(tmp_path, "samtools", "multiqc", "python3")
    no_pysam = tmp_path / "python" / "python3"  # a python3 that cannot import pysam
    no_pysam.parent.mkdir()
    no_pysam.write_text("#!/bin/bash\nexit 1\n")
    no_pysam.chmod(0o755)
    how = (
        "run `make setup` (then put .venv/bin and .tools/bin on PATH as README says), "
        "or use -profile conda, docker or singularity"
    )
    run = run_pipeline("--input", bam, env={"PATH": f"{no_pysam.parent}:{path}"})
    assert_refused(
        run,
        "Tools missing for this run's tasks:\n"
        f"  samtools: not found on PATH (the indexing and counting tasks run it): {how}\n"
        f"  python3 ({no_pysam}): cannot import pysam (the planning task needs it): {how}\n"
        f"  multiqc: not found on PATH (the report needs it; --skip_multiqc runs without it): {how}\n",
    )
    assert "Submitted process" not in run.log  # before any task
    run = run_pipeline("--input", bam, "--skip_multiqc", env={"PATH": path}, outdir=tmp_path / "skip")
    assert_refused(
        run,
        "Tools missing for this run's tasks:\n"
        f"  samtools: not found on PATH (the indexing and counting tasks run it): {how}\n"
        f"  python3: not found on PATH (the planning and counting tasks run it): {how}\n",
    )
    assert "multiqc" not in run.log


# --- samplesheets and options ------------------------------------------------------------------------


def test_samplesheet_with_bom_and_quoted_fields(run_pipeline, bam, tmp_path):
    folder = tmp_path / 'odd, "quoted" folder'
    folder.mkdir()
    shutil.copy(bam, folder / "a.bam")
    quoted = str(folder / "a.bam").replace('"', '""')
    sheet = tmp_path / "sheet.csv"
    # As R's write.csv and Excel's "CSV UTF-8" write it: a byte-order mark, every field quoted, CRLF.
    sheet.write_bytes(f'\ufeff"sample","bam"\r\n"alpha","{quoted}"\r\n'.encode())
    run = run_pipeline("--input", str(sheet), "--skip_multiqc")
    assert run.result.returncode == 0, run.log
    assert count_text(run, "alpha") == expected_count_text(bam)
    sheet.write_text(f'sample,bam\nalpha,"{bam}\n')
    assert_refused(
        run_pipeline("--input", str(sheet), outdir=tmp_path / "unclosed"),
        f"{sheet}: invalid samplesheet: line 2: a quoted field is not closed",
    )


def test_count_cpus_beyond_the_local_executor_is_refused_at_start(run_pipeline, bam, tmp_path):
    config = tmp_path / "cpus.config"
    config.write_text("executor.cpus = 2\n")
    run = run_pipeline("--input", bam, "--count_cpus", "4", "-c", str(config))
    assert_refused(
        run,
        "--count_cpus 4: the local executor has only 2 CPUs (use --count_cpus 2 or less, or raise executor.cpus)",
    )
    assert not glob.glob(os.path.join(run.launch_dir, "work", "*", "*", ".command.sh"))  # before any task


# --- the output folder -----------------------------------------------------------------------------------


def slow_samtools(tmp_path, seconds):
    """Every counting call slowed: a view, or the idxstats of a scan (a small sample is one scan). The first
    one leaves the file slow/counting (counting_started)."""
    started = tmp_path / "slow" / "counting"
    body = f'if [[ "$1" =~ ^(view|idxstats)$ ]]; then : > "{started}"; sleep {seconds}; fi'
    return samtools_wrapper(tmp_path / "slow", body)


def counting_started(tmp_path):
    return (tmp_path / "slow" / "counting").exists()


def test_second_run_into_a_busy_outdir_is_refused(run_pipeline, start_pipeline, bam, other_bam, tmp_path):
    outdir = tmp_path / "results"
    # The first run is counting (in samtools for 20 s) while the second starts, reads its lock and stops: a first
    # run that could finish within the second's start-up (~5 s) would let the second run go ahead.
    slow = slow_samtools(tmp_path, 20)
    first = start_pipeline(tmp_path / "a", outdir, "--input", bam, "-name", "first_run", env=slow)
    lock = outdir / "pipeline_info" / ".regioncount.lock"
    wait_for(lambda: counting_started(tmp_path), 120, "counting task", first)
    assert lock.exists()
    second = run_pipeline("--input", other_bam, outdir=outdir, launch_dir=tmp_path / "b")
    assert second.result.returncode != 0, second.log
    assert f"--outdir {outdir}: another regioncount run (first_run, process {first.pid} on " in second.log
    assert first.wait(timeout=300) == 0, read_text(tmp_path / "a" / "run.log")
    log = read_text(tmp_path / "a" / "run.log")
    expected_total = expected_count_text(bam).splitlines()[-1].removeprefix("Total reads: ")
    assert f"  sample: 3 regions, region counts sum to {expected_total} ({expected_total} reads in any region)" in log
    assert read_text(outdir / "sample" / "sample_count.txt") == expected_count_text(bam)
    assert not lock.exists() and not (outdir / "other").exists()
    # A lock left by a run that was killed is taken over.
    lock.write_text("run=gone\npid=999999999\nhost=" + os.uname().nodename + "\nstarted=x\n")
    again = run_pipeline("--input", bam, "--skip_multiqc", outdir=outdir, launch_dir=tmp_path / "c")
    assert again.result.returncode == 0, again.log
    assert "removing the lock of run gone (process 999999999 has ended)" in again.log


def test_interrupted_run_says_so_and_leaves_nothing_partial(start_pipeline, bam, tmp_path):
    outdir = tmp_path / "results"
    launch = tmp_path / "launch"
    process = start_pipeline(launch, outdir, "--input", bam, env=slow_samtools(tmp_path, 20))
    # Interrupted once a counting task is in samtools (not merely submitted), so that the run cannot end first.
    wait_for(lambda: counting_started(tmp_path), 120, "counting task", process)
    os.kill(process.pid, signal.SIGINT)
    process.wait(timeout=120)
    log = read_text(launch / "run.log")
    assert "regioncount INTERRUPTED: 1 sample(s)" in log, log
    assert "  sample: no counts (not finished)" in log
    assert "Interrupted before the end: run again with -resume to finish" in log
    assert "Report:" not in log and "Failed tasks" not in log
    assert not (outdir / "pipeline_info" / "software_versions.yml").exists()
    assert not (outdir / "sample" / "sample_count.txt").exists()
    assert not (outdir / "pipeline_info" / ".regioncount.lock").exists()


def test_failed_rerun_leaves_no_earlier_count_file(run_pipeline, bam, other_bam, tmp_path):
    outdir = tmp_path / "results"
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(f"sample,bam\nsample,{bam}\nother,{other_bam}\n")
    first = run_pipeline("--input", str(sheet), "--skip_multiqc", outdir=outdir)
    assert first.result.returncode == 0, first.log
    assert (outdir / "counts_matrix.tsv").exists()
    # The second run's samtools fails for one sample's BAM (staged as aln<N>/alignments, read by a scan or
    # through 'file##idx##index'): its earlier count file must go.
    failing = samtools_wrapper(
        tmp_path / "failing",
        f"""for arg in "$@"; do
          if [[ "$1" =~ ^(view|idxstats)$ && "$(readlink -f -- "${{arg%%##idx##*}}")" == {other_bam} ]]; then
            echo "[E::bgzf_read] Read block operation failed" >&2; exit 1; fi; done""",
    )
    second = run_pipeline(
        "--input", str(sheet), "--skip_multiqc", outdir=outdir, env=failing, launch_dir=tmp_path / "b"
    )
    assert second.result.returncode != 0
    assert "sample 'other'" in second.log and "Read block operation failed" in second.log
    assert not (outdir / "other" / "other_count.txt").exists()
    assert not (outdir / "counts_matrix.tsv").exists()
    assert read_text(outdir / "sample" / "sample_count.txt") == expected_count_text(bam)
    assert "  other: no counts (failed or not run)" in second.log


def test_resume_back_to_earlier_options_publishes_this_runs_counts(run_pipeline, bam, tmp_path):
    outdir, launch = tmp_path / "results", tmp_path / "launch"
    for args in ([], ["--samtools_args", "-q 20"], []):
        run = run_pipeline("--input", bam, "--skip_multiqc", "-resume", *args, outdir=outdir, launch_dir=launch)
        assert run.result.returncode == 0, run.log
        expected = expected_count_text(bam, " ".join(args[1:]))
        assert read_text(outdir / "sample" / "sample_count.txt") == expected
        total = expected.splitlines()[-1].removeprefix("Total reads: ")
        assert f"  sample: 3 regions, region counts sum to {total} ({total} reads in any region)" in run.log
    assert {row["status"] for row in run.trace_rows()} == {"CACHED"}  # the last run: all cached, yet republished


def same_size_bam(path, shift):
    """An uncompressed BAM whose size does not depend on where its reads lie: same records, shifted."""
    header = {
        "HD": {"VN": "1.6", "SO": "coordinate"},
        "SQ": [{"SN": "chr1", "LN": 100_000}, {"SN": "chr2", "LN": 100_000}],
    }
    with pysam.AlignmentFile(path, "wb0", header=header) as out:
        for i in range(200):
            segment = pysam.AlignedSegment(out.header)
            segment.query_name = f"r{i:04d}"
            segment.reference_id = 0 if i < 100 + shift else 1
            segment.reference_start = 1000 + i * 10
            segment.cigarstring = "50M"
            segment.query_sequence = "A" * 50
            segment.query_qualities = pysam.qualitystring_to_array("I" * 50)
            out.write(segment)
    pysam.index(path)


def test_bam_replaced_in_place_with_same_size_and_mtime_is_recounted(run_pipeline, tmp_path):
    path = str(tmp_path / "swap.bam")
    same_size_bam(path, 0)
    first_stat, first_text = os.stat(path), expected_count_text(path)
    outdir, launch = tmp_path / "results", tmp_path / "launch"
    run = run_pipeline("--input", path, "--skip_multiqc", outdir=outdir, launch_dir=launch)
    assert run.result.returncode == 0, run.log
    index_stat = os.stat(path + ".bai")
    same_size_bam(path, 50)
    assert os.stat(path).st_size == first_stat.st_size and expected_count_text(path) != first_text
    os.utime(path, ns=(first_stat.st_atime_ns, first_stat.st_mtime_ns))
    os.utime(path + ".bai", ns=(index_stat.st_atime_ns, index_stat.st_mtime_ns))
    run = run_pipeline("--input", path, "--skip_multiqc", "-resume", outdir=outdir, launch_dir=launch)
    assert run.result.returncode == 0, run.log
    assert read_text(outdir / "swap" / "swap_count.txt") == expected_count_text(path)


def test_samples_removed_from_the_samplesheet_are_reported(run_pipeline, bam, other_bam, tmp_path):
    outdir = tmp_path / "results"
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(f"sample,bam\nsample,{bam}\nother,{other_bam}\n")
    assert run_pipeline("--input", str(sheet), "--skip_multiqc", outdir=outdir).result.returncode == 0
    sheet.write_text(f"sample,bam\nsample,{bam}\n")
    run = run_pipeline("--input", str(sheet), "--skip_multiqc", outdir=outdir)
    assert run.result.returncode == 0, run.log
    assert f"--outdir {outdir} also holds results of samples not in this run: other" in run.log
    assert f"Note: {outdir} also holds results of samples not in this run (from earlier runs): other" in run.log
    assert read_text(outdir / "counts_matrix.tsv").splitlines()[0] == "region\tsample"
    assert samtools_count(bam, "chr1") > 0
