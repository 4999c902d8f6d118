"""The user's extra ``samtools view`` options (--samtools_args): parsed the way samtools 1.16.1 parses them,
checked against an allow-list of filter options, and tried once on a one-record input.

Parsing follows glibc getopt_long on samtools 1.16.1's own option table (sam_view.c, main_samview):
values attached (``-q20``, ``-emapq>=30``, ``--expr=...``) or in the next word (taken whatever it looks
like: ``-q -e`` gives -q the value ``-e``), clustered short flags (``-SF4``), long options abbreviated to any
unambiguous prefix (``--excl`` is --excl-flags; ``--min`` matches -q's and -m's names and is refused).
The result is a canonical token list (short names where samtools has one, each value its own word)
without -e, plus the one expression samtools would use: the last -e (each -e replaces the one before).
Every other option keeps its place and order, so repeats mean what they mean to samtools: -q, -m, -l,
--subsample and --subsample-seed keep the last value; -f, -F, --incl-flags and -G OR their flags
together; -r and -d add values (-d only for the same tag); -s sets both the seed and the fraction.
(samtools 1.16.1's long-option table lacks its NULL terminator, so getopt reads on past it: samtools calls
a few prefixes unique in the table unrecognised, e.g. --b, --q, --ref; all belong to refused options, and
tests/test_samtools_options.py compares every prefix of every allowed option with samtools.)

The check fails on any line samtools writes to stderr, not only on its exit status: a bad -e expression
or --subsample value is reported there while samtools still exits 0.

Allowed (filters: they choose which records are counted):

| option | value checked (here, or by samtools on the one-record input) |
| --- | --- |
| -f/--require-flags, -F/--excl-flags/--exclude-flags, | FLAG: a number or flag names here; samtools reads anything |
| --incl-flags/--include-flags/--rf, -G | else as -1 (every flag bit), silently |
| -q/--min-MQ/--min-mapq/--min-mq, -m/--min-qlen | INT: a whole number here (samtools' atoi reads junk as 0) |
| --subsample-seed | INT: an integer here (atoi again) |
| -l/--library, -r/--read-group/--readgroup | STR: not empty |
| -d/--tag | STR1[:STR2]: by samtools, at start-up |
| -e/--expr/--expression | STR: by samtools, on the first record (htslib parses an expression only then) |
| -s INT.FRAC, --subsample FLOAT | by samtools, at start-up |
| --no-PG, -S | none (no effect on a count) |

Refused, with the reason the message gives:

| options | reason |
| --- | --- |
| -b -C -1 -u -h -H --no-header -o -U -O --output-fmt-option | OUTPUT: they change what samtools writes |
| --write-index -p | OUTPUT |
| -B -x --keep-tag --add-flags --remove-flags | OUTPUT: they edit the records (the batch count reads CIGAR, flags) |
| -c -@ -T -X -M | PIPELINE: the pipeline sets them itself |
| -L --region-file/--regions-file | REGIONS: the pipeline's region handling replaces them (--regions) |
| -t -R -N -D | FILE: their value is a file, which the pipeline does not stage into its tasks |
| -P/--fetch-pairs | adds mates from outside the region, so a count is no longer the region's |
| --input-fmt | samtools detects the input format (1.16.1 disables the option anyway) |
| --input-fmt-option | changes how the input is decoded (CRAM required_fields, a second filter=) |
| --verbosity | changes what samtools reports on stderr, where the pipeline looks for errors |
| -?/--help | prints the usage |
| unknown options, ambiguous prefixes, ``--``, positional words | the pipeline gives the input and regions itself |
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from typing import Callable

# A process killed by signal N: subprocess gives -N, a shell (a wrapper script around samtools) 128 + N.
SIGNAL_STATUSES = range(129, 129 + 64)

OUTPUT = "it changes what samtools writes, not which reads are counted"
PIPELINE = "the pipeline sets it itself"
REGIONS = "the pipeline's own region handling replaces it: use --regions instead"
FILE = "its value is a file, which the pipeline does not stage into its tasks"

FLAG_NAMES = frozenset(
    "PAIRED PROPER_PAIR UNMAP MUNMAP REVERSE MREVERSE READ1 READ2 SECONDARY QCFAIL DUP SUPPLEMENTARY".split()
)
# The numbers htslib's strtol(base 0) reads to the end: hex, octal (a leading 0) or decimal.
FLAG_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")
INT_MAX = 2**31 - 1

# A one-record SAM for the check: htslib parses an -e expression only when it evaluates it on a record.
PROBE_SAM = (
    "@HD\tVN:1.6\tSO:coordinate\n@SQ\tSN:probe\tLN:100\n@RG\tID:probe\n"
    "probe\t0\tprobe\t1\t60\t4M\t*\t0\t0\tACGT\tIIII\tRG:Z:probe\n"
)


class SamtoolsArgsError(ValueError):
    """The options are refused: the message starts with --samtools_args and names the option and problem."""

    exit_code = 2  # the user's to fix: not retried (conf/base.config)


class SamtoolsKilled(Exception):
    """A samtools killed by a signal (out of memory, a scheduler's limit). The script ends with the same
    status (128 + N), as if the task itself had been killed: conf/base.config, the one list of retried
    statuses, decides whether Nextflow retries it."""

    def __init__(self, exit_code, message):
        super().__init__(message)
        self.exit_code = exit_code


def flag_problem(value):
    if FLAG_NUMBER.fullmatch(value):
        number = int(value, 16) if value[1:2] in ("x", "X") else int(value, 8 if value.startswith("0") else 10)
        return "" if number <= 0xFFFF else f"'{value}' is more than 0xFFFF, the largest flag value"
    if all(name.upper() in FLAG_NAMES for name in value.split(",")):
        return ""
    return f"'{value}' is not a flag value: give a number (4, 0x904) or flag names (UNMAP,SECONDARY)"


def count_problem(value):
    if re.fullmatch(r"[0-9]+", value) and int(value) <= INT_MAX:
        return ""
    return f"'{value}' is not a whole number"


def integer_problem(value):
    if re.fullmatch(r"[+-]?[0-9]+", value) and abs(int(value)) <= INT_MAX:
        return ""
    return f"'{value}' is not an integer"


@dataclass(frozen=True)
class Spec:
    """One option of samtools view 1.16.1: its short name ('' if none), long names, whether it takes a value,
    why it is refused ('' when allowed) and a check of its value."""

    short: str
    longs: tuple = ()
    takes_value: bool = True
    refusal: str = ""
    check: Callable[[str], str] | None = None

    @property
    def canonical(self):
        return f"-{self.short}" if self.short else f"--{self.longs[0]}"


SPECS = (
    # allowed: filters
    Spec("f", ("require-flags",), check=flag_problem),
    Spec("F", ("excl-flags", "exclude-flags"), check=flag_problem),
    Spec("", ("incl-flags", "include-flags", "rf"), check=flag_problem),
    Spec("G", check=flag_problem),
    Spec("q", ("min-MQ", "min-mapq", "min-mq"), check=count_problem),
    Spec("m", ("min-qlen",), check=count_problem),
    Spec("l", ("library",)),
    Spec("r", ("read-group", "readgroup")),
    Spec("d", ("tag",)),
    Spec("e", ("expr", "expression")),
    Spec("s"),
    Spec("", ("subsample",)),
    Spec("", ("subsample-seed",), check=integer_problem),
    Spec("", ("no-PG",), takes_value=False),
    Spec("S", takes_value=False),
    # refused: output and record editing
    Spec("b", ("bam",), False, OUTPUT),
    Spec("C", ("cram",), False, OUTPUT),
    Spec("1", ("fast",), False, OUTPUT),
    Spec("u", ("uncompressed",), False, OUTPUT),
    Spec("h", ("with-header",), False, OUTPUT),
    Spec("H", ("header-only",), False, OUTPUT),
    Spec("", ("no-header",), False, OUTPUT),
    Spec("o", ("output",), True, OUTPUT),
    Spec("U", ("output-unselected", "unoutput"), True, OUTPUT),
    Spec("O", ("output-fmt",), True, OUTPUT),
    Spec("", ("output-fmt-option",), True, OUTPUT),
    Spec("", ("write-index",), False, OUTPUT),
    Spec("p", ("unmap",), False, OUTPUT),
    Spec("B", ("remove-B",), False, OUTPUT),
    Spec("x", ("remove-tag",), True, OUTPUT),
    Spec("", ("keep-tag",), True, OUTPUT),
    Spec("", ("add-flags",), True, OUTPUT),
    Spec("", ("remove-flags",), True, OUTPUT),
    # refused: the pipeline's own
    Spec("c", ("count",), False, PIPELINE + " (it counts)"),
    Spec("@", ("threads",), True, PIPELINE + " (from --count_cpus)"),
    Spec("T", ("reference",), True, PIPELINE + " (from --fasta)"),
    Spec("X", ("customized-index", "customised-index"), False, PIPELINE + " (it passes the index)"),
    Spec("M", ("use-index",), False, PIPELINE),
    Spec("L", ("target-file", "targets-file"), True, REGIONS),
    Spec("", ("region-file", "regions-file"), True, REGIONS),
    # refused: files, and the rest
    Spec("t", ("fai-reference",), True, FILE),
    Spec("R", ("read-group-file", "readgroup-file"), True, FILE),
    Spec("N", ("qname-file", "QNAME-file"), True, FILE),
    Spec("D", ("tag-file",), True, FILE),
    Spec("P", ("fetch-pairs",), False, "it adds mates from outside the region, so a count would not be the region's"),
    Spec("", ("input-fmt",), True, "samtools detects the input format itself"),
    Spec(
        "",
        ("input-fmt-option",),
        True,
        "it changes how samtools decodes the input (e.g. CRAM required_fields, a second filter=); use -e to filter",
    ),
    Spec("", ("verbosity",), True, "it changes what samtools reports on stderr, where the pipeline looks for errors"),
    Spec("?", ("help",), False, "it prints the usage and counts nothing"),
)
SHORT = {spec.short: spec for spec in SPECS if spec.short}
LONG = {name: spec for spec in SPECS for name in spec.longs}
EXPRESSION = SHORT["e"]


@dataclass(frozen=True)
class SamtoolsArgs:
    options: tuple  # canonical tokens, without -e
    expression: str  # the expression samtools uses (the last -e), '' when none

    def tokens(self):
        return [*self.options, *(["-e", self.expression] if self.expression else [])]


def shown(text):
    """The user's text for a one-line message: line breaks written as \\n."""
    return text.replace("\n", "\\n").replace("\r", "\\r")


def error(text, problem):
    return SamtoolsArgsError(f"--samtools_args '{shown(text)}': {problem}")


def named(written, spec):
    """How a message names an option: as written, with its short name when the user wrote another."""
    return f"{written} ({spec.canonical})" if spec.short and written != spec.canonical else written


def long_spec(name, text):
    """The option a long name stands for: an exact name, or the prefix of one option's names (getopt_long)."""
    if name in LONG:
        return LONG[name]
    if not name:
        raise error(text, "'--=' is not an option")
    matches = [long for long in LONG if long.startswith(name)]
    specs = {id(LONG[long]): LONG[long] for long in matches}
    if len(specs) == 1:
        return LONG[matches[0]]
    if not specs:
        raise error(text, f"--{name} is not an option of samtools view (1.16.1)")
    raise error(text, f"--{name} is ambiguous: " + ", ".join(f"--{long}" for long in sorted(matches)))


def next_value(tokens, position, written, text):
    if position >= len(tokens):
        raise error(text, f"{written} needs a value")
    return tokens[position]


def parse(text):
    """SamtoolsArgs of the user's text; SamtoolsArgsError for anything refused or malformed."""
    try:
        tokens = shlex.split(text or "")
    except ValueError as err:  # an unclosed quote, a trailing backslash
        raise error(text, f"cannot be split into words: {err}") from None
    if any("\0" in token for token in tokens):
        raise error(text, "contains a NUL character")
    options, expression, i = [], "", 0
    while i < len(tokens):
        token, i = tokens[i], i + 1
        found = []  # (as written, spec, value)
        if token == "--":
            raise error(text, "'--' is not allowed: the pipeline gives the input file and regions itself")
        if token.startswith("--"):
            name, equals, value = token[2:].partition("=")
            spec = long_spec(name, text)
            written = f"--{name}"
            if spec.refusal:
                raise error(text, f"{named(written, spec)} is not allowed: {spec.refusal}")
            if not spec.takes_value:
                if equals:
                    raise error(text, f"{written} takes no value")
                value = None
            elif not equals:
                value = next_value(tokens, i, written, text)
                i += 1
            found.append((written, spec, value))
        elif token.startswith("-") and token != "-":
            j = 1
            while j < len(token):
                written, spec, j = f"-{token[j]}", SHORT.get(token[j]), j + 1
                where = "" if token == written else f" (in {token})"
                if spec is None:
                    raise error(text, f"{written}{where} is not an option of samtools view (1.16.1)")
                if spec.refusal:
                    raise error(text, f"{written}{where} is not allowed: {spec.refusal}")
                if not spec.takes_value:
                    found.append((written, spec, None))
                    continue
                value = token[j:]  # attached, or the next word
                if not value:
                    value = next_value(tokens, i, written, text)
                    i += 1
                found.append((written, spec, value))
                break
        else:
            raise error(text, f"'{token}' is not an option: the pipeline gives the input file and regions itself")
        for written, spec, value in found:
            if value is not None:
                if value == "":
                    raise error(text, f"{written} has an empty value")
                problem = spec.check(value) if spec.check else ""
                if problem:
                    raise error(text, f"{written}: {problem}")
            if spec is EXPRESSION:
                expression = value  # samtools keeps only the last -e
            else:
                options += [spec.canonical] if value is None else [spec.canonical, value]
    return SamtoolsArgs(tuple(options), expression)


def exit_status(returncode):
    """A shell-style exit status: 128 + N for a process killed by signal N."""
    return returncode if returncode >= 0 else 128 - returncode


def killed_by_signal(status):
    """Whether a shell-style exit status is that of a process killed by a signal."""
    return status in SIGNAL_STATUSES


def probe(samtools, args):
    """`samtools view -c <options>` on the one-record SAM, given on stdin."""
    command = [samtools, "view", "-c", *args.tokens(), "-"]
    return subprocess.run(command, input=PROBE_SAM, capture_output=True, text=True)


def verify(samtools, text):
    """The parsed options, once samtools has accepted them on a one-record input. SamtoolsArgsError with
    samtools' first error line when it does not (it reports some problems on stderr and still exits 0);
    SamtoolsKilled for a killed samtools. Raises OSError when samtools cannot be run."""
    args = parse(text)
    if not args.tokens():
        return args
    result = probe(samtools, args)
    status = exit_status(result.returncode)
    if killed_by_signal(status):
        raise SamtoolsKilled(status, f"samtools was killed or ran out of memory (exit {status}) checking the options")
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    if lines:
        raise error(text, f"samtools rejects them: {lines[0]}")
    if status != 0:
        raise error(text, f"samtools rejects them: it exited with status {status}")
    if not result.stdout.strip().isdigit():
        raise error(text, f"samtools printed no count: {shown(result.stdout.strip()[:200])!r}")
    return args
