"""The live dashboard: the HTML report served on localhost, redrawn as trials arrive.

A standard-library ``ThreadingHTTPServer`` serves three read-only routes:

- ``/``: the report page (:func:`archtune.report.html.render_report`), told to poll;
- ``/api/state``: a small JSON ``{"version", "n_trials", "n_pending"}`` the page polls;
- ``/api/payload``: the report's data as JSON, fetched when the version changed.

Every request opens the search file read-only (``SQLiteStorage(path, read_only=True)``): the
dashboard never takes the writer lock, so it runs beside the search, and never writes the file. It
binds to 127.0.0.1 unless told otherwise. CLI: ``archtune dashboard run.search --port 8080``.

Example:
    >>> import json, os, tempfile, urllib.request
    >>> from archtune.storage.base import COMPLETE, Trial
    >>> from archtune.storage.sqlite import SQLiteStorage
    >>> path = os.path.join(tempfile.mkdtemp(), "d.search")
    >>> st = SQLiteStorage(path); st.set_meta({"name": "d", "hi_fi_cost": "1.0"})
    >>> st.append(Trial(0, "[1]", "hi", 1.0, COMPLETE, 0.5)); st.close()
    >>> with Dashboard(path, port=0) as board:
    ...     json.load(urllib.request.urlopen(board.url + "api/state"))["n_trials"]
    1
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from archtune.errors import ArchtuneError, ConfigError
from archtune.report.data import load_report_data
from archtune.report.html import _page, report_payload
from archtune.storage.sqlite import SQLiteStorage


def search_version(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``{"version", "n_trials", "n_pending"}`` of a search file, read-only: changes when a trial lands.

    Example:
        >>> search_version("/nonexistent.search")
        Traceback (most recent call last):
        ...
        archtune.errors.StorageError: no search file at '/nonexistent.search'
    """
    storage = SQLiteStorage(Path(path), read_only=True)
    try:
        n, pending = storage.trial_count(), len(storage.pending())
    finally:
        storage.close()
    return {"version": f"{n}:{pending}", "n_trials": n, "n_pending": pending}


class Dashboard:
    """A dashboard server for one search file; use as a context manager or call :meth:`serve_forever`.

    Args:
        search_file: the search file (finished or running); it must exist.
        host: the address to bind; 127.0.0.1 (this machine only) by default.
        port: the port; 0 picks a free one (see ``url``).
        interval_s: how often the page polls for new trials.

    Raises:
        StorageError: when ``search_file`` is not a search file.
        ConfigError: when the port is taken or ``interval_s`` is not positive.
    """

    def __init__(
        self,
        search_file: str | os.PathLike[str],
        host: str = "127.0.0.1",
        port: int = 8080,
        interval_s: float = 2.0,
    ):
        if not interval_s > 0:
            raise ConfigError(f"interval_s must be a positive number of seconds, got {interval_s!r}; e.g. 2")
        self.search_file = Path(search_file)
        search_version(self.search_file)  # fail now, not at the first request
        self.interval_s = float(interval_s)
        self._cache: tuple[str, dict[str, Any]] | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        try:
            self.server = ThreadingHTTPServer((host, port), self._handler())
        except OSError as err:
            raise ConfigError(
                f"cannot listen on {host}:{port} ({err.strerror}); give another --port (0 picks a free one)"
            ) from None
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/"

    def payload(self) -> tuple[str, dict[str, Any]]:
        """The current version and report data (computed once per version)."""
        data = load_report_data(self.search_file)
        version = f"{len(data.trials)}:{len(data.pending)}"
        with self._lock:
            if self._cache is not None and self._cache[0] == version:
                return self._cache
        computed = (version, report_payload(data))
        with self._lock:
            self._cache = computed
        return computed

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        board = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "archtune-dashboard"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass  # one line per poll would bury the search's own output

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, value: Any) -> None:
                self._send(
                    status, json.dumps(value, allow_nan=False, default=str).encode(), "application/json"
                )

            def do_GET(self) -> None:  # noqa: N802 - the base class's name
                route = self.path.split("?", 1)[0]
                try:
                    if route in ("/", "/index.html"):
                        version, payload = board.payload()
                        page = _page(
                            payload, {"interval_ms": int(board.interval_s * 1000), "version": version}
                        )
                        self._send(HTTPStatus.OK, page.encode("utf-8"), "text/html; charset=utf-8")
                    elif route == "/api/state":
                        self._json(HTTPStatus.OK, search_version(board.search_file))
                    elif route == "/api/payload":
                        self._json(HTTPStatus.OK, board.payload()[1])
                    elif route == "/favicon.ico":
                        self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
                    else:
                        self._json(HTTPStatus.NOT_FOUND, {"error": f"no page {route!r}: try / or /api/state"})
                except ArchtuneError as err:  # the file went away or was replaced by something else
                    self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(err)})

        return Handler

    def start(self) -> Dashboard:
        """Serve in a background thread (returns at once)."""
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="archtune-dashboard", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (Ctrl-C), then close."""
        try:
            self.server.serve_forever()
        finally:
            self.server.server_close()

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join()
            self._thread = None
        self.server.server_close()

    def __enter__(self) -> Dashboard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_dashboard(
    search_file: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 8080, interval_s: float = 2.0
) -> None:
    """Serve the dashboard of ``search_file`` until interrupted (what ``archtune dashboard`` runs).

    Example::

        serve_dashboard("run.search", port=8080)   # open http://127.0.0.1:8080/
    """
    board = Dashboard(search_file, host, port, interval_s)
    print(f"archtune dashboard for {str(search_file)!r} at {board.url} (read-only; Ctrl-C stops)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a user stops it
        board.serve_forever()
