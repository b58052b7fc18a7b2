"""Test generation for Python (:mod:`.generate` is the pipeline)."""

from offpilot.features.testgen.core.registry import register
from offpilot.features.testgen.python.support import PythonSupport

register(PythonSupport())
