"""``auto`` never shows text the check then withdraws: the passages' own words come first
(a Draft), and the model's answer replaces them only once it is checked and kept.

The model is scripted (a real Generator: it writes what it is given), so the test can
make it write a false sentence and a true one; everything else is real."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rag import Assistant, Done, Draft, Settings, Token

pytestmark = pytest.mark.slow

QUESTION = "How many days of annual leave can I carry over into next year?"


class Scripted:
    """A chat model that writes the given answer, piece by piece."""

    name = "scripted"

    def __init__(self, answer: str) -> None:
        self.answer = answer

    def load(self) -> None:
        pass

    def stream(self, messages: list, *, max_tokens: int, temperature: float) -> Iterator[str]:  # type: ignore[type-arg]
        yield from self.answer.split(" ")[:1] + [" " + w for w in self.answer.split(" ")[1:]]


def _ask(assistant: Assistant, tmp_path, answer: str) -> list:  # type: ignore[no-untyped-def,type-arg]
    a = Assistant(
        Settings(data_dir=assistant.settings.data_dir),
        embedder=assistant.embedder,
        generator=Scripted(answer),
    )
    return list(a.ask_stream(QUESTION, answer_mode="auto"))


def test_a_false_model_answer_never_reaches_the_screen(assistant: Assistant, tmp_path) -> None:  # type: ignore[no-untyped-def]
    events = _ask(assistant, tmp_path, "You can carry over 40 days of leave [1]. Ask HR [2].")
    kinds = [type(e).__name__ for e in events]
    assert kinds[:2] == ["Retrieved", "Draft"] and kinds[-1] == "Done"
    assert not [e for e in events if isinstance(e, Token)], "no model text while unchecked"
    draft, done = events[1].answer, events[-1].answer
    assert "40 days" not in done.text and done.mode == "extractive" and done.note
    assert done.text == draft.text, "the draft stays: nothing shown is withdrawn"


def test_a_supported_model_answer_replaces_the_draft(assistant: Assistant, tmp_path) -> None:  # type: ignore[no-untyped-def]
    true = "You may carry over a maximum of 5 days of unused annual leave into the next year [1]."
    events = _ask(assistant, tmp_path, true)
    assert isinstance(events[1], Draft) and not [e for e in events if isinstance(e, Token)]
    done = events[-1]
    assert isinstance(done, Done) and done.answer.mode == "generative"
    assert "5 days" in done.answer.text


def test_a_true_answer_beside_the_point_gives_way(assistant: Assistant, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Supported is not enough: the handbook does say "Leave is not normally paid in
    lieu", but that is no number of days; the passages' own answer gives one."""
    true = "Leave is not normally paid in lieu, except on leaving the company [1]."
    events = _ask(assistant, tmp_path, true)
    done = events[-1].answer
    assert all(c.support == "supported" for c in _checked(assistant, done.model_text or ""))
    assert done.mode == "extractive" and "did not say what was asked" in done.note
    assert "5 days" in done.text and done.text == events[1].answer.text
    assert not [e for e in events if isinstance(e, Token)]


def _checked(assistant: Assistant, text: str) -> list:  # type: ignore[type-arg]
    from rag.answer.verify import verify

    passages = assistant.search(QUESTION)
    return verify(text, passages, assistant.embedder, question=QUESTION).sentences
