"""A STAC API on 127.0.0.1 that misbehaves on purpose: silent, looping its `next` links, or answering junk.

It serves just enough of a STAC API for ``pystac-client`` (a root with item search, one collection,
``/search``), and ``mode`` chooses the fault. Each instance runs in a thread of the test process and
counts the requests it saw. ``blob_server`` serves files the way a blob store does (Range reads, the MD5 stated
at upload), and can fail its first GETs.
"""
from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Literal, TypeVar

Mode = Literal["ok", "loop", "bad-json-search", "endless", "flaky", "500-search", "html-root", "next-404",
               "next-refused", "next-junk"]
"""ok: one page; loop: `next` to page 1 for ever; bad-json-search: HTML pages from /search; endless: a new page for
ever; flaky: the first two searches answer 500; 500-search: every search answers 500 (the API fails mid-run);
html-root: the root is an HTML page; next-404 / next-refused / next-junk: the first page's `next` link 404s, points
at a closed port, or is no URL."""

COLLECTION = "modis-13Q1-061"
BBOX = [100.0, 30.0, 130.0, 50.0]


def _item(n: int) -> dict:
    return {"type": "Feature", "stac_version": "1.0.0", "id": f"MOD13Q1.A2020{1 + 16 * (n % 23):03d}.h26v04.061",
            "geometry": {"type": "Polygon", "coordinates": [[[110, 40], [112, 40], [112, 42], [110, 42], [110, 40]]]},
            "bbox": [110, 40, 112, 42], "properties": {"datetime": None, "start_datetime": "2020-01-01T00:00:00Z",
                                                     "end_datetime": "2020-01-16T23:59:59Z"},
            "links": [], "assets": {}, "collection": COLLECTION}


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _json(self, doc: dict | str, status: int = 200) -> None:
        body = (doc if isinstance(doc, str) else json.dumps(doc)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        self.server.requests += 1
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        path = self.path.split("?")[0].rstrip("/")
        if path == "" and self.server.mode == "html-root":
            body = b"<html><body>Welcome to nginx!</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif path == "":
            self._json({"type": "Catalog", "id": "faulty", "stac_version": "1.0.0", "description": "faulty STAC API",
                        "conformsTo": ["https://api.stacspec.org/v1.0.0/core",
                                       "https://api.stacspec.org/v1.0.0/item-search",
                                       "https://api.stacspec.org/v1.0.0/collections"],
                        "links": [{"rel": "self", "href": base}, {"rel": "root", "href": base},
                                  {"rel": "search", "href": f"{base}/search", "type": "application/geo+json",
                                   "method": "GET"},
                                  {"rel": "search", "href": f"{base}/search", "type": "application/geo+json",
                                   "method": "POST"},
                                  {"rel": "data", "href": f"{base}/collections"}]})
        elif path == f"/collections/{COLLECTION}":
            self._json({"type": "Collection", "id": COLLECTION, "stac_version": "1.0.0", "description": "x",
                        "license": "proprietary", "links": [],
                        "extent": {"spatial": {"bbox": [BBOX]}, "temporal": {"interval": [[None, None]]}}})
        elif path == "/search":
            mode = self.server.mode
            self.server.searches += 1
            if mode == "bad-json-search":
                self._json("<html><body>502 Bad Gateway</body></html>")
                return
            if mode == "500-search" or (mode == "flaky" and self.server.searches <= 2):
                self._json({"code": "InternalServerError"}, status=500)
                return
            page = self.server.requests
            nxt = {"loop": f"{base}/search?page=1", "next-404": f"{base}/nowhere",
                   "next-refused": f"http://127.0.0.1:{self.server.closed_port}/search", "next-junk": "not a url"
                   }.get(mode, f"{base}/search?page={page + 1}")
            links = [{"rel": "next", "href": nxt, "type": "application/geo+json", "method": "GET"}]
            paging = mode in ("loop", "endless") or (mode.startswith("next-") and "page=" not in self.path)
            self._json({"type": "FeatureCollection", "features": [_item(page)], "links": links if paging else []})
        else:
            self._json({"code": "NotFound", "description": self.path}, status=404)

    def do_POST(self) -> None:  # noqa: N802  (pystac-client searches by POST when the root allows it)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.do_GET()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, mode: Mode) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = mode
        self.requests = 0
        self.searches = 0
        with socket.socket() as closed:  # a port nobody listens on
            closed.bind(("127.0.0.1", 0))
            self.closed_port = closed.getsockname()[1]


Served = TypeVar("Served", bound=ThreadingHTTPServer)


@contextmanager
def _in_thread(server: Served) -> Iterator[Served]:
    """``server`` serving from a thread of this process until the block ends."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def faulty_stac(mode: Mode) -> Iterator[_Server]:
    """A STAC API with fault ``mode`` on a free 127.0.0.1 port (its URL: ``url(server)``)."""
    with _in_thread(_Server(mode)) as server:
        yield server


def url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@contextmanager
def silent_api() -> Iterator[str]:
    """A port on 127.0.0.1 that accepts connections and never answers (a hung server); yields its URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # the kernel completes the handshakes; nobody ever reads or writes
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


@contextmanager
def drip_server(body: bytes = b'{"type": "Catalog"}' * 50, interval: float = 0.2,
                content_type: str = "application/json") -> Iterator[str]:
    """A server on 127.0.0.1 that answers every request with a valid 200 response, one byte every ``interval``
    seconds, status line and headers included (every byte well within any read timeout, the whole never ending in
    a useful time); yields its URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "ETag: \"drip\"\r\n\r\n").encode()

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)  # the request (small: a GET or HEAD)
                for byte in head + body:
                    if stop.wait(interval):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                return  # the client gave up and closed its side

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        listener.close()


class _BlobHandler(BaseHTTPRequestHandler):
    server: "_BlobServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        path = self.server.root / self.path.split("?")[0].lstrip("/")
        with self.server.lock:
            self.server.requests += 1
            failing = body and self.server.fail_gets > 0
            if failing:
                self.server.fail_gets -= 1
        if failing or not path.is_file():
            self.send_response(503 if failing else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = path.read_bytes()
        start, end, status = 0, len(data) - 1, 200
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes="):
            first, _, last = ranged[6:].partition("-")
            start, end, status = int(first), min(int(last) if last else len(data) - 1, len(data) - 1), 206
        self.send_response(status)
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{self.server.stated[path.name].hex()[:16]}"')
        self.send_header("Last-Modified", "Wed, 15 Jan 2025 00:00:00 GMT")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            self.send_header("x-ms-blob-content-md5", base64.b64encode(self.server.stated[path.name]).decode())
        else:
            self.send_header("Content-MD5", base64.b64encode(self.server.stated[path.name]).decode())
        self.end_headers()
        if body:
            self.wfile.write(data[start:end + 1])


class _BlobServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, fail_gets: int) -> None:
        super().__init__(("127.0.0.1", 0), _BlobHandler)
        self.root, self.fail_gets, self.requests, self.lock = root, fail_gets, 0, threading.Lock()
        self.stated = {p.name: hashlib.md5(p.read_bytes()).digest() for p in root.iterdir() if p.is_file()}


@contextmanager
def blob_server(root: Path, fail_gets: int = 0) -> Iterator[_BlobServer]:
    """A file server on 127.0.0.1 shaped like a blob store: the files of ``root`` with Range reads, an ETag, and the
    MD5 of each file as it was when the server started (``Content-MD5`` on whole answers, Azure's
    ``x-ms-blob-content-md5`` on ranged ones), as a blob store keeps the MD5 given at upload; a file changed on disk
    afterwards is served with its old MD5. The first ``fail_gets`` GETs answer 503 (HEADs never fail)."""
    with _in_thread(_BlobServer(root, fail_gets)) as server:
        yield server
