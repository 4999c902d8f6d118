"""Warnings of a task that succeeds, for the console: Nextflow shows a task's output only when it fails.

A script logs its warnings as usual; with keep_warnings(path) they are also written, one per line, to a
file (created at the first warning only) that the module emits and main.nf prints with log.warn."""

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
