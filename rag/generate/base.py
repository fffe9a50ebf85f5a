"""The generator contract: chat messages in, streamed text out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, TypedDict

__all__ = ["Generator", "Message"]


class Message(TypedDict):
    role: str
    content: str


class Generator(Protocol):
    """A local chat model.

    Contract: construction is cheap; ``load`` loads the weights (idempotent, and
    called by ``stream`` if needed); ``stream`` yields text pieces as the model
    produces them, and stops after ``max_tokens`` tokens or the end of the answer.
    """

    name: str

    def load(self) -> None: ...

    def stream(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> Iterator[str]: ...
