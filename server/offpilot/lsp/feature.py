"""What a server feature is: one class with a few hooks, registered by one line.

A feature (completion, explain, test generation, models, context, documentation) subclasses
:class:`Feature`, registers its LSP handlers and commands in :meth:`Feature.setup`, and overrides
the hooks it needs; the server calls every registered feature's hooks in registration order:

- :meth:`~Feature.initialized`: the client's first configuration is applied;
- :meth:`~Feature.document_opened`, :meth:`~Feature.document_changed`,
  :meth:`~Feature.document_closed`: after the server's own copy of the document is updated;
- :meth:`~Feature.settings_changed`: after new settings are in force (``server.settings``);
- :meth:`~Feature.code_actions`: the actions it offers for a ``textDocument/codeAction``;
- :meth:`~Feature.stats`: its part of the ``offpilot/stats`` answer;
- :meth:`~Feature.shutdown`: the client asked the server to shut down.

A hook that raises is logged and skipped: the other features and document sync go on. To add a
feature, write a module with a ``Feature`` subclass and add one line to
:data:`offpilot.lsp.server.FEATURES` (see docs/architecture.md, "Adding a feature").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from offpilot.config import Settings
from offpilot.context.documents import Document

if TYPE_CHECKING:
    from offpilot.lsp.server import OffpilotServer


@dataclass(frozen=True)
class Edit:
    """Where the last change of a ``didChange`` went, as str offsets of the new text."""

    start: int  # where the replaced range began
    end: int  # the end of the inserted text


class Feature:
    """One feature of the server (see the module doc). Every hook does nothing by default."""

    name = "feature"  # for the log

    def __init__(self) -> None:
        self._server: OffpilotServer | None = None

    @property
    def server(self) -> OffpilotServer:
        if self._server is None:
            raise RuntimeError(f"the {self.name} feature is not set up with a server")
        return self._server

    def setup(self, server: OffpilotServer) -> None:
        """Register the feature's handlers on ``server`` (subclasses call this first)."""
        self._server = server

    def initialized(self) -> None:
        """The client is initialized and its first configuration is applied."""

    def document_opened(self, doc: Document) -> None:
        """``doc`` was opened."""

    def document_changed(self, doc: Document, edit: Edit | None) -> None:
        """``doc`` changed; ``edit`` says where when the client sent a ranged change."""

    def document_closed(self, uri: str) -> None:
        """The document at ``uri`` was closed (the server no longer holds it)."""

    def settings_changed(self, old: Settings, new: Settings) -> None:
        """New settings are in force (``new`` is ``server.settings``)."""

    def code_actions(self, params: types.CodeActionParams, doc: Document
                     ) -> list[types.CodeAction]:
        """Code actions this feature offers for ``params`` on ``doc``."""
        return []

    def stats(self) -> dict[str, Any]:
        """Entries added to the ``offpilot/stats`` answer."""
        return {}

    async def shutdown(self) -> None:
        """The client asked the server to shut down: stop background work."""
