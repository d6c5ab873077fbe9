import json
import math

import pytest
import torch

from seqgan.cli import main
from seqgan.oracle.data import build_oracle, sample_sequences
from seqgan.oracle.metrics import nll_oracle
from seqgan.models.discriminator import Discriminator, DiscriminatorConfig
from seqgan.models.lstm import LSTMPolicy, LSTMShape
from seqgan.models.policy import Context, Replies
from seqgan.rewards import MonteCarloReward, RolloutPolicy
from seqgan.oracle.scorers import BleuScorer, ConstantScorer, UniformScorer
from seqgan.oracle.benchmark import mle_steps
from seqgan.oracle.config import ROWS

SHAPE = LSTMShape(vocab_size=60, embed_dim=8, hidden_dim=16, seq_len=8)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread is faster


def test_mle_on_oracle_data_lowers_nll_oracle():
    oracle = build_oracle(SHAPE, 5)
    data = sample_sequences(oracle, 512, seed=0)
    torch.manual_seed(0)
    model = LSTMPolicy(SHAPE)
    before = nll_oracle(oracle, model, 500)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    mle_steps(model, opt, data, 200, 32, 5.0)
    after = nll_oracle(oracle, model, 500)
    assert after < before - 0.5, (before, after)


class PositionScorer:
    """D that says 'real' exactly when token ``pos`` of the reply equals ``value``."""

    def __init__(self, pos: int, value: int) -> None:
        self.pos, self.value = pos, value

    def reward(self, context, ids, mask):
        return (ids[:, self.pos] == self.value).float()


def test_rollout_rewards_land_on_the_right_sentence_and_position():
    torch.manual_seed(0)
    policy = LSTMPolicy(SHAPE)
    ids = policy.sample(Context.empty(6)).ids.clone()
    ids[:, 3] = torch.tensor([7, 1, 7, 2, 7, 3])  # rows 0, 2, 4 hold the value D looks for
    replies = Replies(ids, torch.ones_like(ids))
    reward = MonteCarloReward(PositionScorer(3, 7), RolloutPolicy(policy), n=4)
    r = reward(Context.empty(6), replies)  # (B, T)
    hit = torch.tensor([1.0, 0, 1, 0, 1, 0])
    # once token 3 is in the prefix (entries i >= 3) the reward is exactly D's verdict on that row
    for i in range(3, SHAPE.seq_len):
        assert torch.equal(r[:, i], hit), i
    # before it, token 3 is sampled by the rollout: values are Monte Carlo fractions, rarely 1
    assert ((r[:, :3] * 4) == (r[:, :3] * 4).round()).all() and float(r[:, :3].mean()) < 0.5


def test_discriminator_scores_rollouts_in_eval_mode():
    torch.manual_seed(0)
    policy = LSTMPolicy(SHAPE)
    disc = Discriminator(DiscriminatorConfig(filter_sizes=[1, 2], num_filters=[4, 4], embed_dim=8, dropout=0.5),
                         SHAPE.vocab_size, pad_id=0)
    disc.train()
    modes = []
    disc.register_forward_pre_hook(lambda m, _inp: modes.append(m.training))
    replies = policy.sample(Context.empty(3))
    r1 = MonteCarloReward(disc, RolloutPolicy(policy), n=2)(Context.empty(3), replies)
    assert modes and not any(modes), "D must score rollouts without dropout"
    assert disc.training, "D's mode is restored after scoring"
    assert r1.shape == (3, SHAPE.seq_len) and ((r1 > 0) & (r1 < 1)).all()


def test_bleu_and_control_scorers():
    refs = torch.tensor([[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]])
    bleu = BleuScorer(refs, vocab_size=20)
    cand = torch.tensor([[1, 2, 3, 4, 5, 6], [1, 2, 3, 10, 11, 12], [13, 14, 15, 16, 17, 18], [1, 1, 1, 1, 1, 1]])
    s = bleu.reward(Context.empty(4), cand, torch.ones_like(cand))
    assert abs(float(s[0]) - 1.0) < 1e-6  # a reference scores 1
    assert 0.1 < float(s[1]) < 0.9  # half its n-grams match
    assert float(s[2]) < 0.05  # nothing matches
    # unigram "1" occurs once in any reference: clipped to 1 match out of 6; bigram (1, 1) never occurs
    p1, p2, p3, p4 = 1 / 6, 1 / 6, 1 / 5, 1 / 4  # add-one smoothing for n > 1
    assert abs(float(s[3]) - math.exp((math.log(p1) + math.log(p2) + math.log(p3) + math.log(p4)) / 4)) < 1e-5
    ids = torch.zeros(5, 4, dtype=torch.long)
    assert torch.equal(ConstantScorer(0.3).reward(None, ids, ids), torch.full((5,), 0.3))
    u = UniformScorer().reward(None, ids, ids)
    assert u.shape == (5,) and ((u >= 0) & (u < 1)).all() and u.std() > 0


def test_oracle_command_writes_every_row_on_the_tiny_recipe(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["oracle", "--recipe", "recipes/oracle_tiny.yaml", "--seed", "3", f"run_dir={run_dir}"]) == 0
    result = json.loads((run_dir / "results.json").read_text())
    assert result["seed"] == 3 and [r["row"] for r in result["rows"]] == list(ROWS)
    by_row = {r["row"]: r for r in result["rows"]}
    assert all(math.isfinite(r["nll_oracle"]) and math.isfinite(r["nll_test"]) for r in result["rows"])
    assert by_row["random"]["nll_oracle"] > by_row["mle"]["nll_oracle"]
    assert result["oracle_entropy"] < by_row["mle"]["nll_oracle"]
    assert by_row["seqgan"]["rollout_s"] > 0 and by_row["seqgan"]["d_train_s"] > 0
    for name in ("curves.png", "results.md", "oracle/model.safetensors", "oracle_data.safetensors",
                 "generator_seqgan/model.safetensors", "config.yaml"):
        assert (run_dir / name).is_file(), name
    assert "| seqgan |" in capsys.readouterr().out


def test_oracle_command_rejects_bad_rows_and_missing_recipe(tmp_path, capsys):
    assert main(["oracle", "--recipe", "recipes/oracle_tiny.yaml", "rows=[mle,gan]", f"run_dir={tmp_path}"]) == 2
    assert "rows" in capsys.readouterr().err
    assert main(["oracle", "--recipe", str(tmp_path / "none.yaml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_vectorised_bleu_agrees_with_sacrebleu_sentence_bleu():
    """The BLEU scorer of PG-BLEU equals sacrebleu's sentence BLEU with add-one smoothing for n > 1 (no brevity
    penalty arises: every reply and reference has length T), multi-reference clipping included."""
    sacrebleu = pytest.importorskip("sacrebleu")
    gen = torch.Generator().manual_seed(1)
    refs = torch.randint(1, 12, (40, 10), generator=gen)  # small vocabulary: matches at every n-gram order
    hyps = torch.cat([torch.randint(1, 12, (6, 10), generator=gen), refs[:1],  # a reference itself scores 1
                      torch.tensor([[3, 3, 3, 3, 3, 3, 3, 3, 3, 3]]),  # clipping of a repeated unigram
                      torch.randint(1, 40, (2, 10), generator=gen)])  # some orders without any match
    ours = BleuScorer(refs, vocab_size=40).reward(Context.empty(hyps.shape[0]), hyps, torch.ones_like(hyps))
    ref_text = [" ".join(map(str, r.tolist())) for r in refs]
    for i, hyp in enumerate(hyps):
        expected = sacrebleu.sentence_bleu(" ".join(map(str, hyp.tolist())), ref_text, smooth_method="add-k",
                                           smooth_value=1, tokenize="none").score / 100
        assert abs(float(ours[i]) - expected) < 1e-5, (i, float(ours[i]), expected)
    assert len({round(float(v), 4) for v in ours}) > 5  # the examples do differ


def test_seed_summary_table_and_curves(tmp_path):
    from seqgan.oracle.benchmark import plot_seed_curves, summarize_seeds

    def result(seed, mle, gan):
        return {"seed": seed, "rows": [
            {"row": "mle", "nll_oracle": mle, "nll_test": 7.7, "wall_s": 100.0, "curve": []},
            {"row": "seqgan", "nll_oracle": gan, "nll_test": 7.9, "wall_s": 50.0, "curve": [[0, mle], [10, gan]]}]}

    results = [result(0, 9.5, 9.1), result(1, 9.4, 9.2), result(2, 9.6, 9.0)]
    table = summarize_seeds(results)
    assert "| seqgan | 9.100 | 9.200 | 9.000 | 9.100 ± 0.100 | 7.900 ± 0.000 | 50 |" in table
    assert "| mle | 9.500 | 9.400 | 9.600 | 9.500 ± 0.100 |" in table
    png = plot_seed_curves(results, tmp_path / "c.png")
    assert png.stat().st_size > 1000


def test_rollout_free_control_rewards_match_the_monte_carlo_reward():
    from seqgan.oracle.scorers import InputFreeRolloutReward

    torch.manual_seed(0)
    policy = LSTMPolicy(SHAPE)
    replies = policy.sample(Context.empty(4))
    ctx = Context.empty(4)
    mc = MonteCarloReward(ConstantScorer(0.3), RolloutPolicy(policy), n=3)(ctx, replies)
    assert torch.allclose(InputFreeRolloutReward(ConstantScorer(0.3), 3)(ctx, replies), mc)
    big = policy.sample(Context.empty(4000))
    r = InputFreeRolloutReward(UniformScorer(), 4)(Context.empty(4000), big)  # (B, T)
    mc = MonteCarloReward(UniformScorer(), RolloutPolicy(policy), n=4)(Context.empty(4000), big)
    for got in (r, mc):  # mean of 4 uniforms per prefix (variance 1/48), one uniform for the full reply (1/12)
        assert abs(float(got[:, :-1].mean()) - 0.5) < 0.01 and abs(float(got[:, :-1].var()) - 1 / 48) < 0.002
        assert abs(float(got[:, -1].var()) - 1 / 12) < 0.01
    with pytest.raises(TypeError):
        InputFreeRolloutReward(BleuScorer(replies.ids, SHAPE.vocab_size), 2)
