"""The language-neutral core of test generation: the request and result types, the sandbox,
paths, outcomes, file plans, progress, model proposals, UNVERIFIED drafts, the language
registry and the dispatcher. It imports no language package: those register themselves
(:mod:`.registry`)."""
