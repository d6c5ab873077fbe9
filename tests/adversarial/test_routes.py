"""The relaxed routes (Gumbel-softmax, continuous vectors, WGAN-GP critic) in the adversarial trainer: gradients go
into G through a frozen D, a fixed D's preference is learnt, the recipes load, resume is exact."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from seqgan.errors import ConfigError
from seqgan.models.discriminator import DiscOutput, Discriminator, DiscriminatorConfig
from seqgan.objectives.discriminator_loss import LossWeights, discriminator_loss
from seqgan.adversarial.config import AdversarialConfig
from seqgan.adversarial.trainer import AdversarialTrainer
from seqgan.data import PairStream
from test_adversarial import (PAD, TARGET, V, _adv_lines, _copy_run, _run_cfg, interrupt_at_round, mle_run, pairs,
                              resume_round_trip, target_rate, tiny_policy)

pytestmark = pytest.mark.usefixtures("one_thread")
RECIPES = Path(__file__).resolve().parents[2] / "recipes"
ROUTES = [dict(route="gumbel", gumbel_mode="soft"), dict(route="gumbel", gumbel_mode="st"),
          dict(route="continuous"), dict(route="continuous", mitigation="straight_through"),
          dict(route="gumbel", gumbel_mode="soft", critic="wgan_gp")]
_ = mle_run  # the run-directory fixture of the policy-gradient tests


def tiny_disc(seed: int = 1) -> Discriminator:
    torch.manual_seed(seed)
    cfg = DiscriminatorConfig(embed_dim=16, filter_sizes=[1, 2, 3], num_filters=[8, 8, 8], dropout=0.1)
    return Discriminator(cfg, V, PAD)


def d_loss(disc, context, human, generated, perm):
    return discriminator_loss(disc, context, human, generated, LossWeights(), mismatch_perm=perm)


class PreferDisc(torch.nn.Module):
    """A fixed, differentiable D: logit = 6 * (mean probability of TARGET over the reply) - 3 (no parameters)."""

    def forward(self, context, reply, mask):
        x = reply if reply.dim() == 3 else F.one_hot(reply, V).float()
        m = mask.float()
        share = (x[..., TARGET] * m).sum(1) / m.sum(1).clamp(min=1)
        return DiscOutput(6.0 * share - 3.0, None, None)


def _name(route: dict) -> str:
    return "-".join(str(v) for v in route.values())


@pytest.mark.parametrize("route", ROUTES, ids=_name)
def test_g_step_sends_gradients_into_g_through_a_frozen_d_and_d_step_trains_only_d(route):
    policy, disc = tiny_policy(), tiny_disc()
    cfg = AdversarialConfig(rounds=2, d_steps=1, g_steps=1, batch_size=8, g_lr=1e-3, d_lr=1e-2,
                            teacher_forcing_every=0, **route)
    cfg.validate()
    trainer = AdversarialTrainer(policy, disc, cfg, d_loss=d_loss, human=PairStream(pairs(), PAD, 8, 0))
    assert trainer.rollout_policy is None  # no rollout copy for the relaxed routes
    g0 = {k: v.detach().clone() for k, v in policy.named_parameters()}
    d0 = {k: v.detach().clone() for k, v in disc.named_parameters()}
    log = trainer.d_step()
    assert all(torch.equal(v, g0[k]) for k, v in policy.named_parameters()), "G moved during a D step"
    # a Wasserstein critic's output bias cancels in E[D(real)] - E[D(fake)]: it is the one parameter without gradient
    frozen = ["pair_head.2.bias"] if cfg.critic == "wgan_gp" else []
    assert [k for k, v in disc.named_parameters() if torch.equal(v, d0[k])] == frozen, "D parameters that did not train"
    assert 0.0 <= log["cheat_auc"] <= 1.0
    assert ("d_gp" in log) == (cfg.critic == "wgan_gp") and ("d_acc_fake" in log) == (cfg.critic == "gan")
    d1 = {k: v.detach().clone() for k, v in disc.named_parameters()}
    for p in disc.parameters():
        p.grad = None
    log = trainer.g_step()
    assert all(p.grad is None for p in disc.parameters()), "D received gradients during a G step"
    assert all(torch.equal(v, d1[k]) for k, v in disc.named_parameters()), "D moved during a G step"
    unchanged = [k for k, v in policy.named_parameters() if torch.equal(v, g0[k])]
    assert not unchanged, f"G parameters the gradient through D did not reach: {unchanged}"
    assert {"tau", "g_loss", "g_d_logit", "g_entropy", "sample_len"} <= set(log) and "tf_nll" not in log


@pytest.mark.parametrize("route", ROUTES, ids=_name)
def test_generator_learns_a_fixed_discriminators_preference_through_its_gradient(route):
    policy = tiny_policy()
    before = target_rate(policy)
    cfg = AdversarialConfig(rounds=10, d_steps=0, g_steps=1, batch_size=16, g_lr=1e-2, teacher_forcing_every=0,
                            tau_schedule="relgan_exp", beta_max=3.0, **route)
    trainer = AdversarialTrainer(policy, PreferDisc(), cfg, d_loss=None, human=PairStream(pairs(), PAD, 16, 0))
    logs = [trainer.run_round() for _ in range(cfg.rounds)]
    after = target_rate(policy)
    assert after > before + 0.2, (before, after)
    assert logs[-1]["g_d_logit"] > logs[0]["g_d_logit"] + 1.0
    assert logs[0]["tau"] == 1.0 and logs[-1]["tau"] == pytest.approx(1 / 3.0)  # N = rounds x g_steps


def test_relaxed_trainer_state_round_trip_continues_identically():
    def make():
        cfg = AdversarialConfig(rounds=4, batch_size=8, route="gumbel", gumbel_mode="st",
                                tau_schedule="relgan_exp", beta_max=10.0)
        return AdversarialTrainer(tiny_policy(), tiny_disc(), cfg, d_loss=d_loss,
                                  human=PairStream(pairs(), PAD, 8, 0), seed=3)

    logs_b = resume_round_trip(make)
    assert logs_b[-1]["tau"] == pytest.approx(0.1)


@pytest.mark.slow
def test_relaxed_run_directory_resume_is_exact(mle_run, tmp_path, monkeypatch):
    """N rounds + resume == 2N straight, through ``train_adversarial`` (checkpoints, metrics.jsonl, plot)."""
    from seqgan.adversarial.stage import train_adversarial

    import dataclasses

    from seqgan.config import read_yaml_with_base
    from seqgan.adversarial.config import RouteConfig

    run, dcfg = mle_run
    section = read_yaml_with_base(str(RECIPES / "chat_gumbel_st.yaml"))["adversarial"]
    route = {f.name: section[f.name] for f in dataclasses.fields(RouteConfig) if f.name in section}  # route keys
    route["mitigation"] = "straight_through"
    assert route["route"] == "gumbel" and route["tau_schedule"] == "relgan_exp"
    straight = _copy_run(run, tmp_path / "straight")
    train_adversarial(_run_cfg(dcfg, 4, **route), straight)
    lines = _adv_lines(straight)
    assert [r["round"] for r in lines] == [0, 1, 2, 3, 4]
    assert {"tau", "cheat_auc", "d_acc_real", "d_acc_fake", "d_acc_mismatch", "g_d_prob", "tf_nll"} <= set(lines[1])
    assert lines[1]["tau"] == 1.0 and lines[4]["tau"] == pytest.approx(1 / route["beta_max"])
    assert (straight / "adversarial.png").is_file()
    # interrupted after 2 of the 4 configured rounds (the schedule's N is the configured 4 both times), resumed
    resumed = _copy_run(run, tmp_path / "resumed")
    original = interrupt_at_round(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        train_adversarial(_run_cfg(dcfg, 4, **route), resumed)
    monkeypatch.setattr(AdversarialTrainer, "run_round", original)
    assert [r["round"] for r in _adv_lines(resumed)] == [0, 1, 2]
    train_adversarial(_run_cfg(dcfg, 4, **route), resumed, resume=True)
    assert _adv_lines(resumed) == lines
    from seqgan.models.seq2seq import Seq2SeqPolicy

    a = Seq2SeqPolicy.from_pretrained(straight / "generator_adv").state_dict()
    b = Seq2SeqPolicy.from_pretrained(resumed / "generator_adv").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", ["chat_gumbel_soft", "chat_gumbel_st", "chat_continuous",
                                  "chat_continuous_mitigated", "chat_wgan_gp"])
def test_route_recipes_load_and_validate(name):
    from seqgan.config import load_config
    from seqgan.chatbot import ChatbotConfig

    cfg = load_config(ChatbotConfig, str(RECIPES / f"{name}.yaml"), ["adversarial.rounds=3"])
    cfg.validate()
    cfg.adversarial.validate()
    adv = cfg.adversarial
    assert adv.relaxed and adv.rounds == 3
    assert (adv.route, adv.gumbel_mode, adv.critic, adv.mitigation) == {
        "chat_gumbel_soft": ("gumbel", "soft", "gan", "none"),
        "chat_gumbel_st": ("gumbel", "st", "gan", "none"),
        "chat_continuous": ("continuous", adv.gumbel_mode, "gan", "none"),
        "chat_continuous_mitigated": ("continuous", adv.gumbel_mode, "gan", "straight_through"),
        "chat_wgan_gp": ("gumbel", "soft", "wgan_gp", "none"),
    }[name]
    assert (RECIPES / f"{name}.yaml").read_text().startswith("#")  # header comment


def test_route_config_errors():
    with pytest.raises(ConfigError, match="adversarial.route"):
        AdversarialConfig(route="reinforce").validate()
    with pytest.raises(ConfigError, match="only the relaxed routes"):
        AdversarialConfig(critic="wgan_gp").validate()
    with pytest.raises(ConfigError, match="adversarial.mitigation"):
        AdversarialConfig(route="continuous", mitigation="smooth").validate()
    with pytest.raises(ConfigError, match="gumbel_mode"):
        AdversarialConfig(route="gumbel", gumbel_mode="hard").validate()


def test_relaxed_generator_step_on_the_unconditional_lstm_leaves_d_untouched():
    from seqgan.models.lstm import LSTMPolicy, LSTMShape
    from seqgan.models.policy import Context
    from seqgan.adversarial.routes import make_update, relaxed_generator_step

    torch.manual_seed(0)
    policy = LSTMPolicy(LSTMShape(vocab_size=V, embed_dim=8, hidden_dim=8, seq_len=6))
    disc = tiny_disc()
    opt = torch.optim.Adam(policy.parameters(), lr=1e-2)
    g0 = {k: v.detach().clone() for k, v in policy.named_parameters()}
    d0 = {k: v.detach().clone() for k, v in disc.named_parameters()}
    disc.requires_grad_(False)  # the caller freezes D's parameters for G's step
    log = relaxed_generator_step(policy, disc, Context.empty(8), make_update(opt, list(policy.parameters()), 1.0),
                                 tau=0.5, mode="gumbel_st")
    disc.requires_grad_(True)
    assert [k for k, v in policy.named_parameters() if torch.equal(v, g0[k])] == []
    assert all(torch.equal(v, d0[k]) and v.grad is None for k, v in disc.named_parameters())
    assert disc.training and log["sample_len"] == 6.0 and log["g_max_prob"] == 1.0
    # the D step of the same unconditional task: only D moves, no mismatch term without a context
    from seqgan.models.policy import Replies
    from seqgan.adversarial.routes import relaxed_discriminator_step

    g1 = {k: v.detach().clone() for k, v in policy.named_parameters()}
    real = torch.randint(3, V, (8, 6))
    d_opt = torch.optim.Adam(disc.parameters(), lr=1e-2)
    log = relaxed_discriminator_step(policy, disc, make_update(d_opt, list(disc.parameters()), 1.0), Context.empty(8),
                                     Replies(real, torch.ones_like(real)), tau=0.5, mode="softmax")
    assert all(torch.equal(v, g1[k]) for k, v in policy.named_parameters())
    assert any(not torch.equal(v, d0[k]) for k, v in disc.named_parameters())
    assert {"d_loss_real", "d_loss_fake", "cheat_auc"} <= set(log) and "d_loss_mismatch" not in log
    assert log["cheat_auc"] > 0.9  # softmax vectors vs one-hots


def test_an_update_under_autocast_is_seen_by_the_next_forward_pass():
    """The stage runs a whole round under one autocast region: after update_g, the next forward pass (the next
    G-step, teacher forcing) must read the new weights, not autocast's cached bf16 copy of the old ones."""
    from seqgan.adversarial.routes import make_update

    torch.manual_seed(0)
    net = torch.nn.Linear(4, 4)
    update = make_update(torch.optim.SGD(net.parameters(), lr=10.0), list(net.parameters()))
    x = torch.randn(2, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        before = net(x)
        update(before.float().square().sum())
        after = net(x)
    fresh = torch.nn.functional.linear(x.bfloat16(), net.weight.bfloat16(), net.bias.bfloat16())
    assert not torch.equal(after, before)
    torch.testing.assert_close(after, fresh)
