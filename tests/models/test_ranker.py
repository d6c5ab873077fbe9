"""RankGAN's ranker (Lin et al. 2017): the rank score against a reference set, its objective, its Scorer use."""

import math

import pytest
import torch

from seqgan.models.discriminator import DiscriminatorConfig
from seqgan.models.policy import Context
from seqgan.models.ranker import Ranker, log_rank
from seqgan.objectives.ranking import ranker_loss

CFG = DiscriminatorConfig(encoder="cnn", filter_sizes=[1, 2, 3], num_filters=[8, 8, 8], embed_dim=8, dropout=0.0)


def test_log_rank_matches_the_formula():
    torch.manual_seed(0)
    s, u, c = torch.randn(3, 5), torch.randn(4, 5), torch.randn(6, 5)
    gamma = 2.0
    got = log_rank(s, u, c, gamma)
    cos = lambda a, b: torch.nn.functional.cosine_similarity(a, b, dim=-1)  # noqa: E731
    for i in range(3):
        terms = []
        for k in range(4):
            own = math.exp(gamma * cos(s[i], u[k]))
            total = own + sum(math.exp(gamma * cos(c[j], u[k])) for j in range(6))
            terms.append(math.log(own / total))
        assert got[i].item() == pytest.approx(sum(terms) / 4, abs=1e-5)
    # a sentence identical to the reference set's sentences ranks first; one per row sets agree with shared sets
    assert log_rank(u[:1], u[:1], c, gamma) > log_rank(-u[:1], u[:1], c, gamma)
    torch.testing.assert_close(log_rank(s, u, c.expand(3, 6, 5), gamma), got)
    # indistinguishable sentences: rank probability 1 / (C + 1)
    same = torch.ones(1, 5)
    assert log_rank(same, u, same.expand(6, 5), gamma).item() == pytest.approx(-math.log(7), abs=1e-6)


def test_ranker_training_ranks_human_sentences_above_generated_and_reward_follows():
    torch.manual_seed(0)
    V, T = 30, 8
    human = torch.randint(0, 10, (64, T))  # human sentences use tokens 0..9, generated ones 10..29
    generated = torch.randint(10, V, (64, T))
    ranker = Ranker(CFG, V, gamma=1.0)
    opt = torch.optim.Adam(ranker.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in ranker.parameters()]
    for _ in range(60):
        ref = human[torch.randint(0, 64, (16,))]
        loss, terms = ranker_loss(ranker, human, generated, ref)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert terms["acc_human"] > 0.9 and terms["acc_generated"] > 0.9, terms
    assert all(not torch.equal(a, b) for a, b in zip(before, ranker.parameters()))  # every parameter trained
    ranker.set_sets(human[:16], human[16:32])  # reference U and comparison C+ (human sentences)
    r_human = ranker.reward(Context.empty(16), human[32:48], torch.ones(16, T))
    r_gen = ranker.reward(Context.empty(16), generated[:16], torch.ones(16, T))
    # a human sentence among human ones ranks at chance (1 / 17); a generated one well below it
    assert float(r_human.mean()) == pytest.approx(1 / 17, rel=0.2)
    assert ((0 < r_gen) & (r_gen < 1)).all() and r_gen.mean() < 0.5 * r_human.mean()


def test_ranker_round_trip_and_needs_its_sets(tmp_path):
    ranker = Ranker(CFG, 30, gamma=0.5)
    with pytest.raises(RuntimeError, match="set_sets"):
        ranker.reward(Context.empty(2), torch.zeros(2, 8, dtype=torch.long), torch.ones(2, 8))
    ranker.save_pretrained(tmp_path / "r")
    again = Ranker.from_pretrained(tmp_path / "r")
    ids = torch.randint(0, 30, (4, 8))
    assert again.gamma == 0.5
    torch.testing.assert_close(again.eval().features(ids), ranker.eval().features(ids))
