#!/usr/bin/env python3
"""Requests and body bytes per served file, from tests/remote_server.py's log and a run's .nextflow.log.

Splits each file's requests at the run's 'Igniting dataflow network' line: before it, the driver's own
checks ran (the workflow body); after it, the processes stage their inputs and run. For measuring remote
inputs by hand (README, "AWS Batch"):

    python tests/remote_server.py --root DIR --log server.log --port-file port &
    nextflow run . --input http://127.0.0.1:$(cat port)/x.bam --outdir results
    python tests/remote_requests.py server.log .nextflow.log
"""

import argparse
import datetime
import json
import sys


def log_time(nextflow_log, text):
    """The time (as time.time()) of the first .nextflow.log line holding text ('Dec-02 00:21:23.072 ...')."""
    with open(nextflow_log) as handle:
        line = next(line for line in handle if text in line)
    stamp = f"{datetime.date.today().year}-{line[:19]}"
    return datetime.datetime.strptime(stamp, "%Y-%b-%d %H:%M:%S.%f").timestamp()


def describe(rows):
    heads = sum(r["method"] == "HEAD" for r in rows)
    return f"{len(rows)} requests ({heads} HEAD, {len(rows) - heads} GET), {sum(r['sent'] for r in rows):,} bytes"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("server_log")
    parser.add_argument("nextflow_log")
    args = parser.parse_args(argv)
    ignition = log_time(args.nextflow_log, "Igniting dataflow network")
    with open(args.server_log) as handle:
        rows = [json.loads(line) for line in handle]
    for path in sorted({r["path"] for r in rows}):
        mine = [r for r in rows if r["path"] == path]
        bodies = sorted((r["sent"] for r in mine if r["method"] == "GET"), reverse=True)
        print(
            f"{path}: driver: {describe([r for r in mine if r['start'] < ignition])}; "
            f"whole run: {describe(mine)}; GET bodies sent: {bodies}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
