"""Test generation for JavaScript and TypeScript (:mod:`.generate` is the pipeline)."""

from offpilot.features.testgen.core.registry import register
from offpilot.features.testgen.javascript.support import JavaScriptSupport

register(JavaScriptSupport())
