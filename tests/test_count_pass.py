"""Unit tests for the region-less passes of bin/count_unit.py: the pass (`samtools view -u ... | samtools
idxstats -`) and the scan (`samtools idxstats` reading the file): records per contig against `samtools view
-c <file> {name}` on the same file (BAM and CRAM), edge records included, and every way either can fail
reported as an error, never as a count."""

import random

import count_modes as modes
import pytest
import samtools_pipes as pipes
import task_files as tf
import unit_counting as uc
from conftest import cram_of, fake_samtools, samtools_count
from make_test_data import Read, write_bam

CONTIGS = [("c1", 1000), ("c2:1-5", 500), ("c3", 800), ("empty", 100)]


# Records placed at pos -1 (mapped, with CIGARs that do and do not reach base 0; unmapped). samtools index
# refuses some orders of several such records on one contig, so each goes into a BAM of its own.
AT_MINUS_ONE = [
    Read("neg_unmapped", 0x4, "c1", -1, None),
    Read("neg_1M", 0, "c1", -1, "1M", length=1),
    Read("neg_2M", 0, "c1", -1, "2M", length=2),
    Read("neg_clip", 0, "c1", -1, "3S1M", length=4),
    Read("neg_del", 0, "c1", -1, "1M4D1M", length=2),
    Read("neg_ins", 0, "c1", -1, "5I", length=5),
]


def edge_reads(at_minus_one=AT_MINUS_ONE[2]):
    """Records whose contig count depends on htslib's overlap rule: one placed at pos -1, records past the
    @SQ length, placed unmapped, unplaced; then ordinary ones."""
    reads = [
        at_minus_one,
        Read("past", 0, "c1", 1500, "10M", length=10),
        Read("past_unmapped", 0x4, "c2:1-5", 700, None),
        Read("unplaced", 0x4, None, -1, None),
    ]
    rng = random.Random(3)
    for i in range(400):
        contig, length = rng.choice(CONTIGS[:3])
        flag = rng.choice([0, 0x10, 0x4, 0x400, 0x100])
        reads.append(Read(f"r{i}", flag, contig, rng.randrange(0, length), None if flag & 0x4 else "20M", length=20))
    return reads


@pytest.fixture(scope="module")
def edge_bam(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("edge") / "edge.bam")
    write_bam(path, CONTIGS, edge_reads())
    return path


@pytest.fixture(scope="module")
def large_bam(tmp_path_factory):
    """Edge records and 6,000 reads of 150 bp: a stream (about 2 MB) far larger than a pipe's buffer, so that
    samtools view cannot finish writing when idxstats stops reading."""
    path = str(tmp_path_factory.mktemp("large") / "large.bam")
    rng = random.Random(5)
    reads = [Read(f"l{i}", 0, "c3", rng.randrange(0, 650), "150M", length=150) for i in range(6000)]
    write_bam(path, CONTIGS, edge_reads() + reads)
    return path


def pass_items(contigs, mode="pass"):
    """One pass (or scan) item per contig, as the planner writes them for a small sample counted per contig."""
    return [tf.UnitItem("s", str(i), name, 0, length, True, mode, True) for i, (name, length) in enumerate(contigs)]


def pass_counts(
    path, tmp_path, samtools_args="", contigs=CONTIGS, samtools="samtools", reference=None, mode="pass", threads=0
):
    """count_unit's counts of one sample's pass (or scan) items (the user's options checked as in a run)."""
    samples = {"s": tf.SampleFiles("s", path)}
    items = pass_items(contigs, mode)
    outcomes = uc.count_unit(items, samples, samtools, reference, threads, samtools_args, str(tmp_path))
    assert all(o.status == "ok" for o in outcomes), [o.message for o in outcomes]
    return [o.count for o in outcomes]


def one_pass(path, tmp_path, samtools="samtools"):
    """The outcomes of the pass alone (count_unit would count the items of a failed pass one by one)."""
    return modes.count_pass(pass_items(CONTIGS), samtools, [], "", [path], str(tmp_path))


def expected_counts(path, options="", contigs=CONTIGS):
    """`samtools view -c <options> path {name}` of each contig."""
    return [samtools_count(path, f"{{{name}}}", options) for name, _ in contigs]


@pytest.mark.parametrize("options", ["", "-F 0x4", "-q 30", "-e 'pos < 500'"])
def test_counts_per_contig_equal_samtools_view_c_of_each_contig(edge_bam, tmp_path, options):
    assert pass_counts(edge_bam, tmp_path, options) == expected_counts(edge_bam, options)


@pytest.mark.parametrize("record", AT_MINUS_ONE, ids=lambda r: r.name)
def test_a_record_at_pos_minus_one_counts_only_when_it_reaches_base_zero(tmp_path, record):
    """htslib's `{c1}` keeps a pos -1 record whose end (bam_endpos) lies past base 0 (2M, 1M4D1M), not one
    that spans base -1 only (1M, 3S1M, 5I: one base; unmapped); idxstats alone would count them all."""
    path = str(tmp_path / "minus_one.bam")
    write_bam(path, CONTIGS, edge_reads(record))
    assert pass_counts(path, tmp_path) == expected_counts(path)
    alone = f"-e 'qname == \"{record.name}\"'"
    assert pass_counts(path, tmp_path, alone)[0] == samtools_count(path, "{c1}", alone)
    assert samtools_count(path, "{c1}", alone) == (1 if record.name in ("neg_2M", "neg_del") else 0)


def test_a_cram_pass_counts_as_samtools_counts_the_cram(tmp_path):
    """A CRAM of the ordinary records (htslib cannot decode CRAM records that reach past the reference),
    placed unmapped and unplaced ones among them."""
    bam = str(tmp_path / "plain.bam")
    write_bam(bam, CONTIGS, [r for r in edge_reads() if r.name.startswith("r") or r.name == "unplaced"])
    cram, reference = cram_of(bam, CONTIGS, tmp_path)
    counts = pass_counts(cram, tmp_path, reference=reference)
    assert counts == expected_counts(cram, f"-T {reference}") and sum(counts) > 300


def test_a_header_of_thousands_of_contigs(tmp_path):
    """6,000 contigs with long names (the header fills several BGZF blocks), in header order."""
    contigs = [(f"contig_{i:05d}_{'x' * 40}", 1000) for i in range(6000)]
    reads = [Read(f"r{i}", 0, contigs[i * 7 % 6000][0], i % 900, "10M", length=10) for i in range(3000)]
    path = str(tmp_path / "many.bam")
    write_bam(path, contigs, reads)
    expected = [0] * 6000
    for i in range(3000):
        expected[i * 7 % 6000] += 1
    assert pass_counts(path, tmp_path, contigs=contigs) == expected


def test_a_truncated_file_is_an_error_never_a_count(edge_bam, tmp_path):
    """samtools view stops at the cut and ends the stream it wrote cleanly: idxstats alone would exit 0
    with the counts of the records before the cut. The pass reads view's own status."""
    data = open(edge_bam, "rb").read()
    cut = str(tmp_path / "cut.bam")
    with open(cut, "wb") as out:
        out.write(data[: len(data) * 2 // 3])
    outcomes = one_pass(cut, tmp_path)
    assert [o.status for o in outcomes] == ["error"] * len(CONTIGS)
    assert "samtools exited with status 1" in outcomes[0].message and "error reading file" in outcomes[0].message


IDXSTATS_OUTPUT = "c1\t1000\t5\t1\nc2:1-5\t500\t0\t2\nc3\t800\t0\t0\nempty\t100\t0\t0\n*\t0\t0\t3\n"


@pytest.mark.parametrize(
    ("idxstats", "message"),
    [
        (f"cat > /dev/null; printf '{IDXSTATS_OUTPUT}'", "did not say it counted the records, not an index"),
        ("cat > /dev/null; echo '[E::idx] bad' >&2; exit 1", "samtools exited with status 1: [E::idx] bad"),
        ("echo 'cannot start' >&2; exit 1", "samtools exited with status 1: cannot start"),  # view: SIGPIPE
        ("exit 0", "samtools idxstats stopped reading the stream"),
        ("samtools idxstats - | sed 's/\\t[0-9]*$//'", "cannot read the output of samtools idxstats"),
        ("samtools idxstats - | sed '$d'", "cannot read the output of samtools idxstats (no line '*'"),
    ],
    ids=["index-read", "failed", "failed-early", "stopped-early", "short-lines", "no-unplaced-line"],
)
def test_every_failure_of_idxstats_is_an_error(large_bam, tmp_path, idxstats, message):
    samtools = fake_samtools(tmp_path, f'if [[ $1 == idxstats ]]; then {idxstats}; exit; fi\nexec samtools "$@"')
    outcomes = one_pass(large_bam, tmp_path, samtools)
    assert {o.status for o in outcomes} == {"error"}
    assert message in outcomes[0].message


def test_a_failed_pass_falls_back_to_counting_each_contig(edge_bam, tmp_path):
    samtools = fake_samtools(tmp_path, 'if [[ $1 == idxstats ]]; then cat > /dev/null; exit 3; fi\nexec samtools "$@"')
    assert pass_counts(edge_bam, tmp_path, samtools=samtools) == expected_counts(edge_bam)


def test_idxstats_counts_read_mapped_and_unmapped_per_name():
    text = "a b\t10\t3\t4\nx\t5\t0\t1\na b\t10\t9\t9\n*\t0\t2\t7\n"
    assert pipes.idxstats_counts(text) == {"a b": 7, "x": 1}  # a name listed twice: the first, as `{name}` finds it
    with pytest.raises(ValueError):
        pipes.idxstats_counts("a\t10\tthree\t4\n*\t0\t0\t0\n")


# The scan: a sample whose contigs all start at pos >= 0 (the planner checked), counted by idxstats alone.


@pytest.fixture(scope="module")
def placed_bam(tmp_path_factory):
    """The edge records but the one at pos -1: past the @SQ length, placed unmapped, unplaced."""
    path = str(tmp_path_factory.mktemp("placed") / "placed.bam")
    write_bam(path, CONTIGS, edge_reads()[1:])
    return path


def logging_samtools(tmp_path):
    """A samtools that logs each call's arguments to calls.log."""
    return fake_samtools(tmp_path, f'echo "$@" >> {tmp_path}/calls.log\nexec samtools "$@"')


@pytest.mark.parametrize("threads", [0, 1])
def test_a_scan_counts_each_contig_as_samtools_view_c_without_view(placed_bam, tmp_path, threads):
    samtools = logging_samtools(tmp_path)
    counts = pass_counts(placed_bam, tmp_path, samtools=samtools, mode="scan", threads=threads)
    assert counts == expected_counts(placed_bam) and sum(counts) > 300
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert calls == [f"idxstats {'-@ 1 ' if threads else ''}alignments"]  # the file alone in an empty folder


@pytest.mark.parametrize("options", ["-F 0x4", "-q 30", "-e 'pos < 500'", "--min-MQ 0"])
def test_a_scan_with_the_users_options_is_a_filtered_pass(placed_bam, tmp_path, options):
    """idxstats applies no filter: with any option of the user the sample is counted through view."""
    samtools = logging_samtools(tmp_path)
    assert pass_counts(placed_bam, tmp_path, options, samtools=samtools, mode="scan") == expected_counts(
        placed_bam, options
    )
    assert any(call.startswith("view -u") for call in (tmp_path / "calls.log").read_text().splitlines())


def test_a_scan_of_a_truncated_file_is_an_error_never_a_count(placed_bam, tmp_path):
    data = open(placed_bam, "rb").read()
    cut = tmp_path / "cut.bam"
    cut.write_bytes(data[: len(data) * 2 // 3])
    outcomes = modes.count_scan(pass_items(CONTIGS, "scan"), "samtools", 0, str(cut), str(tmp_path))
    assert [o.status for o in outcomes] == ["error"] * len(CONTIGS)
    assert "samtools exited with status 1" in outcomes[0].message and "failed to process" in outcomes[0].message


@pytest.mark.parametrize(
    ("idxstats", "message"),
    [
        (f"printf '{IDXSTATS_OUTPUT}'", "did not say it counted the records, not an index"),
        ("echo '[E::idx] bad' >&2; exit 1", "samtools exited with status 1: [E::idx] bad"),
        ("echo '[E::idx] killed' >&2; exit 137", None),
        ("samtools idxstats \"$@\" | sed 's/\\t[0-9]*$//'", "cannot read the output of samtools idxstats"),
        ("samtools idxstats \"$@\" | sed '$d'", "cannot read the output of samtools idxstats (no line '*'"),
        ('samtools idxstats "$@" | sed 1d', "samtools idxstats did not list contig 'c1'"),
    ],
    ids=["index-read", "failed", "killed", "short-lines", "no-unplaced-line", "contig-missing"],
)
def test_every_failure_of_a_scan_is_an_error(placed_bam, tmp_path, idxstats, message):
    samtools = fake_samtools(tmp_path, f'if [[ $1 == idxstats ]]; then shift; {idxstats}; exit; fi\nexec samtools "$@"')
    if message is None:  # killed (out of memory): the task is retried
        with pytest.raises(pipes.samtools_options.SamtoolsKilled):
            modes.count_scan(pass_items(CONTIGS, "scan"), samtools, 0, placed_bam, str(tmp_path))
        return
    outcomes = modes.count_scan(pass_items(CONTIGS, "scan"), samtools, 0, placed_bam, str(tmp_path))
    assert {o.status for o in outcomes} == {"error"}
    assert message in outcomes[0].message
    # In a unit, the failed scan's contigs are counted one by one.
    assert pass_counts(placed_bam, tmp_path, samtools=samtools, mode="scan") == expected_counts(placed_bam)


def test_the_pipe_from_samtools_is_widened_where_the_system_lets_it(tmp_path):
    """stream_counts reads samtools' output through a pipe of PIPE_BYTES (Linux; 64 kB elsewhere, or with a
    lower /proc/sys/fs/pipe-max-size); anything without a pipe buffer is returned as it is."""
    import fcntl
    import os

    assert pipes.F_SETPIPE_SZ == fcntl.F_SETPIPE_SZ == 1031  # the number used where fcntl lacks it (Python 3.8)
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as pipe, os.fdopen(write_end, "wb"):
        assert pipes.widened(pipe) is pipe
        with open("/proc/sys/fs/pipe-max-size") as handle:
            expected = pipes.PIPE_BYTES if int(handle.read()) >= pipes.PIPE_BYTES else 65536
        assert fcntl.fcntl(pipe.fileno(), fcntl.F_GETPIPE_SZ) == expected
    with open(tmp_path / "plain.txt", "wb") as plain:  # F_SETPIPE_SZ fails on a file: left as it is
        assert pipes.widened(plain) is plain
