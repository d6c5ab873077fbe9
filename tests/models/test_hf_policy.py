"""What both transformers families share (:mod:`seqgan.models.hf_policy`)."""

from __future__ import annotations

import torch

from seqgan.models.hf_policy import distinct_rows
from seqgan.models.policy import Context


def test_distinct_rows_finds_the_contexts_that_repeat_and_ignores_padding():
    ids = torch.tensor([[5, 6, 0], [7, 0, 0], [5, 6, 9], [7, 3, 3], [5, 6, 9]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 0], [1, 0, 0], [1, 1, 0]])  # rows 0, 2, 4 read 5 6; 1, 3 read 7
    distinct, row_of = distinct_rows(Context(ids, mask))
    assert torch.equal(distinct.ids, ids[[0, 1]]) and torch.equal(distinct.mask, mask[[0, 1]])  # first appearances
    assert row_of.tolist() == [0, 1, 0, 1, 0]
    group = Context(ids[:2], mask[:2]).repeat_interleave(3)
    distinct, row_of = distinct_rows(group)
    assert torch.equal(distinct.ids, ids[:2]) and row_of.tolist() == [0, 0, 0, 1, 1, 1]


def test_distinct_rows_is_none_when_nothing_repeats():
    ids = torch.tensor([[5, 6], [5, 7], [6, 5]])
    assert distinct_rows(Context(ids, torch.ones_like(ids))) is None
    assert distinct_rows(Context(ids[:1], torch.ones_like(ids[:1]))) is None
    assert distinct_rows(Context.empty(4)) is None  # unconditional: no context to share


def test_append_layer_grows_like_concatenation_and_cuts_its_first_rows_without_copying():
    from transformers.cache_utils import DynamicCache

    from seqgan.models.hf_policy import AppendLayer, decoding_cache

    torch.manual_seed(0)
    keys, values = torch.randn(4, 2, 3, 5), torch.randn(4, 2, 3, 5)
    source = keys.clone()
    cache = decoding_cache(DynamicCache([(keys, values)]))
    plain = DynamicCache([(keys, values)])
    assert isinstance(cache.layers[0], AppendLayer)
    for step in range(AppendLayer.spare + 3):  # past the first growth
        new_k, new_v = torch.randn(4, 2, 1, 5), torch.randn(4, 2, 1, 5)
        got = cache.layers[0].update(new_k, new_v)
        want = plain.layers[0].update(new_k, new_v)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    assert torch.equal(keys, source), "the source cache is never written"
    first = decoding_cache(cache, torch.arange(2))  # the decode loop dropping its last rows
    assert first.layers[0].keys.data_ptr() == cache.layers[0].keys.data_ptr()
    some = decoding_cache(cache, torch.tensor([1, 3]))
    assert torch.equal(some.layers[0].keys, cache.layers[0].keys[[1, 3]])
    assert torch.equal(first.layers[0].keys, cache.layers[0].keys[:2]) and first.get_seq_length() == 3 + 35
