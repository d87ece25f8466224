"""Fault injection in front of a real S3 API: an HTTP proxy on 127.0.0.1 that forwards every request to moto's server
and, when told, answers some PUTs itself with an S3 error (a store that refuses a write midway, a credential that
expires) or lets another writer go first (a run that switches the root catalog between this run's read and write)."""
from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_ERRORS = {500: ("InternalError", "We encountered an internal error. Please try again."),
           403: ("ExpiredToken", "The provided token has expired.")}


@dataclass
class Faults:
    """What the proxy does to the writes (``methods``) whose path ``match`` accepts (the query too with ``query``, e.g.
    one part of a multipart upload: ``partNumber=2``): after ``after`` of them pass, answer the rest with ``status``
    (500 or 403); ``before_put`` runs once before the first matching one is forwarded."""

    match: Callable[[str], bool] | None = None
    methods: tuple[str, ...] = ("PUT",)
    after: int | None = None
    status: int = 500
    before_put: Callable[[], None] | None = None
    query: bool = False
    seen: int = 0
    refused: list[str] = field(default_factory=list)


class S3FaultProxy:
    """The proxy: ``url`` is its endpoint (AWS_ENDPOINT_URL), ``faults`` what it injects now."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.faults = Faults()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # answers botocore's `Expect: 100-continue` (HTTP/1.0 would leave it waiting)

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if (refused := proxy._inject(self.command, self.path)) is not None:
                    code, message = _ERRORS[refused]
                    xml = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}"
                           "</Message></Error>").encode()
                    self.send_response(refused)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(xml)))
                    self.end_headers()
                    self.wfile.write(xml)
                    return
                conn = http.client.HTTPConnection(proxy.upstream.netloc, timeout=60)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("connection", "keep-alive", "expect")}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                # a HEAD's length is the object's (no body follows); any other answer's is the body read here
                self.send_header("Content-Length", resp.getheader("Content-Length", "0") if self.command == "HEAD"
                                 else str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _inject(self, method: str, path: str) -> int | None:
        """The error status to answer this request with, or None to forward it (after any ``before_put``)."""
        with self._lock:
            f = self.faults
            if f.match is None or method not in f.methods or not f.match(path if f.query else path.split("?")[0]):
                return None
            if f.before_put is not None:
                hook, f.before_put = f.before_put, None
                hook()
            f.seen += 1
            if f.after is not None and f.seen > f.after:
                f.refused.append(path)
                return f.status
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
