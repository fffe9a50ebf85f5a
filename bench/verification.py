"""Answer quality per answer mode, against the targets, beside the answer path before this
round's work, in one run.

    python bench/verification.py                       # the bundled model, every question
    python bench/verification.py --quick               # 12 questions (CI)
    python bench/verification.py --model ~/models/Llama-3.2-3B-Instruct-Q4_K_M.gguf
    python bench/verification.py --llm-url http://gpu-box:8000/v1 --model meta-llama/Llama-3.1-8B-Instruct
    python bench/verification.py --manual-data DIR     # + the PostgreSQL manual's questions

For auto, generative and extractive answers to sample_docs/qa.jsonl: answer match (every
expected pattern in the answer), the right file cited, the right page cited where the
file has pages, citation precision, the share of sentences supported, sentences that say
nothing yet are labelled supported, refusal recall and false refusals, how often auto
replaced a model answer that held the fact, answer match per kind of question, and the
sentence check's latency; then the relevance gate's curve (refusal recall against false
refusals per threshold, with and without its near-miss signal). "before" runs the same questions through the code at
``--baseline`` (a git worktree of that commit, its own ingest; the figures it can give).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import Assistant, Settings  # noqa: E402
from rag.answer import gate  # noqa: E402
from rag.answer.conversation import standalone_query  # noqa: E402
from rag.evaluate import EvalReport, evaluate, load_questions  # noqa: E402

MODES = ("auto", "generative", "extractive")
#: The answer path before this round's answer work (the last commit before it).
BASELINE = "bf08d7e"
TARGETS = {
    "answer_match": 0.90,
    "right_file": 0.97,
    "right_page": 0.95,
    "refusal_recall": 0.90,
}
ROWS = [
    ("answer match", "answer_match", ">= 0.90"),
    ("right file cited", "right_file", ">= 0.97"),
    ("right page cited", "right_page", ">= 0.95"),
    ("citation precision", "citation_precision", ""),
    ("sentences supported", "supported_share", ""),
    ("empty yet supported", "empty_supported", "0"),
    ("refusal recall", "refusal_recall", ">= 0.90"),
    ("false refusals", "false_refusal_rate", "<= 0.03"),
]


def _settings(data: Path, args: argparse.Namespace) -> Settings:
    extra: dict[str, Any] = {"max_tokens": 128, "temperature": 0.0}
    if args.llm_url:
        extra |= {"llm_backend": "openai", "llm_url": args.llm_url, "llm_model": args.model}
    elif args.model:
        extra |= {"llm_model": args.model}
        if not str(args.model).endswith(".gguf"):
            extra["llm_backend"] = "transformers"
    return Settings(data_dir=data, **extra)


def run_now(qa_file: Path, args: argparse.Namespace) -> tuple[dict[str, EvalReport], list[Scored]]:
    questions = load_questions(qa_file)
    with tempfile.TemporaryDirectory(prefix="rag-bench-verify-") as tmp:
        a = Assistant(_settings(Path(tmp), args))
        a.ingest([ROOT / "sample_docs"])
        a.warm_up()
        reports = {mode: evaluate(a, questions, mode) for mode in MODES}  # type: ignore[arg-type]
        return reports, gate_scores(a, _jsonl(qa_file), "sample_docs")


#: (corpus, answerable, relevance with the near-miss signal, relevance without it)
Scored = tuple[str, bool, float, float]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def gate_scores(a: Assistant, questions: list[dict[str, Any]], corpus: str) -> list[Scored]:
    """The relevance gate's score of each question, with and without the near-miss
    signal (the gate before it: the baseline of the curve, in the same run)."""
    out = []
    for q in questions:
        query = standalone_query(q["question"], q.get("history", []))
        passages = a.search(query)
        with_signal = a.relevance(query, passages)
        saved = gate.NEAR_MISS, gate.IDENTIFIER_MISS, gate.NAME_MISS
        gate.NEAR_MISS = gate.IDENTIFIER_MISS = gate.NAME_MISS = 0.0
        try:
            without = a.relevance(query, passages)
        finally:
            gate.NEAR_MISS, gate.IDENTIFIER_MISS, gate.NAME_MISS = saved
        out.append((corpus, bool(q.get("answerable", True)), with_signal, without))
    return out


def print_curve(scored: list[Scored], chosen: float) -> None:
    """Refusal recall against false refusals per threshold, per corpus and together."""
    corpora = sorted({c for c, *_ in scored}) + (
        ["all"] if len({c for c, *_ in scored}) > 1 else []
    )
    print("\nrelevance gate: refused unanswerable / refused answerable, per threshold")
    print("(now = with the near-miss signal; before = sentence similarity and coverage alone)")
    print(f"{'threshold':>10}" + "".join(f"{c + ' now':>24}{'before':>16}" for c in corpora))
    for t in sorted({0.30, 0.35, 0.40, 0.45, 0.50, round(chosen, 2)}):
        cells = ""
        for c in corpora:
            rows = [r for r in scored if c in ("all", r[0])]
            for k in (2, 3):
                un = [r[k] < t for r in rows if not r[1]]
                an = [r[k] < t for r in rows if r[1]]
                cell = f"{sum(un)}/{len(un)} {sum(an)}/{len(an)}"
                cells += f"{cell:>24}" if k == 2 else f"{cell:>16}"
        print(f"{t:>9.2f}{'*' if abs(t - chosen) < 1e-9 else ' '}{cells}")
    print("* the default (RAG_MIN_RELEVANCE)")


def run_before(qa_file: Path, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The same questions through the code at ``args.baseline``, by its own CLI."""
    with tempfile.TemporaryDirectory(prefix="rag-bench-before-") as tmp:
        tree, data = Path(tmp) / "tree", Path(tmp) / "data"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(tree), args.baseline],
            check=True,
        )
        try:
            env = {**os.environ, "PYTHONPATH": str(tree), "RAG_DATA_DIR": str(data)}
            env |= {"RAG_MAX_TOKENS": "128", "RAG_TEMPERATURE": "0"}
            if args.model and not args.llm_url:
                env["RAG_LLM_MODEL"] = str(args.model)
            if args.llm_url:
                env |= {"RAG_LLM_BACKEND": "openai", "RAG_LLM_URL": args.llm_url}
                env["RAG_LLM_MODEL"] = str(args.model)
            rag = [sys.executable, "-m", "rag.cli"]
            subprocess.run(
                [*rag, "ingest", str(tree / "sample_docs")],
                env=env,
                check=True,
                capture_output=True,
                cwd=tree,
            )
            out = {}
            for mode in MODES:
                done = subprocess.run(
                    [*rag, "eval", str(qa_file), "--mode", mode, "--json"],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                    cwd=tree,
                )
                out[mode] = json.loads(done.stdout)
            return out
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)])


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the first 12 questions")
    parser.add_argument(
        "--model", help="a .gguf file or checkpoint folder, or with --llm-url a name"
    )
    parser.add_argument("--llm-url", help="an OpenAI-compatible server (vLLM, Ollama, ...)")
    parser.add_argument("--baseline", default=BASELINE, help="the commit to compare with")
    parser.add_argument("--no-baseline", action="store_true", help="skip the 'before' run")
    parser.add_argument(
        "--manual-data",
        type=Path,
        help="a data directory holding the PostgreSQL manual (rag ingest of make bench-data's "
        "html folder): adds bench/pg_questions.jsonl and pg_unanswerable.jsonl to the "
        "refusal curve",
    )
    args = parser.parse_args()
    qa_file = ROOT / "sample_docs" / "qa.jsonl"
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as fh:
        lines = qa_file.read_text().splitlines()
        fh.write("\n".join(lines[:12] if args.quick else lines) + "\n")
    subset = Path(fh.name)
    now, scored = run_now(subset, args)
    if args.manual_data:
        manual = Assistant(Settings(data_dir=args.manual_data))
        for name in ("pg_questions.jsonl", "pg_unanswerable.jsonl"):
            scored += gate_scores(manual, _jsonl(ROOT / "bench" / name), "pg manual")
    before = {} if args.no_baseline else run_before(subset, args)
    questions = now["auto"].questions
    print(
        f"{questions} questions ({now['auto'].answerable} answerable); model: {args.model or 'bundled'}"
    )
    header = (
        f"{'':22}" + "".join(f"{m + ' now':>15}{'before':>9}" for m in MODES) + f"{'target':>10}"
    )
    print(header)
    for label, key, target in ROWS:
        cells = "".join(
            f"{_cell(getattr(now[m], key)):>15}{_cell(before.get(m, {}).get(key)):>9}"
            for m in MODES
        )
        print(f"{label:22}{cells}{target:>10}")
    auto = now["auto"]
    print(
        f"\nauto fell back to the extractive answer {auto.auto_fallbacks} times; "
        f"{auto.auto_replaced_correct} of those model answers held the fact"
    )
    kinds = sorted(set().union(*(r.by_kind for r in now.values())))
    if kinds:
        print("\nanswer match by kind of question (now):")
        print(f"{'':22}" + "".join(f"{m:>12}" for m in MODES))
        for kind in kinds:
            print(f"{kind:22}" + "".join(f"{_cell(now[m].by_kind.get(kind)):>12}" for m in MODES))
    gen = now["generative"]
    print(
        f"\nlatency p50/p95 per answer: generative {gen.latency_p50_s:.2f}/{gen.latency_p95_s:.2f} s, "
        f"extractive {now['extractive'].latency_p50_s:.2f}/{now['extractive'].latency_p95_s:.2f} s"
    )
    print_curve(scored, Settings().min_relevance)
    subset.unlink()


if __name__ == "__main__":
    main()
