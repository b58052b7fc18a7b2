"""Editor features built on the context and model engines."""
