"""The policy-gradient route's toolbox: on-policy log-probabilities, K replies per context with the group
baseline, reward transforms, the KL leash to the frozen MLE generator, D's replay buffer; exact resume with all of
them on."""

from __future__ import annotations

import pytest
import torch

from seqgan.adversarial.config import AdversarialConfig
from seqgan.adversarial.trainer import AdversarialTrainer, batch_to
from seqgan.data import PairStream
from seqgan.errors import ConfigError
from seqgan.models.seq2seq import GeneratorConfig, Seq2SeqPolicy

from adv_toys import BagDisc, bag_loss
from test_adversarial import BOS, EOS, PAD, V, TokenDisc, pairs, resume_round_trip, tiny_policy

pytestmark = pytest.mark.usefixtures("one_thread")


def dropout_policy(seed: int = 0) -> Seq2SeqPolicy:
    torch.manual_seed(seed)
    cfg = GeneratorConfig(d_model=32, encoder_layers=1, decoder_layers=1, attention_heads=2, ffn_dim=64,
                          dropout=0.3, max_positions=16)
    return Seq2SeqPolicy.build(cfg, V, PAD, BOS, EOS, max_reply_len=6)


def trainer_for(policy, disc=None, d_loss=None, batch_size=8, **cfg):
    cfg = AdversarialConfig(**{"rounds": 4, "batch_size": batch_size, "teacher_forcing_every": 0, **cfg})
    cfg.validate()
    return AdversarialTrainer(policy, disc if disc is not None else TokenDisc(), cfg, d_loss=d_loss,
                              human=PairStream(pairs(), PAD, batch_size, 0), seed=3)


@pytest.mark.parametrize("entropy_weight", [0.0, 0.01])
def test_g_loss_log_probabilities_are_the_samplers(entropy_weight):
    """Dropout on and a sampling temperature != 1: the loss must still use the distribution replies came from."""
    policy = dropout_policy()
    trainer = trainer_for(policy, reward="sequence", temperature=0.7, entropy_weight=entropy_weight)
    policy.train()  # as the trainer leaves it between steps
    context, _ = batch_to(trainer.human.next(), torch.device("cpu"))
    torch.manual_seed(0)
    batch = trainer.route.generate_and_score(context)
    logp, entropy = trainer.route.policy_logprobs(batch)
    assert logp.requires_grad and policy.training  # scored with gradient; the module's mode is restored
    torch.testing.assert_close(logp.detach(), batch.replies.logprobs, atol=1e-5, rtol=0)
    assert (entropy is not None) == bool(entropy_weight)
    off_policy = policy.score(batch.context, batch.replies.ids, batch.replies.mask)  # train mode, temperature 1
    assert not torch.allclose(off_policy.detach(), batch.replies.logprobs, atol=1e-3)


def test_group_of_k_replies_per_context_with_the_leave_one_out_baseline():
    trainer = trainer_for(tiny_policy(), reward="sequence", group_size=4, baseline="group", advantage_norm="none")
    context, _ = batch_to(trainer.human.next(), torch.device("cpu"))
    batch = trainer.route.generate_and_score(context)
    assert batch.replies.ids.shape[0] == 8 * 4
    assert torch.equal(batch.context.ids, context.ids.repeat_interleave(4, 0))
    values = batch.rewards[:, 0].view(8, 4)  # sequence reward: the same value on every token
    loo = (values.sum(1, keepdim=True) - values) / 3
    assert torch.allclose(batch.baseline[:, 0], loo.reshape(-1))
    assert torch.allclose(batch.advantages[:, 0], (values - loo).reshape(-1))
    log = trainer.g_step()
    assert 0.0 <= log["frac_reward_zero_std"] <= 1.0 and {"reward_std", "d_prob", "entropy"} <= set(log)


def test_kl_leash_charges_the_kl_to_come_and_holds_the_generator_near_the_reference():
    def drift(kl_coef: float) -> tuple[float, list[dict]]:
        policy = tiny_policy()
        trainer = trainer_for(policy, reward="sequence", g_lr=3e-2, batch_size=16, kl_coef=kl_coef, g_steps=2,
                              d_steps=0, group_size=2, baseline="group", rounds=6)
        logs = [trainer.run_round() for _ in range(6)]
        return logs[-1]["kl"], logs

    free, logs = drift(1e-6)
    held, held_logs = drift(2.0)
    assert free > 2 * held, (free, held)
    assert held_logs[-1]["kl_coef"] == 2.0 and "kl" in logs[0]
    # the advantages are the scaled D part minus beta x the KL still to come
    policy = tiny_policy()
    trainer = trainer_for(policy, reward="sequence", kl_coef=0.5, advantage_norm="none", baseline="none", d_steps=0,
                          g_lr=3e-2)
    trainer.run_round()
    context, _ = batch_to(trainer.human.next(), torch.device("cpu"))
    batch = trainer.route.generate_and_score(context)
    from seqgan.objectives.kl import kl_to_go

    expected = batch.rewards - 0.5 * kl_to_go(batch.kl, batch.replies.mask)
    torch.testing.assert_close(batch.advantages, expected * batch.replies.mask)
    assert trainer.reference is not None and not any(p.requires_grad for p in trainer.reference.parameters())


def test_adaptive_kl_coefficient_follows_its_target():
    trainer = trainer_for(tiny_policy(), reward="sequence", g_lr=3e-2, kl_coef=0.05, kl_target=1e-4,
                          kl_horizon=2, d_steps=0, rounds=5)
    logs = [trainer.run_round() for _ in range(5)]
    assert logs[0]["kl"] == 0.0 and logs[1]["kl_coef"] < 0.05  # G is still the reference: the leash loosens
    assert logs[-1]["kl_coef"] > logs[1]["kl_coef"]  # then KL above its target: it tightens


def test_d_steps_read_g_samples_from_the_replay_buffer():
    policy = tiny_policy()
    torch.manual_seed(1)
    trainer = trainer_for(policy, BagDisc(V), bag_loss_with_context, reward="sequence", d_replay=2, group_size=2,
                          baseline="group")
    trainer.d_step()  # empty buffer: fresh samples
    assert trainer.route.replay == []
    trainer.g_step()
    assert len(trainer.route.replay) == 16  # 8 contexts x 2 replies
    calls = []
    original = policy.sample
    policy.sample = lambda *a, **k: calls.append(1) or original(*a, **k)
    log = trainer.d_step()
    assert not calls and {"d_acc_fake", "d_acc_real"} <= set(log)  # no sampling: G's recent replies
    policy.sample = original
    for _ in range(3):
        trainer.g_step()
    assert len(trainer.route.replay) == 32  # the last 2 G steps only
    assert all(isinstance(c, list) and isinstance(r, list) for c, r in trainer.route.replay)


def bag_loss_with_context(disc, context, human, generated, perm, generated_context=None):
    if generated_context is None:
        return bag_loss(disc, context, human, generated, perm)
    loss, terms = bag_loss(disc, context, human, human, perm)  # real and mismatch terms on the human pairs
    fake = disc(generated_context, generated.ids, generated.mask)
    loss = loss + torch.nn.functional.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
    return loss, {**terms, "acc_fake": float((fake < 0).float().mean())}


def test_resume_is_exact_with_the_whole_toolbox_on():
    def make():
        policy = tiny_policy()
        torch.manual_seed(1)
        cfg = AdversarialConfig(rounds=4, reward="rollout", rollout_n=2, rollout_rate=0.0, batch_size=8,
                                group_size=2, baseline="prefix_value", reward_transform="logit",
                                advantage_norm="running_std", kl_coef=0.1, kl_target=0.01, d_replay=2,
                                teacher_forcing_every=2)
        return AdversarialTrainer(policy, BagDisc(V), cfg, d_loss=bag_loss_with_context,
                                  human=PairStream(pairs(), PAD, 8, 0), seed=3)

    logs = resume_round_trip(make)
    assert {"kl", "kl_coef", "frac_reward_zero_std", "tf_nll", "d_acc_fake"} <= set(logs[-1])


@pytest.mark.parametrize("bad, match", [
    (dict(baseline="group"), "group_size >= 2"),
    (dict(baseline="prefix_value", reward="sequence"), "prefix_value needs per-prefix values"),
    (dict(kl_coef=0.0, kl_target=0.1), "starting coefficient"),
    (dict(route="gumbel", group_size=2), "policy-gradient settings"),
    (dict(reward_transform="exp"), "adversarial.reward_transform"),
    (dict(advantage_norm="z"), "adversarial.advantage_norm"),
])
def test_config_rejects_inconsistent_toolbox_settings(bad, match):
    with pytest.raises(ConfigError, match=match):
        AdversarialConfig(**bad).validate()


def test_best_of_group_is_maximum_likelihood_on_each_groups_best_reply():
    from test_adversarial import target_rate

    policy = tiny_policy()
    trainer = trainer_for(policy, reward="sequence", estimator="best_of_group", group_size=4, d_steps=0, g_lr=1e-2,
                          batch_size=16)
    context, _ = batch_to(trainer.human.next(), torch.device("cpu"))
    batch = trainer.route.generate_and_score(context)
    values = batch.rewards.gather(1, (batch.replies.mask.sum(1, keepdim=True) - 1)).squeeze(1).view(16, 4)
    chosen = batch.advantages.amax(1).view(16, 4)
    assert torch.equal(chosen.argmax(1), values.argmax(1)) and torch.equal(chosen.sum(1), torch.ones(16))
    loss = trainer.route.compute_loss(batch)
    logp = policy.score(batch.context, batch.replies.ids, batch.replies.mask)
    sel = batch.advantages
    torch.testing.assert_close(loss, -(logp * sel).sum() / sel.sum())
    before = target_rate(policy)
    for _ in range(8):
        trainer.run_round()
    assert target_rate(policy) > before + 0.1
