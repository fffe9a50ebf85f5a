"""What the CLI prints about file names stays on its line and cannot drive the terminal."""

from __future__ import annotations

from rag.cli import _shown


def test_control_characters_in_names_are_escaped() -> None:
    assert _shown("/d/a\x1b[2Jb\tc\nd.txt") == "/d/a\\x1b[2Jb\\tc\\nd.txt"


def test_ordinary_names_are_unchanged() -> None:
    assert _shown("/d/résumé (final) ..txt") == "/d/résumé (final) ..txt"


def test_an_answer_shown_with_a_note_is_shown_once(capsys) -> None:  # type: ignore[no-untyped-def]
    """``auto`` gave way to the passages' own words: the terminal shows them once, and
    the note why, not the same answer twice."""
    import argparse
    from types import SimpleNamespace

    from rag.answer.types import Answer, AnswerStream, Done
    from rag.cli import _ask

    text = "office: Leeds; phone: 0113 496 0720 [1]"
    note = "The model's answer did not say what was asked; showing the passages' own words."
    answer = Answer("phone?", text, False, [], [], mode="extractive", note=note)
    assistant = SimpleNamespace(
        settings=SimpleNamespace(answer_mode="auto"),
        prestart=lambda: None,
        ask_stream=lambda question, **kw: AnswerStream(question, iter([Done(answer)])),
    )
    args = argparse.Namespace(question="phone?", under=None, user=None, json=False)
    assert _ask(assistant, args) == 0
    out = capsys.readouterr().out
    assert out.count("0113 496 0720") == 1 and f"({note})" in out
