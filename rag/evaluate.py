"""``rag eval``: answer a labelled question set against the current index and score it.

A QA file has one JSON object per line (the ``sample_docs/qa.jsonl`` format)::

    {"id": "q01", "question": "...", "source": "contract.docx", "page": 3,
     "answer_patterns": ["(60|sixty)\\\\s*days"], "answerable": true}

``source`` matches a document whose path ends with it; ``page`` (optional) must match
too for a retrieval hit when given. Patterns are case-insensitive regular expressions
that must all occur in the answer.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
                )
            )
            for pattern in questions[-1].answer_patterns:
                re.compile(pattern)
        except (ValueError, KeyError, TypeError, re.error) as exc:
            raise ConfigError(f"{path}, line {number}: not a QA record: {exc}") from exc
    return questions


@dataclass
class EvalReport:
    """The figures of one evaluation run, and one row per question."""

    questions: int = 0
    answerable: int = 0
    hit_at_1: float = 0.0
    hit_at_5: float = 0.0
    mrr: float = 0.0
    citation_precision: float = 0.0
    answer_match: float = 0.0
    refusal_recall: float = 0.0
    false_refusal_rate: float = 0.0
    supported_share: float = 0.0
    latency_p50_s: float = 0.0
    latency_p95_s: float = 0.0
    first_token_p50_s: float | None = None
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
            f"questions                {self.questions} ({self.answerable} answerable)",
            f"retrieval hit@1          {self.hit_at_1:.3f}",
            f"retrieval hit@5          {self.hit_at_5:.3f}",
            f"retrieval MRR            {self.mrr:.3f}",
            f"citation precision       {self.citation_precision:.3f}",
            f"answer match             {self.answer_match:.3f}",
            f"sentences supported      {self.supported_share:.3f}",
            f"refusal recall           {self.refusal_recall:.3f}  (of {unanswerable} unanswerable)",
            f"false refusals           {self.false_refusal_rate:.3f}  (of {self.answerable} answerable)",
            f"latency p50 / p95        {self.latency_p50_s:.2f} s / {self.latency_p95_s:.2f} s",
            f"first token p50          {ttft}",
        ]
        return "\n".join(lines)


def _matches(source: str, page: int | None, q: Question) -> bool:
    if q.source is None:
        return False
    if not (source == q.source or source.endswith("/" + q.source.lstrip("/"))):
        return False
    return q.page is None or page == q.page


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)] if ordered else 0.0


def evaluate(
    assistant: Any,
    questions: list[Question],
    answer_mode: AnswerMode | None = None,
    progress: Callable[[int, int], None] | None = None,
    user: Any = None,
) -> EvalReport:
    """Ask every question through ``assistant`` (as ``user``) and score the answers."""
    report = EvalReport(questions=len(questions))
    hits1, hits5, rr, precision, match, supported = [], [], [], [], [], []
    refused_ok, false_refusals, latency, ttft = [], [], [], []
    for i, q in enumerate(questions, start=1):
        retrieved = assistant.search(q.question, k=max(5, assistant.settings.top_k), user=user)
        ranks = [n for n, p in enumerate(retrieved, start=1) if _matches(p.source, p.page, q)]
        started = time.perf_counter()
        answer = assistant.ask(q.question, answer_mode=answer_mode, user=user)
        latency.append(time.perf_counter() - started)
        if "first_token_s" in answer.timings:
            ttft.append(answer.timings["first_token_s"])
        row: dict[str, Any] = {
            "id": q.id,
            "answerable": q.answerable,
            "refused": answer.refused,
            "mode": answer.mode,
            "seconds": round(latency[-1], 3),
        }
        if q.answerable:
            hits1.append(bool(ranks) and ranks[0] == 1)
            hits5.append(bool(ranks) and ranks[0] <= 5)
            rr.append(1 / ranks[0] if ranks else 0.0)
            ok = not answer.refused and all(
                re.search(p, answer.text, re.I) for p in q.answer_patterns
            )
            match.append(ok)
            false_refusals.append(answer.refused)
            cited = [_matches(c.source, None, q) for c in answer.citations]
            precision += cited
            if answer.sentences:
                share = sum(s.support == "supported" for s in answer.sentences)
                supported.append(share / len(answer.sentences))
            row |= {"rank": ranks[0] if ranks else None, "match": ok}
        else:
            refused_ok.append(answer.refused)
        report.rows.append(row)
        if progress:
            progress(i, len(questions))

    def mean(xs: list[Any]) -> float:
        return float(statistics.mean(xs)) if xs else 0.0

    report.answerable = len(hits1)
    report.hit_at_1, report.hit_at_5, report.mrr = mean(hits1), mean(hits5), mean(rr)
    report.citation_precision, report.answer_match = mean(precision), mean(match)
    report.refusal_recall, report.false_refusal_rate = mean(refused_ok), mean(false_refusals)
    report.supported_share = mean(supported)
    report.latency_p50_s = statistics.median(latency) if latency else 0.0
    report.latency_p95_s = _p95(latency)
    report.first_token_p50_s = statistics.median(ttft) if ttft else None
    return report
