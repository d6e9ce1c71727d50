#!/usr/bin/python3
"""A small HTTP file server on 127.0.0.1 for the download tests (tests/unit/test_io_mnist.cpp).

Serves the files of DIR with byte ranges ("Range: bytes=N-" gets 206 and the rest of the file,
or 416 past its end), writes the port it listens on to PORT_FILE (atomically, once listening)
and one line per request to LOG_FILE: "GET /NAME range=bytes=N-" (or "range=-" without one).
Faults, each for one file NAME:
  --truncate NAME   the first request for NAME promises the whole file but the connection is
                    closed after half of it;
  --stall NAME      the first request for NAME gets half of it, then nothing for a minute
                    (the connection stays open);
  --tamper NAME     NAME is served with its last byte changed;
  --no-range        Range headers are ignored (200 and the whole file).

usage: range_server.py DIR PORT_FILE LOG_FILE [--truncate NAME] [--stall NAME] [--tamper NAME]
                       [--no-range]
"""
import argparse
import http.server
import os
import re
import threading
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("port_file")
    ap.add_argument("log_file")
    ap.add_argument("--truncate", action="append", default=[])
    ap.add_argument("--stall", action="append", default=[])
    ap.add_argument("--tamper", action="append", default=[])
    ap.add_argument("--no-range", action="store_true")
    args = ap.parse_args()
    faulted_once = set()
    lock = threading.Lock()
    log = open(args.log_file, "a", buffering=1)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            name = os.path.basename(self.path)
            rng = self.headers.get("Range")
            with lock:
                log.write(f"GET /{name} range={rng or '-'}\n")
            path = os.path.join(args.dir, name)
            if not name or not os.path.isfile(path):
                self.send_error(404)
                return
            with open(path, "rb") as f:
                data = f.read()
            if name in args.tamper:
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            start = 0
            m = re.fullmatch(r"bytes=(\d+)-", rng or "")
            if m and not args.no_range:
                start = int(m.group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with lock:
                fault = (name in args.truncate or name in args.stall) and name not in faulted_once
                faulted_once.add(name)
            if fault:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                if name in args.stall:
                    time.sleep(60)
                self.close_connection = True
                return
            self.wfile.write(body)

        def log_message(self, *unused):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
