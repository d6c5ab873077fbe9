"""The adversarial alternation: the objective improves, the right parameters train in each phase, resume is exact."""

from __future__ import annotations

import json
import math

import pytest
import torch

from seqgan.errors import ConfigError
from seqgan.config import from_dict
from seqgan.models.policy import Context
from seqgan.models.seq2seq import GeneratorConfig, Seq2SeqPolicy
from seqgan.adversarial.config import AdversarialConfig
from seqgan.adversarial.trainer import AdversarialTrainer
from seqgan.data import PairStream

from adv_toys import BagDisc, bag_loss

V, PAD, BOS, EOS, TARGET = 24, 0, 1, 2, 7


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread is faster


def tiny_policy(seed: int = 0) -> Seq2SeqPolicy:
    torch.manual_seed(seed)
    cfg = GeneratorConfig(d_model=32, encoder_layers=1, decoder_layers=1, attention_heads=2, ffn_dim=64,
                          dropout=0.0, max_positions=16)
    return Seq2SeqPolicy.build(cfg, V, PAD, BOS, EOS, max_reply_len=6)


def pairs(n: int = 64, seed: int = 0) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        ctx = torch.randint(3, V, (int(torch.randint(2, 6, (1,), generator=g)),), generator=g).tolist()
        reply = torch.randint(3, V, (int(torch.randint(1, 5, (1,), generator=g)),), generator=g).tolist() + [EOS]
        rows.append({"context_ids": ctx, "reply_ids": reply})
    return rows


class TokenDisc(torch.nn.Module):
    """A fixed D: the share of the reply's real tokens that are TARGET (no parameters)."""

    def _score(self, ids, mask):
        return ((ids == TARGET) & (mask > 0)).sum(1).float() / mask.sum(1).clamp(min=1)

    @torch.no_grad()
    def reward(self, context, ids, mask):
        return self._score(ids, mask)

    @torch.no_grad()
    def prefix_reward(self, context, ids, mask):
        hits = ((ids == TARGET) & (mask > 0)).float().cumsum(1)
        return hits / mask.float().cumsum(1).clamp(min=1) * mask


def target_rate(policy: Seq2SeqPolicy, n: int = 256) -> float:
    torch.manual_seed(123)
    ctx_rows = pairs(n, seed=9)
    stream = PairStream(ctx_rows, PAD, n, seed=0)
    batch = stream.next()
    replies = policy.sample(Context(batch["context_ids"], batch["context_mask"]))
    return float(((replies.ids == TARGET) & (replies.mask > 0)).sum() / replies.mask.sum())


@pytest.mark.parametrize("reward", ["rollout", "prefix", "sequence"])
def test_generator_learns_to_please_a_fixed_discriminator(reward):
    policy = tiny_policy()
    before = target_rate(policy)
    cfg = AdversarialConfig(rounds=8, d_steps=0, g_steps=2, reward=reward, rollout_n=2, g_lr=1e-2,
                            teacher_forcing_every=0, batch_size=16, baseline="moving_average")
    trainer = AdversarialTrainer(policy, TokenDisc(), cfg, d_loss=None, human=PairStream(pairs(), PAD, 16, 0))
    logs = [trainer.run_round() for _ in range(cfg.rounds)]
    after = target_rate(policy)
    assert after > before + 0.1, (before, after)
    assert logs[-1]["reward_mean"] > logs[0]["reward_mean"]


def test_each_phase_trains_only_its_own_model_and_every_g_parameter_moves():
    policy = tiny_policy()
    disc = BagDisc(V)
    cfg = AdversarialConfig(rounds=1, d_steps=1, g_steps=1, reward="rollout", rollout_n=2, g_lr=1e-3, d_lr=1e-2,
                            batch_size=8, teacher_forcing_every=1)
    trainer = AdversarialTrainer(policy, disc, cfg, d_loss=bag_loss, human=PairStream(pairs(), PAD, 8, 0))
    g0 = {k: v.detach().clone() for k, v in policy.named_parameters()}
    d0 = {k: v.detach().clone() for k, v in disc.named_parameters()}
    trainer.d_step()
    assert all(torch.equal(v, g0[k]) for k, v in policy.named_parameters()), "G moved during a D step"
    assert all(not torch.equal(v, d0[k]) for k, v in disc.named_parameters()), "some D parameter did not train"
    d1 = {k: v.detach().clone() for k, v in disc.named_parameters()}
    roll0 = {k: v.detach().clone() for k, v in trainer.rollout_policy.copy.named_parameters()}
    log = trainer.g_step()
    assert all(torch.equal(v, d1[k]) for k, v in disc.named_parameters()), "D moved during a G step"
    unchanged = [k for k, v in policy.named_parameters() if torch.equal(v, g0[k])]
    assert not unchanged, f"G parameters that did not train: {unchanged}"
    assert any(not torch.equal(v, roll0[k]) for k, v in trainer.rollout_policy.copy.named_parameters())
    assert {"reward_mean", "pg_loss", "tf_nll", "rollout_s", "baseline"} <= set(log)


def resume_round_trip(make, rounds: int = 4, stop: int = 2) -> list[dict]:
    """Train ``make()`` for ``rounds`` rounds straight, and a second one for ``stop`` rounds, then a third from
    its saved state (weights, trainer state, RNG) for the rest; assert the last rounds' metrics (timings aside) and
    G's weights are identical. Returns the resumed rounds' logs."""
    torch.manual_seed(5)
    straight = make()
    logs_a = [straight.run_round() for _ in range(rounds)]
    torch.manual_seed(5)
    first = make()
    [first.run_round() for _ in range(stop)]
    state, rng = first.state_dict(), torch.get_rng_state()
    second = make()
    second.policy.load_state_dict({k: v.clone() for k, v in first.policy.state_dict().items()})
    second.disc.load_state_dict({k: v.clone() for k, v in first.disc.state_dict().items()})
    if first.rollout_policy is not None:
        second.rollout_policy.load_state_dict(first.rollout_policy.state_dict())
    second.load_state_dict(state)
    torch.set_rng_state(rng)
    logs_b = [second.run_round() for _ in range(rounds - stop)]
    strip = lambda log: {k: v for k, v in log.items() if not k.endswith("_s")}  # noqa: E731
    assert [strip(a) for a in logs_a[stop:]] == [strip(b) for b in logs_b]
    for (k, v), w in zip(straight.policy.state_dict().items(), second.policy.state_dict().values()):
        assert torch.equal(v, w), k
    return logs_b


def test_trainer_state_round_trip_continues_identically():
    def make():
        policy = tiny_policy()
        torch.manual_seed(1)
        disc = BagDisc(V)
        cfg = AdversarialConfig(rounds=4, reward="rollout", rollout_n=2, batch_size=8, baseline="moving_average")
        return AdversarialTrainer(policy, disc, cfg, d_loss=bag_loss, human=PairStream(pairs(), PAD, 8, 0), seed=3)

    resume_round_trip(make)


def test_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="adversarial.reward"):
        from_dict(AdversarialConfig, {"reward": "bleu"}).validate()
    with pytest.raises(ConfigError, match="rollout_rate"):
        from_dict(AdversarialConfig, {"rollout_rate": 1.5})


# ---------------------------------------------------------------------------------------------------------------
# train_adversarial on a run directory: outputs, resume equivalence, Ctrl-C

SENTENCES = ["hi there how are you", "i am fine thanks and you", "what do you do for work", "i teach math at a school",
             "where do you live now", "in a small town by the sea", "do you like music", "yes i play the guitar",
             "what is your favorite food", "i love pizza with cheese", "do you have a pet", "a cat named tom"]


@pytest.fixture(scope="module")
def mle_run(tmp_path_factory):
    """A tiny 'MLE run': tokenizer/ + generator/ (untrained weights are enough for the mechanics) + its data."""
    from seqgan.data import DataConfig, prepare_data, train_tokenizer

    root = tmp_path_factory.mktemp("adv")
    data = root / "dialogues.jsonl"
    g = torch.Generator().manual_seed(0)
    with open(data, "w") as handle:
        for _ in range(40):
            turns = [SENTENCES[int(i)] for i in torch.randint(0, len(SENTENCES), (4,), generator=g)]
            handle.write(json.dumps({"turns": turns}) + "\n")
    dcfg = DataConfig(source=str(data), vocab_size=150, min_frequency=1, max_reply_tokens=8, max_context_tokens=24,
                      valid_fraction=0.1, test_fraction=0.1)
    splits = prepare_data(dcfg)
    tok = train_tokenizer(list(splits.train["reply"]) + [t for c in splits.train["context"] for t in c], 150, 1)
    run = root / "run"
    tok.save_pretrained(str(run / "tokenizer"))
    torch.manual_seed(0)
    gcfg = GeneratorConfig(d_model=32, encoder_layers=1, decoder_layers=1, attention_heads=2, ffn_dim=64,
                           dropout=0.1, max_positions=32)
    Seq2SeqPolicy.build(gcfg, len(tok), tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, 8).save_pretrained(
        run / "generator")
    return run, dcfg


def _run_cfg(dcfg, rounds, **adv):
    """The real run config: tiny CNN discriminator, a few D pretraining steps, the adversarial section."""
    from seqgan.models.discriminator import DiscriminatorConfig
    from seqgan.chatbot import ChatbotConfig
    from seqgan.adversarial.d_pretrain import DPretrainConfig

    base = dict(rounds=rounds, d_steps=1, g_steps=1, reward="rollout", rollout_n=2, batch_size=8, eval_every=2,
                save_every=1, eval_pairs=8)
    base.update(adv)
    return ChatbotConfig(
        data=dcfg, adversarial=AdversarialConfig(**base),
        discriminator=DiscriminatorConfig(embed_dim=16, filter_sizes=[1, 2, 3], num_filters=[8, 8, 8]),
        d_pretrain=DPretrainConfig(steps=4, batch_size=8, eval_batches=1),
    )


def _copy_run(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def _adv_lines(run):
    from seqgan.adversarial.stage import read_adversarial_metrics

    return [{k: v for k, v in rec.items() if not k.endswith("_s")} for rec in read_adversarial_metrics(run)]


@pytest.mark.slow
def test_train_adversarial_writes_outputs_and_resume_is_exact(mle_run, tmp_path):
    from seqgan.adversarial.stage import train_adversarial

    run, dcfg = mle_run
    keep = dict(save_total_limit=2, best_metric="valid_nll")
    straight = _copy_run(run, tmp_path / "straight")
    out = train_adversarial(_run_cfg(dcfg, 4, **keep), straight)
    assert out == straight / "generator_adv"
    for name in ("generator_adv", "discriminator", "discriminator_adv", "adversarial.png", "metrics.jsonl",
                 "checkpoints/adversarial/state.pt"):
        assert (straight / name).exists(), name
    mle = Seq2SeqPolicy.from_pretrained(straight / "generator")
    adv = Seq2SeqPolicy.from_pretrained(straight / "generator_adv")
    original = Seq2SeqPolicy.from_pretrained(run / "generator")
    assert all(torch.equal(a, b) for a, b in zip(mle.state_dict().values(), original.state_dict().values()))
    assert any(not torch.equal(a, b) for a, b in zip(mle.state_dict().values(), adv.state_dict().values()))
    lines = _adv_lines(straight)
    assert [r["round"] for r in lines] == [0, 1, 2, 3, 4]
    assert {"d_acc_real", "d_acc_fake", "d_acc_mismatch", "reward_mean", "baseline", "tf_nll"} <= set(lines[1])
    assert "valid_nll" in lines[2] and "valid_nll" in lines[4]

    resumed = _copy_run(run, tmp_path / "resumed")
    train_adversarial(_run_cfg(dcfg, 2, **keep), resumed)
    train_adversarial(_run_cfg(dcfg, 4, **keep), resumed, resume=True)
    assert _adv_lines(resumed) == lines
    adv2 = Seq2SeqPolicy.from_pretrained(resumed / "generator_adv")
    for (k, a), b in zip(adv.state_dict().items(), adv2.state_dict().values()):
        assert torch.equal(a, b), k

    # the newest two rounds are kept beside checkpoints/adversarial and resume exactly; the best round is kept
    assert sorted(p.name for p in (straight / "checkpoints").iterdir()) == ["adversarial", "round-000003",
                                                                           "round-000004"]
    best = min((r for r in lines if "valid_nll" in r), key=lambda r: r["valid_nll"])
    info = json.loads((straight / "generator_best" / "best.json").read_text())
    assert (info["stage"], info["round"], info["value"]) == ("adversarial", best["round"], best["valid_nll"])
    again = _copy_run(straight, tmp_path / "again")
    train_adversarial(_run_cfg(dcfg, 4, **keep), again, resume=again / "checkpoints" / "round-000003")
    assert _adv_lines(again) == lines
    adv3 = Seq2SeqPolicy.from_pretrained(again / "generator_adv")
    assert all(torch.equal(a, b) for a, b in zip(adv.state_dict().values(), adv3.state_dict().values()))


def test_the_stage_is_tracked_live_and_a_resume_replaces_what_came_after_its_checkpoint(mle_run, tmp_path):
    pytest.importorskip("tensorboard", reason="reads TensorBoard files: pip install 'seqgan[dev]'")
    from seqgan.adversarial.stage import read_adversarial_metrics, train_adversarial
    from seqgan.tracking import TrackingConfig
    from tb_events import events, scalars, texts

    run = _copy_run(mle_run[0], tmp_path / "run")
    cfg = _run_cfg(mle_run[1], 3, eval_every=1, save_total_limit=3)
    cfg.tracking = TrackingConfig(report_to=["tensorboard"])
    train_adversarial(cfg, run)
    train_adversarial(cfg, run, resume=run / "checkpoints" / "round-000001")  # rounds 2 and 3 logged again
    lines = read_adversarial_metrics(run)
    reader = events(run, "adversarial")
    assert scalars(reader, "adversarial/valid_nll") == [(r["round"], pytest.approx(r["valid_nll"])) for r in lines]
    assert scalars(reader, "adversarial/reward_mean") == [(r["round"], pytest.approx(r["reward_mean"]))
                                                          for r in lines[1:]]
    samples = texts(reader, "adversarial/samples")  # G's greedy replies at every evaluation, rounds 0 to 3
    assert len(samples) == 4 and all(s.startswith("| context | reply | human |") for s in samples)
    d = events(run, "d_pretrain")
    steps = cfg.d_pretrain.steps
    assert [s for s, _ in scalars(d, "d_pretrain/train_d_loss")] == list(range(1, steps))
    assert [s for s, _ in scalars(d, "d_pretrain/valid_acc_real")] == [steps]


def test_make_update_unscales_before_clipping_and_skips_inf_steps_with_a_grad_scaler():
    """fp16's loss scaling: the update equals the unscaled one (clipping sees the true gradients) and a step with
    an inf gradient is skipped while the scale drops (torch's GradScaler, on the CPU here)."""
    import copy

    from seqgan.adversarial.routes import make_update

    torch.manual_seed(0)
    ref = torch.nn.Linear(4, 3)
    amp, initial = copy.deepcopy(ref), copy.deepcopy(ref)
    x = torch.randn(8, 4)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 16)
    update_ref = make_update(torch.optim.SGD(ref.parameters(), lr=0.1), list(ref.parameters()), max_grad_norm=0.01)
    update_amp = make_update(torch.optim.SGD(amp.parameters(), lr=0.1), list(amp.parameters()), max_grad_norm=0.01,
                             backward=lambda loss: scaler.scale(loss).backward(), scaler=scaler)
    update_ref((ref(x) ** 2).sum())
    update_amp((amp(x) ** 2).sum())
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(ref.parameters(), amp.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(amp.parameters(), initial.parameters()))  # clipped, not zero
    before = [p.detach().clone() for p in amp.parameters()]
    update_amp(amp(x).sum() * float("inf"))
    assert all(torch.equal(a, b) for a, b in zip(before, amp.parameters()))  # skipped
    assert scaler.get_scale() == 2.0 ** 15


def test_trainer_steps_through_a_grad_scaler():
    policy = tiny_policy()
    start = [p.detach().clone() for p in policy.parameters()]
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)
    cfg = AdversarialConfig(rounds=2, d_steps=1, g_steps=1, reward="sequence", batch_size=8, g_lr=1e-2)
    trainer = AdversarialTrainer(policy, BagDisc(V), cfg, bag_loss, PairStream(pairs(), PAD, 8, 0),
                                 backward=lambda loss: scaler.scale(loss).backward(), scaler=scaler)
    logs = [trainer.run_round() for _ in range(cfg.rounds)]
    assert all(math.isfinite(v) for log in logs for v in log.values())
    assert any(not torch.equal(a, b) for a, b in zip(start, policy.parameters()))
    assert scaler.get_scale() == 2.0 ** 10  # no inf gradient: no step skipped


def test_bf16_mixed_precision_runs_each_round_under_autocast(mle_run, tmp_path, monkeypatch):
    from seqgan.adversarial.stage import read_adversarial_metrics, train_adversarial
    from seqgan.runs.devices import make_accelerator

    original = AdversarialTrainer.run_round
    seen, dtypes = [], []

    def spy(self):
        seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        hook = self.policy.model.get_output_embeddings().register_forward_hook(
            lambda module, args, out: dtypes.append(out.dtype))
        try:
            return original(self)
        finally:
            hook.remove()

    monkeypatch.setattr(AdversarialTrainer, "run_round", spy)
    run = _copy_run(mle_run[0], tmp_path / "run")
    try:
        train_adversarial(_run_cfg(mle_run[1], 2, mixed_precision="bf16"), run)
    finally:
        make_accelerator("no")  # the rest of the suite runs in fp32
    assert seen == [(True, torch.bfloat16)] * 2 and torch.bfloat16 in dtypes
    lines = read_adversarial_metrics(run)
    assert [r["round"] for r in lines] == [0, 1, 2]
    assert all(math.isfinite(v) for r in lines for v in r.values() if isinstance(v, float))
    adv, mle = (Seq2SeqPolicy.from_pretrained(run / name) for name in ("generator_adv", "generator"))
    assert any(not torch.equal(a, b) for a, b in zip(adv.state_dict().values(), mle.state_dict().values()))


def interrupt_at_round(monkeypatch, stop: int):
    """Make ``AdversarialTrainer.run_round`` raise KeyboardInterrupt (as Ctrl-C would) once ``stop`` rounds are
    done; returns the original method, for putting it back."""
    from seqgan.adversarial.trainer import AdversarialTrainer

    original = AdversarialTrainer.run_round

    def interrupted(self):
        if self.round == stop:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(AdversarialTrainer, "run_round", interrupted)
    return original


def test_ctrl_c_saves_a_checkpoint_that_resumes(mle_run, tmp_path, monkeypatch):
    from seqgan.adversarial import stage as adv_mod
    from seqgan.adversarial.trainer import AdversarialTrainer

    run = _copy_run(mle_run[0], tmp_path / "run")
    original = interrupt_at_round(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        adv_mod.train_adversarial(_run_cfg(mle_run[1], 3, save_every=0), run)
    state = torch.load(run / "checkpoints/adversarial/state.pt", weights_only=True)
    assert state["trainer"]["round"] == 1
    monkeypatch.setattr(AdversarialTrainer, "run_round", original)
    adv_mod.train_adversarial(_run_cfg(mle_run[1], 3, save_every=0), run, resume=True)
    assert [r["round"] for r in adv_mod.read_adversarial_metrics(run)] == [0, 1, 2, 3]


def test_train_command_config_takes_only_adversarial_sections_from_the_recipe(tmp_path):
    from seqgan.config import save_config
    from seqgan.errors import CheckpointError
    from seqgan.adversarial.cli import load_train_config
    from seqgan.chatbot import ChatbotConfig

    run = tmp_path / "run"
    cfg = ChatbotConfig()
    cfg.generator.d_model = 64
    cfg.generator.ffn_dim = 128
    save_config(cfg, run / "config.yaml")
    (tmp_path / "base.yaml").write_text("generator:\n  d_model: 256\nadversarial:\n  rounds: 7\n")
    recipe = tmp_path / "adv.yaml"
    recipe.write_text("base: base.yaml\nadversarial:\n  reward: prefix\ndiscriminator:\n  head: split\n")
    got = load_train_config(run, str(recipe), ["adversarial.g_lr=1e-5"])
    assert got.generator.d_model == 64  # the run's own generator, not the recipe's
    assert (got.adversarial.reward, got.adversarial.rounds, got.adversarial.g_lr) == ("prefix", 7, 1e-5)
    assert got.discriminator.head == "split"
    with pytest.raises(CheckpointError, match="no config.yaml"):
        load_train_config(tmp_path / "nowhere", None, [])


def test_a_saved_discriminator_with_other_settings_is_named_in_a_warning(mle_run, tmp_path, caplog):
    from seqgan.adversarial.stage import train_adversarial

    run = _copy_run(mle_run[0], tmp_path / "run")
    train_adversarial(_run_cfg(mle_run[1], 0, save_every=0), run)  # pretrains and saves discriminator/
    cfg = _run_cfg(mle_run[1], 0, save_every=0)
    cfg.discriminator.dropout = 0.3
    with caplog.at_level("WARNING", logger="seqgan.adversarial.stage"):
        train_adversarial(cfg, run)
    assert "dropout" in caplog.text and "(config: 0.3)" in caplog.text
