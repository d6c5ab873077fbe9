"""The one seeded, resumable batch stream (``BatchStream``) and the collated pair stream built on it."""

import pytest
import torch

from seqgan.data import BatchStream, PairStream


def _flat(batches):
    return [i for b in batches for i in b]


def test_an_epoch_is_a_seeded_permutation_and_shards_are_disjoint():
    plan = BatchStream(10, 3, seed=1).epoch_batches(0)
    assert sorted(_flat(plan)) == list(range(10)) and [len(b) for b in plan] == [3, 3, 3, 1]
    assert plan == BatchStream(10, 3, seed=1).epoch_batches(0)
    assert plan != BatchStream(10, 3, seed=1).epoch_batches(1)
    assert plan != BatchStream(10, 3, seed=2).epoch_batches(0)
    r0 = _flat(BatchStream(11, 2, seed=1, rank=0, world=2).epoch_batches(0))
    r1 = _flat(BatchStream(11, 2, seed=1, rank=1, world=2).epoch_batches(0))
    assert len(r0) == len(r1) == 5 and not set(r0) & set(r1)


@pytest.mark.parametrize("last, sizes", [("keep", [4, 4, 2, 4, 4, 2]), ("drop", [4, 4, 4, 4, 4, 4]),
                                         ("fill", [4, 4, 4, 4, 4, 4])])
def test_the_short_last_batch_is_kept_dropped_or_filled(last, sizes):
    stream = BatchStream(10, 4, seed=0, last=last)
    batches = [stream.next() for _ in range(6)]
    assert [len(b) for b in batches] == sizes
    if last == "fill":  # every row once before any row twice
        assert sorted(_flat(batches)[:10]) == list(range(10))
    else:  # a batch never spans two epochs
        first = stream.epoch_batches(0)
        assert batches[:len(first)] == first


@pytest.mark.parametrize("last", BatchStream.LAST)
def test_a_restored_stream_continues_exactly(last):
    straight = BatchStream(10, 4, seed=3, last=last)
    expected = [straight.next() for _ in range(7)]
    first = BatchStream(10, 4, seed=3, last=last)
    [first.next() for _ in range(3)]
    resumed = BatchStream(10, 4, seed=3, last=last)
    resumed.load_state_dict(first.state_dict())
    assert [resumed.next() for _ in range(4)] == expected[3:]


def test_seed_none_follows_the_global_rng():
    torch.manual_seed(5)
    a = [BatchStream(20, 5, seed=None).next() for _ in range(2)]
    torch.manual_seed(5)
    b = [BatchStream(20, 5, seed=None).next() for _ in range(2)]
    assert a == b and a[0] != a[1]


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="too few"):
        BatchStream(3, 4, seed=0, last="drop")
    with pytest.raises(ValueError, match="too few"):
        BatchStream(1, 4, seed=0, world=2)
    with pytest.raises(ValueError, match="last"):
        BatchStream(10, 4, seed=0, last="pad")


def _pairs(n):
    return [{"context_ids": [i + 1], "reply_ids": [i + 1] * (1 + i % 3)} for i in range(n)]


def test_pair_stream_collates_and_resumes_where_it_stopped():
    a = PairStream(_pairs(10), 0, 4, seed=1)
    seq = [a.next()["reply_ids"] for _ in range(5)]
    assert all(s.shape[0] == 4 for s in seq)
    b = PairStream(_pairs(10), 0, 4, seed=1)
    [b.next() for _ in range(2)]
    c = PairStream(_pairs(10), 0, 4, seed=1)
    c.load_state_dict(b.state_dict())
    assert all(torch.equal(x, c.next()["reply_ids"]) for x in seq[2:])
