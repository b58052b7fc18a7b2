"""Test generation for Rust (:mod:`.generate` is the pipeline, :mod:`.calls` the recorded
calls)."""

from offpilot.features.testgen.core.registry import register
from offpilot.features.testgen.rust.support import RustSupport

register(RustSupport())
