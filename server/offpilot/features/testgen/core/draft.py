"""The fallback of every language but Python: the model's draft of the test file, delivered
**UNVERIFIED**, marked so in the file and the summary, with the reason it was not run.

The draft is untrusted text: it must parse, and it may use only the code under test, the
test framework and plain values (each language's :class:`~.registry.DraftRules` says what
that is), or nothing is written.
"""

from __future__ import annotations

import logging
from pathlib import Path

from offpilot.features.testgen.core import proposals
from offpilot.features.testgen.core.layout import TestLayout
from offpilot.features.testgen.core.paths import confine
from offpilot.features.testgen.core.plan import FilePlan
from offpilot.features.testgen.core.registry import draft_rules
from offpilot.features.testgen.core.request import TestGenRequest
from offpilot.features.testgen.core.result import GeneratedTest, TestGenResult

log = logging.getLogger(__name__)


def draft_prompt(primer: str, layout: TestLayout, source: str, rel: str) -> str:
    """A prompt that continues into the test file (it ends with ``primer``)."""
    return (f"// File: {rel}\n{source[:3000]}\n\n// File: {layout.test_path.as_posix()} "
            f"({layout.framework} tests for {rel})\n{primer}")


async def draft_unverified(request: TestGenRequest, layout: TestLayout, reason: str,
                           original: str | None) -> TestGenResult:
    """The model's draft of the test file, delivered UNVERIFIED; ``reason`` says why."""
    root, path, language = request.root, request.path, request.language
    test_abs = confine(root, layout.test_path)
    rel = request.rel
    result = TestGenResult(root, path, language, framework=layout.framework,
                           test_path=test_abs, original=original, verified=False,
                           targets=[rel])
    result.notes.append(f"{language.capitalize()} tests are a model draft: UNVERIFIED "
                        f"({reason}); review and run them yourself.")
    if request.backend is None:
        result.notes.append("No model is available, so no draft was written.")
        return result
    rules = draft_rules(language)
    primer = rules.primer(layout) if rules is not None else ""
    prompt = draft_prompt(primer, layout, request.focus(), rel)
    request.progress(f"asking the model for a {layout.framework} draft", 20)
    text = await proposals.draft(request.backend, prompt, request.settings, result.notes)
    if text is None:
        return result
    draft = (primer + text).strip() + "\n"
    if not parses(path, draft):
        result.notes.append("The model's draft does not parse; nothing was written.")
        return result
    outside = rules.outside_uses(draft, rules.own_modules(request)) if rules is not None else []
    if outside:
        result.notes.append("The model's draft uses more than the code under test and the test "
                            f"framework ({', '.join(outside[:3])}); nothing was written.")
        return result
    text = (rules.header if rules is not None else "") + draft
    at = len(original or "")
    sep = "" if not original else ("\n" if original.endswith("\n") else "\n\n")
    result.plan = FilePlan((original or "") + sep + text, ((at, sep + text),))
    result.tests.append(GeneratedTest("draft", rel, "", "model", "unverified", text))
    request.progress("draft ready", 98)
    return result


def parses(path: Path, text: str) -> bool:
    """Whether ``text`` parses with the grammar of ``path``'s language (True without one)."""
    from offpilot.context.languages import for_path

    spec = for_path(path)
    if spec is None:
        return True
    try:
        tree = spec.parser().parse(text.encode("utf-8"))
    except (ImportError, AttributeError, ValueError) as exc:  # no usable grammar installed
        log.info("no %s grammar to check the draft with (%s); it is UNVERIFIED anyway",
                 spec.name, exc)
        return True
    return not tree.root_node.has_error
