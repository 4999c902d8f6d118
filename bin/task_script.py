"""What every task script of bin/ does the same way: its log (one format on stderr, --log-level, and with
--warnings the warnings kept for the console, task_warnings.py) and its exit with the cyclic garbage
collector off. Standard library only: the counter's image runs it."""

import gc
import logging
import sys

from task_warnings import keep_warnings


def add_log_options(parser, warnings=False):
    """--warnings (when the task's warnings go to the console) and --log-level, the last options of a script."""
    if warnings:
        parser.add_argument("--warnings", help="also write the warnings to this file (for the console)")
    parser.add_argument("--log-level", default="INFO")


def start_logging(args):
    """The log of a script whose options came from add_log_options: `[LEVEL] message` lines on stderr."""
    logging.basicConfig(level=args.log_level.upper(), format="[%(levelname)s] %(message)s")
    keep_warnings(getattr(args, "warnings", None))


def run_script(main):
    """Exit with main()'s status. Rows and items hold no reference cycles: the cyclic collector would only walk
    a panel's hundreds of thousands of them again and again (half the planning time of 200,000 regions)."""
    gc.disable()
    sys.exit(main())
