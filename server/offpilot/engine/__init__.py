"""Model engines: the backend interface, prompt templates, local and remote backends."""
