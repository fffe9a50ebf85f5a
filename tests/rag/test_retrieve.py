from rag.retrieval.hybrid import reciprocal_rank_fusion


def test_rrf_rewards_agreement_between_rankings() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["d", "b", "e"]], k=60)
    ids = [i for i, _ in fused]
    assert ids[0] == "b"  # 2nd in both beats 1st in only one
    assert set(ids) == {"a", "b", "c", "d", "e"}
    assert dict(fused)["b"] == 2 / 62


def test_rrf_of_one_ranking_keeps_its_order() -> None:
    assert [i for i, _ in reciprocal_rank_fusion([["x", "y", "z"]])] == ["x", "y", "z"]
