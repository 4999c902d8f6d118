"""What a run leaves in --outdir, on the real pipeline: only files regioncount recorded as its own are removed
(pipeline_info/regioncount_outputs.tsv), a refused or failed sample keeps no count file, every publishing mode
survives -resume, and the summary and exit status follow what was written (ignored failures, a full disk)."""

import glob
import os
import random
import re
import subprocess

import pytest
from conftest import ROOT, expected_count_text, read_text, samtools_wrapper
from make_test_data import random_pairs, write_bam

pytestmark = pytest.mark.pipeline

CONTIGS = [("chr1", 60_000), ("chr2", 40_000)]
RECORD = os.path.join("pipeline_info", "regioncount_outputs.tsv")


@pytest.fixture
def bams(tmp_path):
    """Two indexed BAMs, a and b, and a samplesheet naming both."""
    a = write_bam(str(tmp_path / "a.bam"), CONTIGS, random_pairs(CONTIGS, 500, random.Random(1)))
    b = write_bam(str(tmp_path / "b.bam"), CONTIGS, random_pairs(CONTIGS, 300, random.Random(2)))
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(f"sample,bam\na,{a}\nb,{b}\n")
    return a, b, str(sheet)


def files_under(folder):
    """Every file (or symlink) under folder, relative, without the run reports that change every run."""
    found = set()
    for parent, _, names in os.walk(folder):
        for name in names:
            relative = os.path.relpath(os.path.join(parent, name), folder)
            if not relative.startswith(os.path.join("pipeline_info", "execution_")):
                found.add(relative)
    return found


def task_scripts(run):
    """The task scripts in the run's launch folder (every run of a test shares it)."""
    return sorted(glob.glob(os.path.join(run.launch_dir, "work", "*", "*", ".command.sh")))


def assert_stopped_on_changed_file(run, outdir, relative, tasks_before):
    """The run stopped before any task, naming the one result changed since regioncount wrote it."""
    assert run.result.returncode == 1
    assert (
        f"--outdir {outdir}: this run would replace 1 file(s) that regioncount did not write or that changed since "
        f"it wrote them (pipeline_info/regioncount_outputs.tsv does not list them as they are): {relative} "
        "(changed since): move them away or use another --outdir" in run.log
    ), run.log
    assert task_scripts(run) == tasks_before


SAMPLE_FILES = {"a/a_count.txt", "a/a.counts.tsv", "b/b_count.txt", "b/b.counts.tsv"}
COHORT_FILES = {"counts_matrix.tsv", "pipeline_info/software_versions.yml", RECORD}


def test_skip_multiqc_keeps_a_report_and_files_it_did_not_write(run_pipeline, bams, tmp_path):
    a, b, sheet = bams
    outdir = tmp_path / "results"
    (outdir / "multiqc").mkdir(parents=True)
    (outdir / "multiqc" / "multiqc_report.html").write_text("another pipeline's report\n")
    run = run_pipeline("--input", sheet, "--skip_multiqc", outdir=outdir)
    assert run.result.returncode == 0, run.log
    assert read_text(outdir / "multiqc" / "multiqc_report.html") == "another pipeline's report\n"
    assert files_under(outdir) == SAMPLE_FILES | COHORT_FILES | {"multiqc/multiqc_report.html"}
    # Nextflow's run reports, the DAG among them, each named with the run's timestamp.
    reports = {
        re.sub(r"_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}\.", ".", name)
        for name in os.listdir(outdir / "pipeline_info")
        if name.startswith("execution_")
    }
    assert reports == {"execution_dag.html", "execution_report.html", "execution_timeline.html", "execution_trace.txt"}
    recorded = [line.split("\t")[0] for line in read_text(outdir / RECORD).splitlines()[1:]]
    assert recorded == sorted(SAMPLE_FILES | {"counts_matrix.tsv", "pipeline_info/software_versions.yml"})
    # An outdir of regioncount 0.1.0 (no record; its versions file names the pipeline): nothing is removed before
    # work, results are replaced, as that version replaced them.
    os.remove(outdir / RECORD)
    (outdir / "a" / "a_count.txt").write_text("old\n")
    run = run_pipeline("--input", sheet, "--skip_multiqc", outdir=outdir)
    assert run.result.returncode == 0, run.log
    assert read_text(outdir / "a" / "a_count.txt") == expected_count_text(a)
    assert read_text(outdir / "multiqc" / "multiqc_report.html") == "another pipeline's report\n"


def test_files_regioncount_did_not_write_where_it_publishes_stop_the_run(run_pipeline, bams, tmp_path):
    """Another pipeline's multiqc/ and the user's own counts_matrix.tsv in --outdir were replaced by the publish
    step, exit 0 (fuzz campaign 3): now the run stops before any work, naming them, and leaves them as they
    were; with --skip_multiqc the report is no target, the user's matrix still is."""
    a, b, sheet = bams
    outdir = tmp_path / "results"
    theirs = {
        "multiqc/multiqc_report.html": "another pipeline's report\n",
        "multiqc/multiqc_data/multiqc_data.json": "{}\n",
        "counts_matrix.tsv": "my own matrix\n",
        "notes.txt": "mine\n",
    }
    for relative, text in theirs.items():
        (outdir / relative).parent.mkdir(parents=True, exist_ok=True)
        (outdir / relative).write_text(text)
    expected = (
        f"--outdir {outdir}: this run would replace 3 file(s) that regioncount did not write or that changed since "
        "it wrote them (pipeline_info/regioncount_outputs.tsv does not list them as they are): counts_matrix.tsv, "
        "multiqc/multiqc_data/multiqc_data.json, multiqc/multiqc_report.html: move them away or use another --outdir"
    )
    run = run_pipeline("--input", sheet, outdir=outdir)
    assert run.result.returncode == 1 and expected in run.log, run.log
    assert {relative: read_text(outdir / relative) for relative in theirs} == theirs
    assert files_under(outdir) == set(theirs)  # no result, no record, no lock
    assert not glob.glob(os.path.join(run.launch_dir, "work", "*", "*", ".command.sh"))  # before any task
    run = run_pipeline("--input", sheet, "--skip_multiqc", outdir=outdir)
    assert run.result.returncode == 1
    assert (
        "would replace 1 file(s) that regioncount did not write or that changed since it wrote them "
        "(pipeline_info/regioncount_outputs.tsv does not list them as they are): counts_matrix.tsv: move them away"
        in run.log
    ), run.log
    os.remove(outdir / "counts_matrix.tsv")
    run = run_pipeline("--input", sheet, "--skip_multiqc", outdir=outdir)
    assert run.result.returncode == 0, run.log
    assert read_text(outdir / "multiqc" / "multiqc_report.html") == "another pipeline's report\n"
    assert read_text(outdir / "a" / "a_count.txt") == expected_count_text(a)


def test_a_sample_folder_the_user_made_a_link_is_kept(run_pipeline, bams, tmp_path):
    """Earlier results are never removed through a link: a sample folder moved elsewhere and linked back keeps
    its link and the user's files beside the results; the rerun's results are written through it."""
    a, b, sheet = bams
    outdir, elsewhere = tmp_path / "results", tmp_path / "elsewhere"
    first = run_pipeline("--input", sheet, "--skip_multiqc", outdir=outdir)
    assert first.result.returncode == 0, first.log
    os.rename(outdir / "b", elsewhere)
    os.symlink(elsewhere, outdir / "b")
    (elsewhere / "notes.txt").write_text("mine\n")
    run = run_pipeline("--input", sheet, "--skip_multiqc", outdir=outdir)
    assert run.result.returncode == 0, run.log
    assert os.readlink(outdir / "b") == str(elsewhere)
    assert read_text(elsewhere / "notes.txt") == "mine\n"
    assert read_text(elsewhere / "b_count.txt") == expected_count_text(b)


def test_refused_input_leaves_no_earlier_count_file_and_keeps_changed_files(run_pipeline, bams, tmp_path):
    a, b, sheet = bams
    outdir = tmp_path / "results"
    first = run_pipeline("--input", sheet, "--skip_multiqc", outdir=outdir)
    assert first.result.returncode == 0, first.log
    assert files_under(outdir) == SAMPLE_FILES | COHORT_FILES
    # A file the user changed since is theirs now: never deleted, named once, still recorded as regioncount wrote it.
    recorded_line = next(line for line in read_text(outdir / RECORD).splitlines() if line.startswith("b/b.counts"))
    (outdir / "b" / "b.counts.tsv").write_text("edited by hand\n")
    with open(a, "r+b") as handle:
        handle.truncate(os.path.getsize(a) - 100)
    run = run_pipeline("--input", sheet, "--skip_multiqc", outdir=outdir)
    assert run.result.returncode == 1
    assert f"{a}: truncated BAM (no BGZF end-of-file marker)" in run.log
    assert (
        f"--outdir {outdir}: kept 1 file(s) changed since regioncount wrote them (a run that would replace them "
        "stops first): b/b.counts.tsv" in run.log
    )
    assert files_under(outdir) == {"b/b.counts.tsv", RECORD}
    assert read_text(outdir / "b" / "b.counts.tsv") == "edited by hand\n"
    assert read_text(outdir / RECORD) == f"path\tsize\tmtime_ms\n{recorded_line}\n"
    assert not (outdir / "pipeline_info" / ".regioncount.lock").exists()
    # The next run would replace it: it stops before any work, naming it as changed (not as another tool's).
    tasks = task_scripts(run)
    run = run_pipeline("--input", str(b), "--skip_multiqc", outdir=outdir)
    assert_stopped_on_changed_file(run, outdir, "b/b.counts.tsv", tasks)
    assert read_text(outdir / "b" / "b.counts.tsv") == "edited by hand\n"


def test_a_result_edited_since_regioncount_wrote_it_stops_the_rerun(run_pipeline, bams, tmp_path):
    """A count file the user edited after a run was kept at the start of the rerun, named in a warning that said
    "kept", then replaced by the publish step, exit 0: the edit was lost. Now the rerun stops before any work and
    removes nothing; once the edited file is moved away, the rerun writes every result."""
    a, b, sheet = bams
    outdir = tmp_path / "results"
    first = run_pipeline("--input", sheet, "--skip_multiqc", outdir=outdir)
    assert first.result.returncode == 0, first.log
    with open(outdir / "a" / "a_count.txt", "a") as handle:
        handle.write("checked by hand\n")
    edited = read_text(outdir / "a" / "a_count.txt")
    before = {relative: read_text(outdir / relative) for relative in files_under(outdir)}
    tasks = task_scripts(first)
    run = run_pipeline("--input", sheet, "--skip_multiqc", outdir=outdir)
    assert_stopped_on_changed_file(run, outdir, "a/a_count.txt", tasks)
    assert {relative: read_text(outdir / relative) for relative in files_under(outdir)} == before
    # Another sample's run does not touch it (not a target), nor stops on it.
    run = run_pipeline("--input", str(b), "--skip_multiqc", outdir=outdir)
    assert run.result.returncode == 0, run.log
    assert read_text(outdir / "a" / "a_count.txt") == edited
    os.rename(outdir / "a" / "a_count.txt", tmp_path / "a_count.checked.txt")
    run = run_pipeline("--input", sheet, "--skip_multiqc", outdir=outdir)
    assert run.result.returncode == 0, run.log
    assert read_text(outdir / "a" / "a_count.txt") == expected_count_text(a)
    assert read_text(tmp_path / "a_count.checked.txt") == edited


def test_move_publish_mode_is_refused_with_why(run_pipeline, bams, tmp_path):
    run = run_pipeline("--input", bams[2], "--publish_dir_mode", "move")
    assert run.result.returncode == 1
    assert (
        "  --publish_dir_mode move: not supported (the matrix and the report read the published tables, and "
        "-resume cannot publish moved files again): use copy (the default), link or symlink"
    ) in run.log
    assert "is not one of" not in run.log
    assert not glob.glob(os.path.join(run.launch_dir, "work", "*", "*", ".command.sh"))  # before any task


@pytest.mark.parametrize("mode", ["copy", "symlink", "link"])
def test_resume_in_each_publish_mode_keeps_every_result(run_pipeline, bams, tmp_path, mode):
    a, b, sheet = bams
    outdir, launch = tmp_path / "results", tmp_path / "launch"
    expected = {"a/a_count.txt": expected_count_text(a), "b/b_count.txt": expected_count_text(b)}
    # The mode, -resume in it (all cached), then -resume in the default mode (a symlink becomes a copy).
    for args in (["--publish_dir_mode", mode], ["--publish_dir_mode", mode, "-resume"], ["-resume"]):
        run = run_pipeline("--input", sheet, *args, outdir=outdir, launch_dir=launch)
        assert run.result.returncode == 0, run.log
        assert "regioncount finished: 2 sample(s)" in run.log
        assert files_under(outdir) >= SAMPLE_FILES | COHORT_FILES | {"multiqc/multiqc_report.html"}
        for relative, text in expected.items():
            assert read_text(outdir / relative) == text
        is_link = os.path.islink(outdir / "a" / "a_count.txt")
        assert is_link == (mode == "symlink" and "--publish_dir_mode" in args)
        # Every file of the record is there, MultiQC's data too: a rerun removed the files inside a folder
        # published as a symlink through it, from the cached task's work directory (and left them out after).
        recorded = [line.split("\t")[0] for line in read_text(outdir / RECORD).splitlines()[1:]]
        assert sum(path.startswith("multiqc/multiqc_data/") for path in recorded) > 3, recorded
        assert all(os.path.exists(outdir / path) for path in recorded), recorded
    assert {row["status"] for row in run.trace_rows()} == {"CACHED"}


def failing_samtools_for(tmp_path, bam):
    """samtools failing for one BAM's counting calls (staged as a link, or read through '##idx##')."""
    return samtools_wrapper(
        tmp_path / "failing",
        f"""for arg in "$@"; do
          if [[ "$1" =~ ^(view|idxstats)$ && "$(readlink -f -- "${{arg%%##idx##*}}")" == {bam} ]]; then
            echo "[E::bgzf_read] Read block operation failed" >&2; exit 1; fi; done""",
    )


def test_ignored_task_failures_fail_the_run(run_pipeline, bams, tmp_path):
    a, b, sheet = bams
    config = tmp_path / "ignore.config"
    config.write_text("process.errorStrategy = 'ignore'\n")
    outdir = tmp_path / "results"
    run = run_pipeline(
        "--input", sheet, "--skip_multiqc", "-c", str(config), outdir=outdir, env=failing_samtools_for(tmp_path, b)
    )
    assert run.result.returncode == 1, run.log
    assert "Not every result was made (a task failed and was ignored): no counts for b, no counts_matrix.tsv" in run.log
    assert "regioncount FAILED: 2 sample(s)" in run.log
    assert "  b: no counts (failed or not run)" in run.log
    assert "  Failed tasks: 1 (1 ignored by errorStrategy) (see the errors above and .nextflow.log)" in run.log
    assert "regioncount finished" not in run.log and "Results:" not in run.log
    assert files_under(outdir) == {"a/a_count.txt", "a/a.counts.tsv", RECORD}
    assert read_text(outdir / "a" / "a_count.txt") == expected_count_text(a)


@pytest.fixture
def full_disk(tmp_path):
    """A 256 KiB tmpfs (root only) filled up to its last few pages."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)]
    mounted = subprocess.run(command, capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(mount_point, free_pages):
    filler = mount_point / "filler"
    if filler.exists():
        filler.unlink()
    statvfs = os.statvfs(mount_point)
    filler.write_bytes(b"\0" * max(0, (statvfs.f_bavail - free_pages) * statvfs.f_frsize))


def test_full_disk_says_results_could_not_be_written(run_pipeline, bams, full_disk):
    a, b, sheet = bams
    outdir = full_disk / "results"
    fill(full_disk, 0)
    run = run_pipeline("--input", sheet, "--skip_multiqc", outdir=outdir)
    assert run.result.returncode == 1
    assert f"--outdir {outdir}: cannot write there (No space left on device)" in run.log
    assert not (outdir / "pipeline_info" / ".regioncount.lock").exists()
    # Room for the lock and the run reports, not for every result.
    fill(full_disk, 4)
    run = run_pipeline("--input", sheet, "--skip_multiqc", outdir=outdir)
    assert run.result.returncode == 1
    assert "regioncount FAILED: 2 sample(s)" in run.log
    assert f"  Results could not be written to {outdir}: No space left on device" in run.log
    assert "INTERRUPTED" not in run.log and "-resume" not in run.log and "Results:" not in run.log
    not_written = next(line for line in run.log.splitlines() if line.startswith("  Not written: "))
    missing = not_written.removeprefix("  Not written: ").split(", ")
    assert missing and all(not (outdir / relative).exists() for relative in missing), run.log
    assert not (outdir / "pipeline_info" / "software_versions.yml").exists()
    for sample, bam in (("a", a), ("b", b)):
        if f"{sample}/{sample}_count.txt" not in missing:
            assert read_text(outdir / sample / f"{sample}_count.txt") == expected_count_text(bam)


def test_unusable_outdir_is_named(run_pipeline, nextflow_bin, bams, tmp_path):
    sheet = bams[2]
    a_file = tmp_path / "a_file"
    a_file.write_text("x\n")
    run = run_pipeline("--input", sheet, outdir=a_file)
    assert run.result.returncode == 1
    assert f"--outdir {a_file}: a file, not a folder" in run.log
    assert read_text(a_file) == "x\n"
    # The run's reports (the trace: the others are written at the end of a run that got further) go where
    # Nextflow keeps its cache, under fixed names; no folder is made for them elsewhere.
    launch = tmp_path / "launch"
    assert os.path.isfile(launch / ".nextflow" / "pipeline_info" / "execution_trace.txt")
    assert "null" not in os.listdir(launch) and "pipeline_info" not in os.listdir(launch)
    params = tmp_path / "params.json"
    params.write_text('{"outdir": "~/regioncount-results"}')
    launch = tmp_path / "params_launch"
    launch.mkdir()
    command = [nextflow_bin, "run", ROOT, "-ansi-log", "false", "--input", sheet, "-params-file", str(params)]
    result = subprocess.run(command, cwd=launch, capture_output=True, text=True, timeout=300)
    home = os.path.expanduser("~")
    assert result.returncode == 1
    assert (
        "  --outdir ~/regioncount-results: '~' is not expanded outside a shell: give the full path, "
        f"e.g. {home}/regioncount-results"
    ) in result.stdout + result.stderr
    assert not os.path.exists(launch / "~") and not os.path.exists(os.path.join(home, "regioncount-results"))
    assert os.path.isfile(launch / ".nextflow" / "pipeline_info" / "execution_trace.txt")
