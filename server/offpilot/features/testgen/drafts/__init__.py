"""Test generation for Go and Java: UNVERIFIED model drafts (Offpilot does not run them)."""

from offpilot.features.testgen.core.registry import register
from offpilot.features.testgen.drafts.support import DraftSupport

register(DraftSupport())
