"""Document this code: docstrings whose claims are checked against the code (Python)."""
