#!/usr/bin/env python3
"""A small HTTP file server for the remote-input tests: Range requests and a log of every request.

Serves the files of --root (no listing, no directories) with what a remote object store offers: HEAD
with Content-Length and Last-Modified, Accept-Ranges, and GET with one byte range (206 + Content-Range).
Every request is logged to --log as one JSON line when it ends: its start and end times (time.time()),
method, path, Range header, status and the body bytes the server actually wrote to the socket (a client
that closes a whole-file GET early still gets what the kernel accepted, and that is what is counted).

Started by the tests as its own process; it binds 127.0.0.1 on a free port and writes that port to
--port-file once it listens. Stopped by its PID (SIGTERM).

--send-buffer caps each connection's socket send buffer. Nextflow's http file system asks a file's size
and mtime with GETs whose bodies it never reads; Linux lets a loopback send buffer grow to 4 MiB, so such a
GET of a small file looks, by the bytes sent, like a whole download. A small buffer keeps an unread body to
what the two socket buffers hold (a few hundred KB), as a real network's window would.
"""

import argparse
import email.utils
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 64 * 1024
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header, size):
    """(first, last) inclusive of a 'bytes=a-b', 'bytes=a-' or 'bytes=-n' header, None for the whole
    file, or 'unsatisfiable'."""
    if not header:
        return None
    match = RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None  # several ranges or a bad header: the whole file, as RFC 9110 allows
    first, last = match.groups()
    if first == "":
        length = int(last)
        return (max(0, size - length), size - 1) if length > 0 and size > 0 else "unsatisfiable"
    first = int(first)
    last = min(int(last), size - 1) if last else size - 1
    return (first, last) if first <= last else "unsatisfiable"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root = "."
    log_path = None
    send_buffer = 0
    lock = threading.Lock()

    def setup(self):
        if self.send_buffer:
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer)
        super().setup()

    def handle(self):
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):
            pass  # the client closed a kept-alive connection between requests

    def do_HEAD(self):
        self.serve(body=False)

    def do_GET(self):
        self.serve(body=True)

    def serve(self, body):
        started, sent, status = time.time(), 0, 404
        try:
            path = os.path.join(self.root, self.path.split("?", 1)[0].lstrip("/"))
            if not os.path.isfile(path):
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            size = os.path.getsize(path)
            wanted = byte_range(self.headers.get("Range"), size)
            if wanted == "unsatisfiable":
                status = 416
                self.send_response(status)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            first, last = wanted or (0, size - 1)
            status = 206 if wanted else 200
            self.send_response(status)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(last - first + 1))
            self.send_header("Last-Modified", email.utils.formatdate(os.path.getmtime(path), usegmt=True))
            if wanted:
                self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
            self.end_headers()
            if body:
                with open(path, "rb") as handle:
                    handle.seek(first)
                    left = last - first + 1
                    while left > 0:
                        chunk = handle.read(min(CHUNK, left))
                        if not chunk:
                            break
                        self.wfile.write(chunk)
                        sent += len(chunk)
                        left -= len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client stopped reading
        finally:
            self.record(started, status, sent)

    def record(self, started, status, sent):
        entry = {
            "start": started, "end": time.time(), "method": self.command, "path": self.path,
            "range": self.headers.get("Range"), "status": status, "sent": sent,
        }  # fmt: skip
        with self.lock, open(self.log_path, "a") as log:
            log.write(json.dumps(entry) + "\n")

    def log_message(self, format, *args):
        pass  # the JSON log is the record


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="folder whose files are served")
    parser.add_argument("--log", required=True, help="JSON lines, one per request")
    parser.add_argument("--port-file", required=True, help="written with the port once the server listens")
    parser.add_argument("--send-buffer", type=int, default=0, help="socket send buffer in bytes (0: the system's)")
    args = parser.parse_args(argv)
    Handler.root, Handler.log_path = os.path.abspath(args.root), os.path.abspath(args.log)
    Handler.send_buffer = args.send_buffer
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    partial = args.port_file + ".partial"
    with open(partial, "w") as handle:
        handle.write(str(server.server_address[1]))
    os.replace(partial, args.port_file)  # readers never see a half-written port
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
