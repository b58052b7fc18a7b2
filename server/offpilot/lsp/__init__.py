"""The Language Server Protocol layer: thin glue over the plain-Python features."""
