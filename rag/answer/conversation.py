"""Follow-up questions: fold the previous question into the retrieval query.

"And for abroad?" retrieves nothing useful on its own; after "What is the per
diem for domestic trips?" it means "What is the per diem for trips abroad?".
A 135M-parameter model cannot be trusted to rewrite questions, so the rule is
deterministic: a question that leans on the conversation (it is short, starts
like a continuation, or refers back with a pronoun) is searched together with
the previous question. A self-contained question is searched alone, so a change
of topic is never polluted by the last one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.text import content_words

__all__ = ["is_follow_up", "standalone_query"]

_CONTINUATION = re.compile(
    r"^\s*(and|or|but|also|what about|how about|same for|and what|what if|then|so)\b", re.I
)
_BACK_REFERENCE = re.compile(
    r"\b(it|its|they|them|their|that|those|this|these|there|he|she|his|her|the same|one)\b",
    re.I,
)


def is_follow_up(question: str) -> bool:
    """Whether ``question`` needs the previous turn to be understood."""
    content = content_words(question)
    if _CONTINUATION.search(question):
        return True
    if len(content) <= 1:
        return True
    return len(content) <= 5 and bool(_BACK_REFERENCE.search(question))


def standalone_query(question: str, history: Sequence[str]) -> str:
    """The query to retrieve with: ``question``, preceded by the last earlier question
    when ``question`` is a follow-up. ``history`` holds earlier questions, oldest first."""
    previous = [h.strip() for h in history if h.strip()]
    if not previous or not is_follow_up(question):
        return question
    return f"{previous[-1]} {question.strip()}"
