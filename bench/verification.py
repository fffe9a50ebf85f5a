"""Answer quality by answer mode on sample_docs/qa.jsonl, and the cost of the sentence check.

    python bench/verification.py            # every question
    python bench/verification.py --quick    # the first 4 questions

For generative, extractive and auto answers: answer match (every expected pattern in the
answer), refusals on unanswerable questions, share of answer sentences supported,
citation precision (share of cited passages from the expected file) before and after
the check corrects citations, and the check's latency (p50/p95 per answer).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import Assistant, Settings  # noqa: E402
from rag.text import cited_numbers  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    qa = [json.loads(line) for line in (ROOT / "sample_docs" / "qa.jsonl").read_text().splitlines()]
    qa = qa[:4] if args.quick else qa
    with tempfile.TemporaryDirectory(prefix="rag-bench-verify-") as tmp:
        a = Assistant(Settings(data_dir=Path(tmp), max_tokens=128))
        a.ingest([ROOT / "sample_docs"])
        a.warm_up()
        rows = {
            m: {"match": 0, "refused_ok": 0, "sup": [], "prec_after": [], "prec_before": []}
            for m in ("generative", "extractive", "auto")
        }
        verify_ms: list[float] = []
        fallbacks = 0
        for q in qa:
            for mode in ("generative", "extractive", "auto"):
                ans = a.ask(q["question"], answer_mode=mode)
                r = rows[mode]
                if not q["answerable"]:
                    r["refused_ok"] += ans.refused
                    continue
                r["match"] += all(re.search(p, ans.text, re.I) for p in q["answer_patterns"])
                if ans.sentences:
                    r["sup"].append(
                        sum(s.support == "supported" for s in ans.sentences) / len(ans.sentences)
                    )
                expected = q["source"]
                after = [Path(c.source).name == expected for c in ans.citations]
                r["prec_after"] += after
                if mode == "generative" and not ans.refused:
                    raw = ans.model_text or ans.text
                    before = cited_numbers(raw, len(ans.passages))
                    r["prec_before"] += [
                        Path(ans.passages[n - 1].source).name == expected for n in before
                    ]
                    if "verify_s" in ans.timings:  # measured inside ask, embeddings not yet cached
                        verify_ms.append(ans.timings["verify_s"] * 1000)
                if mode == "auto" and ans.mode == "extractive":
                    fallbacks += 1
    answerable = sum(q["answerable"] for q in qa)
    unanswerable = len(qa) - answerable
    pct = lambda xs: f"{100 * sum(xs) / len(xs):5.1f}%" if xs else "   - "  # noqa: E731
    print(f"{len(qa)} questions ({answerable} answerable, {unanswerable} not)\n")
    print(
        f"{'mode':11} {'answer match':>13} {'refusals':>9} {'supported':>10} {'cit.prec':>9} {'cit.prec raw':>13}"
    )
    for mode, r in rows.items():
        sup = f"{100 * statistics.mean(r['sup']):5.1f}%" if r["sup"] else "   - "
        print(
            f"{mode:11} {r['match']:>6}/{answerable:<6} {r['refused_ok']:>4}/{unanswerable:<4} {sup:>10} "
            f"{pct(r['prec_after']):>9} {pct(r['prec_before']):>13}"
        )
    print(f"\nauto fell back to extractive on {fallbacks} of {len(qa)} questions")
    if verify_ms:
        p95 = sorted(verify_ms)[max(0, round(0.95 * len(verify_ms)) - 1)]
        print(
            f"sentence check: p50 {statistics.median(verify_ms):.0f} ms, p95 {p95:.0f} ms per answer (first check of each answer)"
        )


if __name__ == "__main__":
    main()
