"""Make the warnings of the live pipeline visible in the server's console.

streamlit-webrtc logs its worker-thread errors (a frame callback that raised, a callback slower than
10 s, which ends that stream for good) through a logger with only a NullHandler, and Streamlit
configures no root handler: without this, a stream that dies says nothing anywhere. Our own
"frame analysis failed" messages (fer_core.live) went the same way.
"""

from __future__ import annotations

import logging
import sys

LOGGERS = ("fer_core", "dashboard", "streamlit_webrtc", "aiortc")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Console(logging.StreamHandler):
    """A StreamHandler that writes to whatever sys.stderr is when a message comes (test runners
    swap it; a handler holding an old one would write into a closed capture)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def show_pipeline_warnings(level: int = logging.WARNING) -> None:
    """Send WARNING and above from LOGGERS to stderr, once per process (every page run calls this)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if any(getattr(h, "_fer_console", False) for h in logger.handlers):
            continue
        handler = _Console()
        handler.setLevel(level)
        handler.setFormatter(logging.Formatter(FORMAT))
        handler._fer_console = True
        logger.addHandler(handler)
        if logger.level == logging.NOTSET or logger.level > level:
            logger.setLevel(level)
