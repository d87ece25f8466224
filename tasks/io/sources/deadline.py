"""Whole-request deadlines for HTTP: a server that answers a byte at a time cannot hold a run for ever.

The timeouts of requests, urllib3 and urllib bound the wait between two bytes, not a request: a STAC API that
sends one byte a second keeps a search "alive" indefinitely (a fault battery's run was still reading at 60 s with
a 2 s timeout, and was killed at 300 s). Every request made inside ``within(seconds, server)`` has its socket
registered with one watchdog thread, which shuts the socket down when the deadline passes; the blocked read then
fails, and ``within`` raises ``RequestTooSlow`` naming the server and the deadline. Sockets are registered by the
connection classes of ``DeadlineAdapter`` (requests, for pystac-client) and ``OPENER`` (urllib, for HEADs and
checksum downloads); GDAL's reads have curl's own whole-request timeout (``GDAL_HTTP_TIMEOUT``).
"""
from __future__ import annotations

import heapq
import http.client
import itertools
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from tasks.errors import LdnError

__all__ = ["RequestTooSlow", "within", "DeadlineAdapter", "OPENER"]


class RequestTooSlow(LdnError):
    """One HTTP request did not finish within its deadline (the server answers, but too slowly)."""


@dataclass
class _Deadline:
    until: float
    seconds: float
    server: str
    expired: bool = False
    done: bool = False
    sockets: list[socket.socket] = field(default_factory=list)


_local = threading.local()


def _active() -> _Deadline | None:
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else None


class _Watchdog:
    """One daemon thread that shuts down the sockets of requests past their deadline."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: _Deadline) -> None:
        with self._wake:
            heapq.heappush(self._heap, (deadline.until, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ldn-http-deadlines", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap:
                    self._wake.wait()
                until, _, deadline = self._heap[0]
                now = time.monotonic()
                if now < until:
                    self._wake.wait(until - now)
                    continue
                heapq.heappop(self._heap)
                if deadline.done:
                    continue
                deadline.expired = True  # under the lock: ``within`` sees it, or marks the block done first
                sockets = list(deadline.sockets)
            for sock in sockets:
                _shut(sock)

    def finish(self, deadline: _Deadline) -> bool:
        """Mark ``deadline``'s block done; whether it had expired before (its sockets shut, its answers cut)."""
        with self._wake:
            deadline.done = True
            deadline.sockets.clear()  # the entry waits in the heap until its time; the sockets need not
            return deadline.expired


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # the blocked recv returns at once; close() alone would not wake it
    except OSError:
        pass  # already closed


_WATCHDOG = _Watchdog()


def _register(sock: socket.socket | None) -> None:
    """Put ``sock`` under this thread's deadline (if any); shut it at once when the deadline has passed."""
    deadline = _active()
    if deadline is None or sock is None:
        return
    deadline.sockets.append(sock)
    if deadline.expired or time.monotonic() >= deadline.until:
        deadline.expired = True
        _shut(sock)


@contextmanager
def within(seconds: float, server: str) -> Iterator[None]:
    """Run the HTTP requests of the block under one deadline of ``seconds`` (reading their bodies included); past
    it their sockets are shut and the block raises ``RequestTooSlow`` naming ``server``, also when the cut answer
    read as a complete one (a shut socket reads as the end of the data)."""
    deadline = _Deadline(until=time.monotonic() + seconds, seconds=seconds, server=server)
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    stack.append(deadline)
    _WATCHDOG.watch(deadline)
    too_slow = f"{server} did not finish one request within {seconds:.0f} s (it answers, but too slowly)"
    try:
        yield
    except Exception as err:
        if _WATCHDOG.finish(deadline):
            raise RequestTooSlow(too_slow) from err
        raise
    finally:
        _WATCHDOG.finish(deadline)
        stack.pop()
    if deadline.expired:  # the block ended without an error on a cut answer (a shut socket reads as its end)
        raise RequestTooSlow(too_slow)


class _Connection(HTTPConnection):
    def getresponse(self, *args: Any, **kwargs: Any) -> Any:  # the socket exists from the request on
        _register(self.sock)
        return super().getresponse(*args, **kwargs)


class _SecureConnection(HTTPSConnection):
    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _register(self.sock)
        return super().getresponse(*args, **kwargs)


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _SecurePool(HTTPSConnectionPool):
    ConnectionCls = _SecureConnection


class DeadlineAdapter(HTTPAdapter):
    """A requests adapter whose connections put their sockets under the deadline of ``within`` (kept-alive
    connections too: a socket is registered at every response it reads)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _SecurePool}


class _StdlibConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _register(self.sock)


class _StdlibSecureConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _register(self.sock)


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: Any) -> Any:
        return self.do_open(_StdlibConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: Any) -> Any:
        extra = {"check_hostname": self._check_hostname} if hasattr(self, "_check_hostname") else {}
        return self.do_open(_StdlibSecureConnection, req, context=getattr(self, "_context", None), **extra)


OPENER = urllib.request.build_opener(_HTTPHandler, _HTTPSHandler)
"""``urllib.request`` with sockets under the deadline of ``within`` (each request opens its own connection)."""
