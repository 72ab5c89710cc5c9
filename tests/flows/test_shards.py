"""Generation shards: cutting pending work, and contiguous sample-index runs."""

from flows.shards import contiguous_runs, cut_shards


def test_cut_shards_respects_shard_size_and_keeps_index_groups():
    work = {(0, 1, 2): list(range(5)), (2,): [7, 8]}
    shards = cut_shards(work, 2)
    assert shards == [((0, 1, 2), [0, 1]), ((0, 1, 2), [2, 3]), ((0, 1, 2), [4]), ((2,), [7, 8])]


def test_contiguous_runs_group_neighbouring_indices():
    assert contiguous_runs([5, 0, 2, 1]) == [range(0, 3), range(5, 6)]
    assert contiguous_runs([]) == []
