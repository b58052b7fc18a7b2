"""Logging for a command or the server: one handler, Offpilot's loggers at the chosen level."""

from __future__ import annotations

import logging
import sys


def setup_logging(level: str, log_file: str | None = None) -> None:
    """Log to ``log_file`` (stderr when None); ``offpilot.*`` at ``level``, others at WARNING."""
    handler: logging.Handler = (logging.FileHandler(log_file) if log_file
                                else logging.StreamHandler(sys.stderr))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("offpilot").setLevel(level.upper())
