"""A question's way to an answer, one step per module, in this order::

    conversation  the follow-up folded into the query it is retrieved with
    collection    scope, then hybrid retrieval among what the asker may read
    gate          refuse when nothing retrieved can answer
    extract       the passages' own best sentences (extractive), or
    extract       each passage cut to what the question needs (condense)
    prompt        numbered, fenced passages and the rules for citing them
    model         the answer, streamed; markers cleaned as they come (cite)
    verify        every sentence checked against the passages
    assemble      citations that quote the supporting words; auto's fallback

:class:`AnswerPipeline` runs them and yields the events of :mod:`rag.answer.types`.
It decides nothing about who may read what: the caller passes the readers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.answer.assemble import build_answer, verified_answer
from rag.answer.cite import CitationStream
from rag.answer.conversation import standalone_query
from rag.answer.extract import condense, extractive_answer
from rag.answer.facts import states_asked
from rag.answer.gate import another_kind, off_subject, relevance
from rag.answer.prompt import build_messages
from rag.answer.types import REFUSAL, Answer, Done, Draft, Event, Retrieved, Token
from rag.answer.verify import Thresholds, Verification, verify
from rag.config import AnswerMode, RetrievalMode, Settings
from rag.errors import ModelError
from rag.retrieval.hybrid import Passage
from rag.text import strip_markers

if TYPE_CHECKING:
    from rag.collection import Collection as DocumentCollection
    from rag.models.base import Generator

__all__ = ["AnswerPipeline", "Question"]


@dataclass(frozen=True, slots=True)
class Question:
    """A question and how to answer it; ``None`` fields take the settings' value."""

    text: str
    history: Sequence[str] = ()
    """The conversation's earlier questions, oldest first."""
    k: int | None = None
    retrieval: RetrievalMode | None = None
    prefix: str | None = None
    """Only documents under this path."""
    sources: Sequence[str] | None = None
    """Only these documents."""
    answer_mode: AnswerMode | None = None
    strict: bool | None = None


class AnswerPipeline:
    """Answers questions about one collection with the settings' models and thresholds."""

    def __init__(
        self,
        collection: DocumentCollection,
        settings: Settings,
        generator: Callable[[], Generator],
    ) -> None:
        self.collection = collection
        self.settings = settings
        self.embedder = collection.embedder
        self._generator = generator
        self._thresholds = Thresholds(settings.support_threshold, settings.weak_threshold)

    def run(self, q: Question, readers: Collection[str] | None) -> Iterator[Event]:
        """The events of answering ``q`` from what ``readers`` (None: anyone) may read."""
        s = self.settings
        started = time.perf_counter()
        query = standalone_query(q.text, q.history)
        scope = self.collection.scope(q.prefix, q.sources, readers)
        # The extractive answer may quote a few more passages than the model reads.
        k = max(q.k or s.top_k, s.extract_passages)
        passages = self.collection.search(query, k, q.retrieval or s.retrieval_mode, scope, readers)
        timings = {"retrieval_s": time.perf_counter() - started}
        yield Retrieved(passages)

        vocabulary = self.collection.vocabulary(readers)
        if relevance(query, passages, vocabulary, self.embedder) < s.min_relevance:
            yield Done(Answer(q.text, REFUSAL, True, passages, [], timings))
            return
        # Found once: auto's draft and any fallback quote the same sentences. What they
        # quote must be about what was asked, as the gate asks of the top passage (the
        # name asked, and the kind of thing asked: not "Structural survey" for "an
        # asbestos survey"): in every mode, so that whether a question is refused never
        # depends on the mode. The kind is read from the question as asked: a follow-up
        # folded into the one before it ("and annual leave?" after a refused
        # "compassionate leave?") asks about its own kind, not the earlier one's.
        extracted = extractive_answer(
            query,
            passages,
            self.embedder,
            weigh=vocabulary.weights,
            follow_up=q.text if q.text != query else None,
        )
        quoted = [passages[n - 1] for c in extracted.sentences for n in c.citations]
        said = " ".join(c.text for c in extracted.sentences)
        timings["extract_s"] = extracted.seconds
        if off_subject(query, quoted, vocabulary, said) or another_kind(
            q.text, said, vocabulary, self.embedder
        ):
            yield Done(Answer(q.text, REFUSAL, True, passages, [], timings))
            return
        mode = q.answer_mode or s.answer_mode
        if mode == "extractive":
            yield Done(self._extractive(query, passages, extracted, timings))
            return
        yield from self._generate(q, query, passages, extracted, timings, mode)

    def _generate(
        self,
        q: Question,
        query: str,
        passages: list[Passage],
        extracted: Verification,
        timings: dict[str, float],
        mode: AnswerMode,
    ) -> Iterator[Event]:
        s = self.settings
        started = time.perf_counter()
        shown = passages[: q.k or s.top_k]  # the model reads the top k; extraction all
        texts = condense(q.text, shown, self.embedder, s.prompt_sentences)
        timings["condense_s"] = time.perf_counter() - started
        previous = q.history[-1] if query != q.text else None
        messages = build_messages(
            q.text,
            [(p.source, p.page, text) for p, text in zip(shown, texts, strict=True)],
            previous,
        )
        draft = None
        if mode == "auto":
            # The passages' own words at once; the model's answer replaces them only once
            # it is checked and kept, so no unsupported text is ever on the screen.
            draft = self._extractive(query, passages, extracted, timings)
            if not draft.refused:
                yield Draft(draft)
        raw: list[str] = []
        started = time.perf_counter()
        try:
            # Opening the model (a probe, a child process, a server) happens here too, so
            # that every way the model can fail ends in the except below.
            tokens = self._generator().stream(
                messages, max_tokens=s.max_tokens, temperature=s.temperature
            )
            for piece in CitationStream(len(shown))(tokens):
                if not raw:
                    timings["first_token_s"] = (
                        time.perf_counter() - started + timings["retrieval_s"]
                    )
                raw.append(piece)
                if mode == "generative":
                    yield Token(piece)
        except ModelError as exc:
            note = f"The model could not answer ({exc}); showing the passages' own words instead."
            fallback = self._extractive(query, passages, extracted, timings, note)
            fallback.model_error = str(exc)
            yield Done(fallback)
            return
        timings["generation_s"] = time.perf_counter() - started
        answer = build_answer(q.text, "".join(raw), passages, timings)
        if answer.refused:
            yield Done(answer)
            return
        yield Done(self._checked(q, query, answer, passages, extracted, mode, draft))

    def _checked(
        self,
        q: Question,
        query: str,
        answer: Answer,
        passages: list[Passage],
        extracted: Verification,
        mode: AnswerMode,
        draft: Answer | None = None,
    ) -> Answer:
        """The model's answer with every sentence checked; in ``auto``, the extractive
        answer instead when too few of its sentences are supported."""
        s = self.settings
        checked = verify(answer.text, passages, self.embedder, self._thresholds, question=query)
        answer.timings["verify_s"] = checked.seconds
        if mode == "auto" and checked.supported_share <= s.auto_min_supported:
            supported = sum(c.support == "supported" for c in checked.sentences)
            note = (
                f"The model's answer was not supported by your documents "
                f"({supported} of {len(checked.sentences)} sentences); "
                "showing the passages' own words instead."
            )
            if draft is not None and not draft.refused:
                fallback = draft
                fallback.note = note
            else:
                fallback = self._extractive(query, passages, extracted, answer.timings, note)
            fallback.model_text = answer.text
            return fallback
        if mode == "auto" and draft is not None and not draft.refused:
            # Supported is not enough: the sentences must say what was asked. A small
            # model copies true sentences beside the point ("The Leeds office has a
            # shared kitchen" for its phone number); the passages' own answer does say it.
            said = " ".join(c.text for c in checked.sentences if c.support == "supported")
            if not states_asked(said, query) and states_asked(strip_markers(draft.text), query):
                draft.note = (
                    "The model's answer did not say what was asked; "
                    "showing the passages' own words instead."
                )
                draft.model_text = answer.text
                return draft
        strict = s.strict if q.strict is None else q.strict
        return verified_answer(answer, checked, "generative", strict)

    def _extractive(
        self,
        question: str,
        passages: list[Passage],
        extracted: Verification,
        timings: dict[str, float],
        note: str = "",
    ) -> Answer:
        """The passages' own best sentences for ``question`` (the query retrieved with),
        ``extracted`` from them, as an answer."""
        if not extracted.sentences:
            return Answer(question, REFUSAL, True, passages, [], timings, mode="extractive")
        base = Answer(question, extracted.text(), False, passages, [], timings)
        return verified_answer(base, extracted, "extractive", False, note)
