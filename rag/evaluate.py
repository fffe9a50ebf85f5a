"""``rag eval``: answer a labelled question set against the current index and score it.

A QA file has one JSON object per line (the ``sample_docs/qa.jsonl`` format)::

    {"id": "q01", "question": "...", "source": "contract.docx", "page": 3,
     "answer_patterns": ["(60|sixty)\\\\s*days"], "answerable": true,
     "kind": "paraphrase", "history": ["an earlier question"]}

``source`` matches a document whose path ends with it; ``page`` (optional) must match
too for a retrieval hit when given. Patterns are case-insensitive regular expressions
that must all occur in the answer. ``history`` (optional) makes it a follow-up; ``kind``
(optional) groups the results.

Every figure the answer-quality targets name is here, per answer mode: answer match,
the right file cited, the right page cited (where the file has pages), citation
precision, the share of sentences supported, refusal recall and false refusals,
sentences that say nothing yet are labelled supported, and how often ``auto`` replaced
a model answer that held the fact.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.answer.conversation import standalone_query
from rag.answer.verify import says_nothing
from rag.config import AnswerMode
from rag.errors import ConfigError

__all__ = ["EvalReport", "Question", "evaluate", "load_questions"]


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    question: str
    source: str | None
    page: int | None
    answer_patterns: list[str]
    answerable: bool
    kind: str = ""
    history: list[str] = field(default_factory=list)

    def holds(self, text: str) -> bool:
        """Whether ``text`` states the fact asked for (every pattern occurs in it)."""
        return all(re.search(p, text, re.I) for p in self.answer_patterns)


def load_questions(path: Path) -> list[Question]:
    """Read a QA file; a malformed line is an error naming the file and line."""
    questions = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read QA file: {exc.strerror or exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            questions.append(
                Question(
                    id=str(raw.get("id", number)),
                    question=str(raw["question"]),
                    source=raw.get("source"),
                    page=raw.get("page"),
                    answer_patterns=list(raw.get("answer_patterns", [])),
                    answerable=bool(raw.get("answerable", True)),
                    kind=str(raw.get("kind") or ""),
                    history=[str(h) for h in raw.get("history", [])],
                )
            )
            for pattern in questions[-1].answer_patterns:
                re.compile(pattern)
        except (ValueError, KeyError, TypeError, re.error) as exc:
            raise ConfigError(f"{path}, line {number}: not a QA record: {exc}") from exc
    return questions


@dataclass
class EvalReport:
    """The figures of one evaluation run (one answer mode), and one row per question."""

    mode: str = ""
    questions: int = 0
    answerable: int = 0
    hit_at_1: float = 0.0
    hit_at_5: float = 0.0
    mrr: float = 0.0
    answer_match: float = 0.0
    right_file: float = 0.0
    """Answerable questions answered with a citation of the expected file."""
    right_page: float = 0.0
    """Of those whose expected file has pages: answered citing the expected page."""
    citation_precision: float = 0.0
    """Citations that point to the expected file."""
    refusal_recall: float = 0.0
    false_refusal_rate: float = 0.0
    supported_share: float = 0.0
    empty_supported: int = 0
    """Sentences labelled supported that say nothing the question does not (target 0)."""
    auto_fallbacks: int = 0
    auto_replaced_correct: int = 0
    """``auto`` answers that replaced a model answer holding the fact."""
    latency_p50_s: float = 0.0
    latency_p95_s: float = 0.0
    first_token_p50_s: float | None = None
    by_kind: dict[str, float] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "rows"}
        out = {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}
        out["rows"] = self.rows
        return out

    def table(self) -> str:
        unanswerable = self.questions - self.answerable
        ttft = f"{self.first_token_p50_s:.2f} s" if self.first_token_p50_s is not None else "-"
        lines = [
            f"mode                     {self.mode}",
            f"questions                {self.questions} ({self.answerable} answerable)",
            f"retrieval hit@1 / @5     {self.hit_at_1:.3f} / {self.hit_at_5:.3f}",
            f"retrieval MRR            {self.mrr:.3f}",
            f"answer match             {self.answer_match:.3f}",
            f"right file cited         {self.right_file:.3f}",
            f"right page cited         {self.right_page:.3f}",
            f"citation precision       {self.citation_precision:.3f}",
            f"sentences supported      {self.supported_share:.3f}",
            f"empty yet supported      {self.empty_supported}",
            f"refusal recall           {self.refusal_recall:.3f}  (of {unanswerable} unanswerable)",
            f"false refusals           {self.false_refusal_rate:.3f}  (of {self.answerable} answerable)",
            f"latency p50 / p95        {self.latency_p50_s:.2f} s / {self.latency_p95_s:.2f} s",
            f"first token p50          {ttft}",
        ]
        if self.mode == "auto":
            lines.append(
                f"auto fell back           {self.auto_fallbacks} times, "
                f"{self.auto_replaced_correct} of them replacing a model answer that held the fact"
            )
        for kind, share in sorted(self.by_kind.items()):
            lines.append(f"  answer match, {kind:<18} {share:.3f}")
        return "\n".join(lines)


def _same_file(source: str, q: Question) -> bool:
    if q.source is None:
        return False
    return source == q.source or source.endswith("/" + q.source.lstrip("/"))


def _matches(source: str, page: int | None, q: Question) -> bool:
    """The expected file, and the expected page when the question names one."""
    return _same_file(source, q) and (q.page is None or page == q.page)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)] if ordered else 0.0


def _mean(xs: list[Any]) -> float:
    return float(statistics.mean(xs)) if xs else 0.0


def evaluate(
    assistant: Any,
    questions: list[Question],
    answer_mode: AnswerMode | None = None,
    progress: Callable[[int, int], None] | None = None,
    user: Any = None,
) -> EvalReport:
    """Ask every question through ``assistant`` (as ``user``) and score the answers."""
    report = EvalReport(mode=answer_mode or assistant.settings.answer_mode)
    report.questions = len(questions)
    acc: dict[str, list[Any]] = defaultdict(list)
    for i, q in enumerate(questions, start=1):
        report.rows.append(_one(assistant, q, answer_mode, user, acc, report))
        if progress:
            progress(i, len(questions))
    report.answerable = len(acc["hit1"])
    report.hit_at_1, report.hit_at_5, report.mrr = (_mean(acc[k]) for k in ("hit1", "hit5", "rr"))
    report.answer_match, report.right_file = _mean(acc["match"]), _mean(acc["file"])
    report.right_page, report.citation_precision = _mean(acc["page"]), _mean(acc["precision"])
    report.refusal_recall = _mean(acc["refused_ok"])
    report.false_refusal_rate = _mean(acc["false_refusal"])
    report.supported_share = _mean(acc["supported"])
    report.latency_p50_s = statistics.median(acc["latency"]) if acc["latency"] else 0.0
    report.latency_p95_s = _p95(acc["latency"])
    report.first_token_p50_s = statistics.median(acc["ttft"]) if acc["ttft"] else None
    kinds: dict[str, list[bool]] = defaultdict(list)
    for row in report.rows:
        if row["answerable"] and row["kind"]:
            kinds[row["kind"]].append(row["match"])
    report.by_kind = {k: _mean(v) for k, v in kinds.items()}
    return report


def _one(
    assistant: Any,
    q: Question,
    answer_mode: AnswerMode | None,
    user: Any,
    acc: dict[str, list[Any]],
    report: EvalReport,
) -> dict[str, Any]:
    query = standalone_query(q.question, q.history)
    k = max(5, assistant.settings.top_k)
    retrieved = assistant.search(query, k=k, user=user)
    ranks = [n for n, p in enumerate(retrieved, start=1) if _matches(p.source, p.page, q)]
    started = time.perf_counter()
    answer = assistant.ask(q.question, history=q.history, answer_mode=answer_mode, user=user)
    acc["latency"].append(time.perf_counter() - started)
    if "first_token_s" in answer.timings:
        acc["ttft"].append(answer.timings["first_token_s"])
    report.empty_supported += sum(
        s.support == "supported" and says_nothing(s.text, q.question) for s in answer.sentences
    )
    if answer.model_text is not None and answer.mode == "extractive":
        report.auto_fallbacks += 1
        report.auto_replaced_correct += q.answerable and q.holds(answer.model_text)
    cited = [(c.source, c.page) for c in answer.citations]
    row: dict[str, Any] = {
        "id": q.id,
        "kind": q.kind,
        "answerable": q.answerable,
        "refused": answer.refused,
        "mode": answer.mode,
        "answer": answer.text,
        "cited": [[Path(s).name, p] for s, p in cited],
        "seconds": round(acc["latency"][-1], 3),
    }
    if not q.answerable:
        acc["refused_ok"].append(answer.refused)
        return row
    acc["hit1"].append(bool(ranks) and ranks[0] == 1)
    acc["hit5"].append(bool(ranks) and ranks[0] <= 5)
    acc["rr"].append(1 / ranks[0] if ranks else 0.0)
    ok = not answer.refused and q.holds(answer.text)
    acc["match"].append(ok)
    acc["false_refusal"].append(answer.refused)
    files = [_same_file(s, q) for s, _ in cited]
    acc["precision"] += files
    acc["file"].append(any(files))
    if q.page is not None:
        acc["page"].append(any(_matches(s, p, q) for s, p in cited))
    if answer.sentences:
        share = sum(s.support == "supported" for s in answer.sentences)
        acc["supported"].append(share / len(answer.sentences))
    return row | {"rank": ranks[0] if ranks else None, "match": ok}
