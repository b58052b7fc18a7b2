"""Workspace context: languages, documents, index, retrieval."""
