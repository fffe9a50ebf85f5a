"""The CLI contract, through the real `rag` command in subprocesses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

RAG = [sys.executable, "-m", "rag.cli"]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data = tmp_path_factory.mktemp("cli-data")
    return {**os.environ, "RAG_DATA_DIR": str(data)}


def rag(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*RAG, *args], env=env, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"rag {args} exited {result.returncode}:\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def ingested(env: dict[str, str], sample_copy: Path) -> Path:
    out = rag(env, "ingest", str(sample_copy))
    assert "added 10" in out.stdout and "failed 0" in out.stdout
    return sample_copy


def test_ingest_summary_and_docs(env: dict[str, str], ingested: Path) -> None:
    again = rag(env, "ingest", str(ingested))
    assert "unchanged 10" in again.stdout and "0 chunks written" in again.stdout
    docs = json.loads(rag(env, "docs", "--json").stdout)
    assert len(docs) == 10
    for d in docs:
        assert set(d) >= {"source", "chunks", "ingested_at"}
        assert Path(d["source"]).parent == ingested and d["chunks"] > 0


def test_ask_json_contract(env: dict[str, str], ingested: Path) -> None:
    out = rag(
        env,
        "ask",
        "How many users were affected by the March server room outage?",
        "--json",
        "--k",
        "4",
    )
    answer = json.loads(out.stdout)
    assert {"answer", "refused", "citations", "sentences", "mode"} <= set(answer)
    assert answer["refused"] is False and answer["answer"]
    assert answer["mode"] in ("generative", "extractive")
    for s in answer["sentences"]:
        assert s["support"] in ("supported", "weak", "unsupported")
        assert all(1 <= n <= 4 for n in s["citations"])
    assert answer["citations"]
    for c in answer["citations"]:
        assert set(c) == {"n", "source", "page", "quote", "score", "ocr_confidence"}
        assert c["ocr_confidence"] is None  # born-digital documents: nothing read by OCR
        assert isinstance(c["n"], int) and 1 <= c["n"] <= 4
        assert Path(c["source"]).is_file() and c["quote"]
        assert c["page"] is None or isinstance(c["page"], int)
        assert isinstance(c["score"], float)


def test_ask_refuses_in_json(env: dict[str, str], ingested: Path) -> None:
    answer = json.loads(rag(env, "ask", "What is the capital of Australia?", "--json").stdout)
    assert answer["answer"] == "Not found in your documents."
    assert answer["refused"] is True and answer["citations"] == [] and answer["sentences"] == []


def test_extractive_mode_quotes_supported_spans(env: dict[str, str], ingested: Path) -> None:
    out = rag(
        env,
        "ask",
        "How many users were affected by the March server room outage?",
        "--json",
        "--mode",
        "extractive",
    )
    answer = json.loads(out.stdout)
    assert answer["mode"] == "extractive" and not answer["refused"]
    assert re.search(r"\b212\b", answer["answer"]), answer["answer"]
    assert answer["sentences"]
    for s in answer["sentences"]:
        assert s["support"] == "supported"
        span = s["span"]
        assert span["text"] == s["text"] and span["end"] > span["start"] >= 0
        assert Path(span["source"]).name == "incident_report_2026-03.pdf"
        assert isinstance(span["page"], int)
    cited = {c["n"] for c in answer["citations"]}
    assert cited == {n for s in answer["sentences"] for n in s["citations"]}


def test_ask_streams_text_then_sources(env: dict[str, str], ingested: Path) -> None:
    out = rag(env, "ask", "What is the root cause of the Leeds cooling incident?").stdout
    assert "\nSources:\n" in out
    assert "incident_report_2026-03.pdf, page" in out


def test_search_many_queries_json_lines(
    env: dict[str, str], ingested: Path, tmp_path: Path
) -> None:
    qfile = tmp_path / "queries.txt"
    qfile.write_text("per diem abroad\n\nphishing report address\n")
    out = rag(env, "search", "canteen opening hours", "--json", "--k", "3", "--queries", str(qfile))
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [x["query"] for x in lines] == [
        "canteen opening hours",
        "per diem abroad",
        "phishing report address",
    ]
    for line in lines:
        results = line["results"]
        assert 1 <= len(results) <= 3
        assert {"source", "page", "text", "score"} <= set(results[0])
        scores = [r["score"] for r in results]
        assert scores == sorted(scores, reverse=True)
    assert Path(lines[0]["results"][0]["source"]).name == "intranet_faq.html"


def test_search_under_a_path_prefix(env: dict[str, str], ingested: Path) -> None:
    only = ingested / "q3_review.pptx"
    out = rag(env, "search", "Leeds", "--json", "--under", str(only))
    results = json.loads(out.stdout)["results"]
    assert results and {r["source"] for r in results} == {str(only)}


def test_remove_then_docs(env: dict[str, str], ingested: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra.md"
    extra.write_text("# Bees\nThe office beehive produced 12 jars of honey in 2026.\n")
    rag(env, "ingest", str(extra))
    assert rag(env, "remove", str(extra)).stdout.strip() == f"removed {extra}"
    assert str(extra) not in rag(env, "docs").stdout
    missing = rag(env, "remove", str(extra), check=False)
    assert missing.returncode == 1 and "not an ingested document" in missing.stderr


def test_failed_file_exits_nonzero_and_names_it(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 junk")
    good = tmp_path / "good.txt"
    good.write_text("The cafe loyalty card gives every tenth coffee free.")
    out = rag(env, "ingest", str(bad), str(good), check=False)
    assert out.returncode == 1
    assert f"FAILED {bad}:" in out.stderr
    assert "added 1" in out.stdout and "failed 1" in out.stdout


def test_eval_scores_a_qa_file(env: dict[str, str], ingested: Path, tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    lines = (ingested / "qa.jsonl").read_text().splitlines()
    answerable = [line for line in lines if '"answerable": true' in line][:6]
    unanswerable = [line for line in lines if '"answerable": false' in line][:2]
    qa.write_text("\n".join(answerable + unanswerable) + "\n")
    out = rag(env, "eval", str(qa), "--json", "--mode", "extractive")
    report = json.loads(out.stdout)
    assert report["questions"] == 8 and report["answerable"] == 6
    assert report["hit_at_5"] >= 5 / 6 and report["mrr"] > 0.5
    assert report["answer_match"] >= 3 / 6
    assert report["refusal_recall"] >= 0.5
    assert 0 <= report["citation_precision"] <= 1 and report["latency_p95_s"] > 0
    assert len(report["rows"]) == 8
    table = rag(env, "eval", str(qa), "--mode", "extractive").stdout
    assert "retrieval hit@1 / @5" in table and "refusal recall" in table
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok"}\nnot json\n')
    failed = rag(env, "eval", str(bad), check=False)
    assert failed.returncode == 3 and "bad.jsonl, line 2" in failed.stderr


def test_mode_is_the_answer_mode_and_the_old_retrieval_spelling_says_so(
    env: dict[str, str], ingested: Path
) -> None:
    out = rag(env, "search", "per diem abroad", "--mode", "keyword", "--json")
    assert "--mode keyword is deprecated" in out.stderr and "--retrieval keyword" in out.stderr
    assert json.loads(out.stdout)["results"]
    new = rag(env, "search", "per diem abroad", "--retrieval", "keyword", "--json")
    assert new.stderr == "" and new.stdout == out.stdout
    answer = json.loads(
        rag(env, "ask", "What is the per diem abroad?", "--mode", "extractive", "--json").stdout
    )
    assert answer["mode"] == "extractive"
    bad = rag(env, "ask", "What is the per diem abroad?", "--mode", "fast", check=False)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
