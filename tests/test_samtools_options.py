"""Tests for bin/samtools_options.py and the bin/check_samtools_args.py CLI: --samtools_args parsed the way
samtools 1.16.1 parses them, refused options named with their reason, values samtools rejects found by one
cheap call. The real samtools is the oracle wherever it can be."""

import os
import random
import shlex
import subprocess
import sys

import pytest
import samtools_options as so
from conftest import ROOT, fake_samtools

CHECK = os.path.join(ROOT, "bin", "check_samtools_args.py")


def check(text, *extra):
    """The CLI as the pipeline runs it: the user's text after '='."""
    return subprocess.run([sys.executable, CHECK, f"--samtools-args={text}", *extra], capture_output=True, text=True)


def assert_refused(result, text, problem):
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"[ERROR] --samtools_args '{text}': {problem}\n"


@pytest.mark.parametrize(
    "text, options, expression",
    [
        ("", (), ""),
        ("-F 0x904 -q 20", ("-F", "0x904", "-q", "20"), ""),
        ("-q20 -F0x904", ("-q", "20", "-F", "0x904"), ""),
        ("-emapq>=30", (), "mapq>=30"),
        ("-e 'mapq >= 30'", (), "mapq >= 30"),
        ("--expr=mapq>=30", (), "mapq>=30"),
        ("--expr 'mapq >= 30'", (), "mapq >= 30"),
        ("--expression=flag.paired", (), "flag.paired"),
        ("--exp flag.paired", (), "flag.paired"),  # an unambiguous prefix of --expr and --expression (both -e)
        ("-e 'mapq < 5' -e flag.paired", (), "flag.paired"),  # samtools keeps only the last -e
        ("--expr=A -eB -q1", ("-q", "1"), "B"),
        ("-q 5 -q 40", ("-q", "5", "-q", "40"), ""),  # order kept: samtools' last-wins
        ("-SF4", ("-S", "-F", "4"), ""),
        ("-Sq20", ("-S", "-q", "20"), ""),
        ("-SS -S", ("-S", "-S", "-S"), ""),
        ("--excl 0x904", ("-F", "0x904"), ""),  # --excl-flags and --exclude-flags are both -F
        ("--exclude-flags=4", ("-F", "4"), ""),
        ("--rf 0x900 --incl=16", ("--incl-flags", "0x900", "--incl-flags", "16"), ""),
        ("--min-MQ=30 --min-m 31 --min-q=50", ("-q", "30", "-q", "31", "-m", "50"), ""),
        ("-r g1 --read-group=g2 --readgroup g3", ("-r", "g1", "-r", "g2", "-r", "g3"), ""),
        ("--lib libA -F SECONDARY,supplementary", ("-l", "libA", "-F", "SECONDARY,supplementary"), ""),
        ("-d RG:g1 --tag RG:g2", ("-d", "RG:g1", "-d", "RG:g2"), ""),
        ("-s 7.5 --subsample 0.3 --subsample-s=9", ("-s", "7.5", "--subsample", "0.3", "--subsample-seed", "9"), ""),
        ("--no-P -G 0x14 -f 010", ("--no-PG", "-G", "0x14", "-f", "010"), ""),
        ("-l -e", ("-l", "-e"), ""),  # getopt takes the next word as the value, whatever it looks like
        ("-e -q20", (), "-q20"),
        ("-l '--' -e '-- x'", ("-l", "--"), "-- x"),
    ],
)
def test_parse_gives_canonical_tokens_and_the_last_expression(text, options, expression):
    assert so.parse(text) == so.SamtoolsArgs(options, expression)


OUTPUT = "it changes what samtools writes, not which reads are counted"
FILE = "its value is a file, which the pipeline does not stage into its tasks"
REGIONS = "the pipeline's own region handling replaces it: use --regions instead"
PAIRS = "it adds mates from outside the region, so a count would not be the region's"
REFUSED = [
    ("-b", f"-b is not allowed: {OUTPUT}"),
    ("--bam", f"--bam (-b) is not allowed: {OUTPUT}"),
    ("-C", f"-C is not allowed: {OUTPUT}"),
    ("--cram", f"--cram (-C) is not allowed: {OUTPUT}"),
    ("-1", f"-1 is not allowed: {OUTPUT}"),
    ("--fast", f"--fast (-1) is not allowed: {OUTPUT}"),
    ("-u", f"-u is not allowed: {OUTPUT}"),
    ("--uncompressed", f"--uncompressed (-u) is not allowed: {OUTPUT}"),
    ("-h", f"-h is not allowed: {OUTPUT}"),
    ("--with-header", f"--with-header (-h) is not allowed: {OUTPUT}"),
    ("-H", f"-H is not allowed: {OUTPUT}"),
    ("--header-only", f"--header-only (-H) is not allowed: {OUTPUT}"),
    ("--no-header", f"--no-header is not allowed: {OUTPUT}"),
    ("-o x.sam", f"-o is not allowed: {OUTPUT}"),
    ("--output x.sam", f"--output (-o) is not allowed: {OUTPUT}"),
    ("--output=x.sam", f"--output (-o) is not allowed: {OUTPUT}"),
    ("-U x.sam", f"-U is not allowed: {OUTPUT}"),
    ("--output-unselected=x", f"--output-unselected (-U) is not allowed: {OUTPUT}"),
    ("--unoutput x", f"--unoutput (-U) is not allowed: {OUTPUT}"),
    ("-O bam", f"-O is not allowed: {OUTPUT}"),
    ("--output-fmt=cram", f"--output-fmt (-O) is not allowed: {OUTPUT}"),
    ("--output-fmt-option level=1", f"--output-fmt-option is not allowed: {OUTPUT}"),
    ("--write-index", f"--write-index is not allowed: {OUTPUT}"),
    ("-p", f"-p is not allowed: {OUTPUT}"),
    ("--unmap", f"--unmap (-p) is not allowed: {OUTPUT}"),
    ("-B", f"-B is not allowed: {OUTPUT}"),
    ("--remove-B", f"--remove-B (-B) is not allowed: {OUTPUT}"),
    ("-x NM", f"-x is not allowed: {OUTPUT}"),
    ("--remove-tag=NM", f"--remove-tag (-x) is not allowed: {OUTPUT}"),
    ("--keep-tag=NM", f"--keep-tag is not allowed: {OUTPUT}"),
    ("--add-flags 4", f"--add-flags is not allowed: {OUTPUT}"),
    ("--remove-flags 4", f"--remove-flags is not allowed: {OUTPUT}"),
    ("-c", "-c is not allowed: the pipeline sets it itself (it counts)"),
    ("--count", "--count (-c) is not allowed: the pipeline sets it itself (it counts)"),
    ("-@ 4", "-@ is not allowed: the pipeline sets it itself (from --count_cpus)"),
    ("--threads=4", "--threads (-@) is not allowed: the pipeline sets it itself (from --count_cpus)"),
    ("-T ref.fa", "-T is not allowed: the pipeline sets it itself (from --fasta)"),
    ("--reference ref.fa", "--reference (-T) is not allowed: the pipeline sets it itself (from --fasta)"),
    ("-X", "-X is not allowed: the pipeline sets it itself (it passes the index)"),
    ("--customized-index", "--customized-index (-X) is not allowed: the pipeline sets it itself (it passes the index)"),
    ("--customised-index", "--customised-index (-X) is not allowed: the pipeline sets it itself (it passes the index)"),
    ("-M", "-M is not allowed: the pipeline sets it itself"),
    ("--use-index", "--use-index (-M) is not allowed: the pipeline sets it itself"),
    ("-L x.bed", f"-L is not allowed: {REGIONS}"),
    ("--target-file=x.bed", f"--target-file (-L) is not allowed: {REGIONS}"),
    ("--targets-file x.bed", f"--targets-file (-L) is not allowed: {REGIONS}"),
    ("--region-file x.bed", f"--region-file is not allowed: {REGIONS}"),
    ("--regions-file=x.bed", f"--regions-file is not allowed: {REGIONS}"),
    ("-t ref.fa.fai", f"-t is not allowed: {FILE}"),
    ("--fai-reference=ref.fa.fai", f"--fai-reference (-t) is not allowed: {FILE}"),
    ("-R groups.txt", f"-R is not allowed: {FILE}"),
    ("--read-group-file=groups.txt", f"--read-group-file (-R) is not allowed: {FILE}"),
    ("--readgroup-file groups.txt", f"--readgroup-file (-R) is not allowed: {FILE}"),
    ("-N names.txt", f"-N is not allowed: {FILE}"),
    ("--qname-file=names.txt", f"--qname-file (-N) is not allowed: {FILE}"),
    ("--QNAME-file names.txt", f"--QNAME-file (-N) is not allowed: {FILE}"),
    ("-D RG:groups.txt", f"-D is not allowed: {FILE}"),
    ("--tag-file=RG:groups.txt", f"--tag-file (-D) is not allowed: {FILE}"),
    ("-P", f"-P is not allowed: {PAIRS}"),
    ("--fetch-pairs", f"--fetch-pairs (-P) is not allowed: {PAIRS}"),
    ("--input-fmt sam", "--input-fmt is not allowed: samtools detects the input format itself"),
    (
        "--input-fmt-option=decode_md=0",
        "--input-fmt-option is not allowed: it changes how samtools decodes the input "
        "(e.g. CRAM required_fields, a second filter=); use -e to filter",
    ),
    (
        "--verbosity 0",
        "--verbosity is not allowed: it changes what samtools reports on stderr, where the pipeline looks for errors",
    ),
    ("-?", "-? is not allowed: it prints the usage and counts nothing"),
    ("--help", "--help (-?) is not allowed: it prints the usage and counts nothing"),
    # as users write them: clusters, abbreviations, after allowed options
    ("-hF4", f"-h (in -hF4) is not allowed: {OUTPUT}"),
    ("-F4h", "-F: '4h' is not a flag value: give a number (4, 0x904) or flag names (UNMAP,SECONDARY)"),
    ("-q 20 -bS", f"-b (in -bS) is not allowed: {OUTPUT}"),
    ("-Sc", "-c (in -Sc) is not allowed: the pipeline sets it itself (it counts)"),
    ("--output-u=x.sam", f"--output-u (-U) is not allowed: {OUTPUT}"),
    (
        "--fetch",
        "--fetch (-P) is not allowed: it adds mates from outside the region, so a count would not be the region's",
    ),
    ("-F 0x904 --use", "--use (-M) is not allowed: the pipeline sets it itself"),
]


@pytest.mark.parametrize("text, problem", REFUSED)
def test_refused_options_are_one_line_naming_the_option_and_exit_2(text, problem):
    assert_refused(check(text), text, problem)


def test_every_refused_option_of_the_table_is_tested():
    named = {problem.split(" ", 1)[0] for _, problem in REFUSED}
    spelled = [{spec.canonical, *(f"--{name}" for name in spec.longs)} for spec in so.SPECS if spec.refusal]
    assert [names for names in spelled if not names <= named] == []


@pytest.mark.parametrize(
    "text, problem",
    [
        ("--bogus x", "--bogus is not an option of samtools view (1.16.1)"),
        ("-z", "-z is not an option of samtools view (1.16.1)"),
        ("-Sz", "-z (in -Sz) is not an option of samtools view (1.16.1)"),
        ("--min 20", "--min is ambiguous: --min-MQ, --min-mapq, --min-mq, --min-qlen"),
        ("--ex 4", "--ex is ambiguous: --excl-flags, --exclude-flags, --expr, --expression"),
        ("--sub 0.5", "--sub is ambiguous: --subsample, --subsample-seed"),
        ("--out x", "--out is ambiguous: --output, --output-fmt, --output-fmt-option, --output-unselected"),
        ("--=4", "'--=' is not an option"),
        ("-q 20 in.bam", "'in.bam' is not an option: the pipeline gives the input file and regions itself"),
        ("-q 20 chr1:1-100", "'chr1:1-100' is not an option: the pipeline gives the input file and regions itself"),
        ("-", "'-' is not an option: the pipeline gives the input file and regions itself"),
        ("-q 20 ''", "'' is not an option: the pipeline gives the input file and regions itself"),
        ("-q 20 -- -F 4", "'--' is not allowed: the pipeline gives the input file and regions itself"),
        ("-e 'mapq > 1", "cannot be split into words: No closing quotation"),
        ("-e mapq\\", "cannot be split into words: No escaped character"),
        ("-e ''", "-e has an empty value"),
        ("--expr=", "--expr has an empty value"),
        ("-l ''", "-l has an empty value"),
        ("-e", "-e needs a value"),
        ("-F 4 -q", "-q needs a value"),
        ("--expr", "--expr needs a value"),
        ("--no-PG=yes", "--no-PG takes no value"),
        ("-F BOGUS", "-F: 'BOGUS' is not a flag value: give a number (4, 0x904) or flag names (UNMAP,SECONDARY)"),
        ("-F UNMAPPED", "-F: 'UNMAPPED' is not a flag value: give a number (4, 0x904) or flag names (UNMAP,SECONDARY)"),
        ("-f DUP,", "-f: 'DUP,' is not a flag value: give a number (4, 0x904) or flag names (UNMAP,SECONDARY)"),
        ("-G 0x4,DUP", "-G: '0x4,DUP' is not a flag value: give a number (4, 0x904) or flag names (UNMAP,SECONDARY)"),
        ("--rf=-1", "--rf: '-1' is not a flag value: give a number (4, 0x904) or flag names (UNMAP,SECONDARY)"),
        ("-F 08", "-F: '08' is not a flag value: give a number (4, 0x904) or flag names (UNMAP,SECONDARY)"),
        ("-F 0x10000", "-F: '0x10000' is more than 0xFFFF, the largest flag value"),
        ("-q abc", "-q: 'abc' is not a whole number"),
        ("-q20x", "-q: '20x' is not a whole number"),
        ("-q -e", "-q: '-e' is not a whole number"),
        ("--min-qlen=-5", "--min-qlen: '-5' is not a whole number"),
        ("-m 99999999999", "-m: '99999999999' is not a whole number"),
        ("--subsample-seed x", "--subsample-seed: 'x' is not an integer"),
    ],
)
def test_malformed_options_are_one_line_and_exit_2(text, problem):
    assert_refused(check(text), text, problem)


def test_a_nul_character_is_refused():
    with pytest.raises(so.SamtoolsArgsError, match=r"^--samtools_args '-q 2\x000': contains a NUL character$"):
        so.parse("-q 2\x000")


@pytest.mark.parametrize(
    "text, first_error_line",
    [
        ("-e 'mapq >'", "[E::sam_passes_filter] Couldn't process filter expression"),
        ("-e 'mapq > 1 )'", "Unable to parse expression at mapq > 1 )"),
        ("-q 20 -e 'qname =~ \"(\"'", "Failed regex: Unmatched ( or \\("),
        ("-s 1", 'samtools view: Incorrect sampling argument "1"'),
        ("--subsample 2", 'samtools view: Incorrect sampling argument "2"'),  # samtools says so, then exits 0
        ("-d X", 'samtools view: Invalid "tag:value" option: "X"'),
        ("-d XX:a -d YY:b", 'samtools view: Different tag "XX" was specified before: "YY:b"'),
    ],
)
def test_values_samtools_rejects_are_its_first_error_line(text, first_error_line):
    assert_refused(check(text), text, f"samtools rejects them: {first_error_line}")


@pytest.mark.parametrize(
    "text", ["", "-q20", "--expr='mapq>=30 && flag.paired'", "-F 0x904 -q 20 -e '[NM] > 1' --no-PG"]
)
def test_accepted_options_are_silent_and_exit_0(text):
    result = check(text)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_the_cli_takes_the_text_after_equals_only():
    """A value starting with '-' after a space is read by argparse as an option: the pipeline writes '='."""
    assert check("-q20").returncode == 0
    spaced = subprocess.run([sys.executable, CHECK, "--samtools-args", "-q20"], capture_output=True, text=True)
    assert spaced.returncode == 2 and "expected one argument" in spaced.stderr


def test_one_samtools_call_and_none_for_refused_or_empty_options(tmp_path):
    calls = tmp_path / "calls"
    samtools = fake_samtools(tmp_path, f'echo "$*" >> {calls}\nexec samtools "$@"')
    assert so.verify(samtools, "") == so.SamtoolsArgs((), "")
    for text in ("-o x.sam", "--bogus x", "-F BOGUS"):
        with pytest.raises(so.SamtoolsArgsError):
            so.verify(samtools, text)
    assert not calls.exists()
    assert so.verify(samtools, "-q20 -emapq>1") == so.SamtoolsArgs(("-q", "20"), "mapq>1")
    assert calls.read_text() == "view -c -q 20 -e mapq>1 -\n"


def test_a_killed_check_exits_with_the_signal_status(tmp_path):
    result = check("-q 20", "--samtools", fake_samtools(tmp_path, "kill -9 $$"))
    assert (result.returncode, result.stdout) == (137, "")
    assert result.stderr == "[ERROR] samtools was killed or ran out of memory (exit 137) checking the options\n"


def test_a_missing_samtools_is_one_line_and_exit_1(tmp_path):
    missing = str(tmp_path / "no-samtools")
    result = check("-q 20", "--samtools", missing)
    assert result.returncode == 1
    assert result.stderr.startswith(f"[ERROR] cannot run samtools ({missing}): ") and result.stderr.count("\n") == 1


def view_count(options, sam_text):
    """samtools view -c on SAM text given on stdin: (exit status, stdout, stderr)."""
    result = subprocess.run(["samtools", "view", "-c", *options, "-"], input=sam_text, capture_output=True, text=True)
    return result.returncode, result.stdout.strip(), result.stderr.strip()


HEADER_ONLY = "@HD\tVN:1.6\n@SQ\tSN:c\tLN:100\n"


def test_samtools_parses_an_expression_only_on_a_record():
    """Why the check's input holds a record (and why stderr is read, not only the exit status)."""
    assert view_count(["-e", "mapq >"], HEADER_ONLY) == (0, "0", "")
    status, count, stderr = view_count(["-e", "mapq >"], so.PROBE_SAM)
    assert (status, count) == (0, "0")
    assert stderr == "[E::sam_passes_filter] Couldn't process filter expression"


def test_samtools_reads_a_bad_flag_name_as_every_flag_silently():
    """Why flag values are checked here: -F BOGUS drops every record with any flag bit set, exit 0, no error."""
    sam = HEADER_ONLY + "a\t0\tc\t1\t60\t4M\t*\t0\t0\tACGT\tIIII\n" + "b\t16\tc\t1\t60\t4M\t*\t0\t0\tACGT\tIIII\n"
    assert view_count(["-F", "BOGUS"], sam) == (0, "1", "")
    assert view_count(["-f", "BOGUS"], sam) == (0, "0", "")
    assert view_count(["-q", "abc"], sam) == view_count(["-q", "0"], sam)  # atoi: junk is 0


def records_sam(seed=3, n=60):
    """A SAM text with records that the allowed filters tell apart (flags, MAPQ, lengths, read groups, NM)."""
    rng = random.Random(seed)
    lines = ["@HD\tVN:1.6\tSO:unsorted", "@SQ\tSN:c\tLN:10000", "@RG\tID:g1\tLB:libA", "@RG\tID:g2\tLB:libB"]
    for i in range(n):
        length = rng.choice([20, 60, 100])
        flag = rng.choice([0, 16, 256, 1024, 2048, 4 | 1, 1 | 64])
        tags = f"\tRG:Z:{rng.choice(['g1', 'g2'])}" + (f"\tNM:i:{rng.randint(0, 3)}" if rng.random() < 0.6 else "")
        lines.append(
            f"r{i}\t{flag}\tc\t{rng.randint(1, 9000)}\t{rng.choice([0, 20, 30, 60])}\t{length}M\t*\t0\t0\t"
            f"{'A' * length}\t{'I' * length}{tags}"
        )
    return "\n".join(lines) + "\n"


VALUES = {"q": "30", "m": "50", "l": "libA", "r": "g1", "d": "RG:g1", "e": "mapq>=30 && !flag.reverse"}
VALUES.update(subsample="0.5", **{"subsample-seed": "3"})


def prefix_forms():
    """Every prefix of every long name of every allowed option, with a value that changes the count."""
    for spec in so.SPECS:
        if spec.refusal:
            continue
        for name in spec.longs:
            value = VALUES.get(spec.short or spec.longs[0], "0x10")
            for length in range(1, len(name) + 1):
                yield f"--{name[:length]}" + (f"={value}" if spec.takes_value else "")


def test_long_option_prefixes_are_read_as_samtools_reads_them():
    """getopt_long's prefixes: where samtools takes a prefix (with its value), so does the check, with the same
    count; where samtools refuses one (ambiguous, or a value it rejects), so does the check."""
    sam, checked = records_sam(), 0
    for form in prefix_forms():
        status, count, stderr = view_count([form], sam)
        accepted = (status, stderr) == (0, "")
        try:
            parsed = so.verify("samtools", shlex.quote(form))
        except so.SamtoolsArgsError:
            assert not accepted, form
            continue
        assert accepted, form
        assert view_count(parsed.tokens(), sam) == (0, count, ""), form
        checked += 1
    assert checked >= 60  # most prefixes are unambiguous: the comparison covered them


@pytest.mark.parametrize(
    "text",
    ["-F 0x10 -F 0x400", "-f REVERSE -G 0x410", "-r g1 -r g2 -q 20", "-d RG:g1 -d RG:g2", "-s 3.4 --subsample 0.7"],
)
def test_repeated_options_keep_samtools_meaning(text):
    sam = records_sam()
    assert view_count(so.parse(text).tokens(), sam) == view_count(shlex.split(text), sam)
