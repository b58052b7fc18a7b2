"""Records and helpers every layer may use; this package imports nothing else from offpilot.

:class:`Snippet` (a piece of context shown to a model), text positions, the project folder of a
file, logging setup and atomic writes. :mod:`offpilot.shared.nodump` and
:mod:`offpilot.shared.resources` are imported by name where they are needed.
"""

from offpilot.shared.files import write_atomically
from offpilot.shared.logs import setup_logging
from offpilot.shared.positions import line_offsets, offset_of
from offpilot.shared.project import find_root
from offpilot.shared.snippet import Snippet, snippet_json

__all__ = ["Snippet", "find_root", "line_offsets", "offset_of", "setup_logging", "snippet_json",
           "write_atomically"]
