"""Range-capable static file server bound to 127.0.0.1, run as its own process.

``python -m tasks.io.runtime._fileserver ROOT PORT`` serves ROOT; with PORT 0 the system picks a free port, which the
server prints on its first line of standard output once it is listening (so no other process can take it first). It runs in a separate process because GDAL
holds the GIL while it reads over HTTP, so a server thread inside the reading process would stall.
"""
from __future__ import annotations

import os
import sys
from functools import partial
from http.server import ThreadingHTTPServer

from RangeHTTPServer import RangeRequestHandler


class QuietRangeHandler(RangeRequestHandler):
    """RangeRequestHandler without a log line per request, that serves files under its root and nothing else:
    no directory listings, and no file reached through a symlink that leads out of the root."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        pass

    def list_directory(self, path: str) -> None:  # type: ignore[override]
        self.send_error(404, "No directory listings")
        return None

    def send_head(self):  # type: ignore[no-untyped-def]
        root = os.path.realpath(self.directory)
        target = os.path.realpath(self.translate_path(self.path))
        if target != root and not target.startswith(root + os.sep):
            self.send_error(404, "File not found")
            return None
        return super().send_head()


def main(root: str, port: int) -> None:
    """Serve ``root`` on 127.0.0.1:``port`` until killed."""
    httpd = ThreadingHTTPServer(("127.0.0.1", port), partial(QuietRangeHandler, directory=root))
    httpd.daemon_threads = True
    print(httpd.server_address[1], flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
