"""Warnings of a task that succeeds, for the console: Nextflow shows a task's output only when it fails.

A script logs its warnings as usual; with keep_warnings(path) they are also written, one per line, to a
file (created at the first warning only) that the module emits and main.nf prints with log.warn."""

import itertools
import logging


class _WarningsOnly(logging.Filter):
    def filter(self, record):
        return record.levelno == logging.WARNING


def keep_warnings(path):
    """Also write every WARNING record (its message, one line) to `path`; no file when there is none."""
    if not path:
        return
    handler = logging.FileHandler(path, mode="w", encoding="utf-8", delay=True)
    handler.addFilter(_WarningsOnly())
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger().addHandler(handler)


def lengths_described(by_name, shown=3, more_what=""):
    """'name' is L1 bp in a, b and L2 bp in c; ... for {name: {length: where}} (where: the files or samples, each
    once, a list or a dict's keys): the first `shown` names, then how many more. Used by the warnings about
    samples on different references."""
    described = [
        f"'{name}' is " + " and ".join(f"{length} bp in {', '.join(where)}" for length, where in by_length.items())
        for name, by_length in itertools.islice(by_name.items(), shown)
    ]
    more = f"; and {len(by_name) - shown} more{more_what}" if len(by_name) > shown else ""
    return "; ".join(described) + more
