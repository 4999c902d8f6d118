#!/usr/bin/env python3
"""Check the user's extra samtools view options (--samtools_args) once, before any counting.

The options are parsed as samtools 1.16.1 parses them and checked against the allow-list of
samtools_options.py, then tried with one `samtools view -c` on a one-record SAM given on stdin, so that
values samtools rejects (a bad -e expression, -s or -d value) are found here and not in every region's call.
Silent and exit 0 when they are fine; otherwise one line `[ERROR] --samtools_args '<text>': ...` and exit 2
(exit 128+N when the check's samtools is killed by signal N, 1 when samtools cannot be run).

Pass the text after '=' (`--samtools-args=-q20`): a value that starts with '-' is then never read as an option.
"""

import argparse
import logging
import sys

import samtools_options

log = logging.getLogger("check_samtools_args")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samtools-args", default="", help="the options, e.g. --samtools-args='-F 0x904 -q 20'")
    parser.add_argument("--samtools", default="samtools", help="samtools executable")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s] %(message)s")
    try:
        samtools_options.verify(args.samtools, args.samtools_args)
    except (samtools_options.SamtoolsArgsError, samtools_options.SamtoolsKilled) as err:
        log.error("%s", err)
        return err.exit_code
    except OSError as err:
        log.error("cannot run samtools (%s): %s", args.samtools, err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
