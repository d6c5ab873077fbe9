"""One judge for every model of a comparison: a fresh evaluator D, trained once on human replies against the
replies of *all* the compared models (at every temperature of the comparison, in equal numbers), then asked about
each model on held-out test pairs.

Why one judge: a separate evaluator per model puts each model's AdverSuc at its own evaluator's threshold, so two
figures measured on two different scales get compared. One judge ranks every model's replies on one scale:

- **AUC** (human vs that model's replies, at that temperature) with a bootstrap 95 % interval over the test pairs:
  0.5 = the judge cannot tell them from human replies; lower is better. Free of any threshold.
- **AdverSuc** (Li et al. 2017) at the judge's one threshold (probability 0.5 of a judge trained with both classes
  weighted alike): the share of the model's replies judged human.
- The difference of two models' AUCs with a *paired* bootstrap interval (the same resampled test pairs for both),
  which says whether a gain is more than the test set's noise.

Training pairs (the caller passes pairs that neither the generators nor the adversarial D trained on, e.g. the
valid split) and test pairs have disjoint contexts. Every model replies to the same contexts with the same sampling
seed. The judge is any D design (``DiscriminatorConfig``); ``encoder: generator`` starts from ``init_policy``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from seqgan.data import iter_batches, pad_rows
from seqgan.models.discriminator import DiscriminatorConfig
from seqgan.models.discriminators import build_discriminator, optimizer_groups
from seqgan.models.policy import Context, Policy, Replies, eval_mode
from seqgan.objectives.discriminator_loss import LossWeights, discriminator_loss

#: below this balanced accuracy the judge cannot tell the models' replies from human ones
MIN_JUDGE_ACC = 0.70


@dataclass
class ReplySet:
    """Token ids (lists, no padding) of one reply per context row: human replies, or one model's at a temperature."""

    name: str
    temperature: float | None
    rows: list[list[int]]


@dataclass
class JudgeReport:
    """What the judge says; keys are (model, temperature).

    auc:          (auc, low, high) of human vs that model's test replies, bootstrap 95 % interval.
    adversuc:     share of that model's test replies judged human (probability > 0.5).
    acc_human:    share of the human test replies judged human (the judge's threshold, read from the other side).
    auc_diff:     model -> (AUC(model) - AUC(reference model), low, high) at ``temperature``, paired bootstrap.
    """

    temperature: float
    reference: str
    auc: dict[tuple[str, float], tuple[float, float, float]] = field(default_factory=dict)
    adversuc: dict[tuple[str, float], float] = field(default_factory=dict)
    acc_human: float = float("nan")
    auc_diff: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    num_train: int = 0
    num_test: int = 0

    def balanced_accuracy(self, model: str, temperature: float | None = None) -> float:
        """Balanced accuracy of the judge on human vs that model's replies."""
        t = self.temperature if temperature is None else temperature
        return 0.5 * (self.acc_human + 1.0 - self.adversuc[(model, t)])


@torch.no_grad()
def sample_reply_rows(policy: Policy, dataset, pad_id: int, batch_size: int, device, temperature: float,
                      seed: int) -> list[list[int]]:
    """``policy``'s reply to every context of the encoded ``dataset`` (in row order), sampled at ``temperature``
    with the global RNG seeded by ``seed`` (restored after), as lists of token ids (eos included)."""
    rows: list[list[int]] = []
    with torch.random.fork_rng(devices=[]), eval_mode(policy):
        torch.manual_seed(seed)
        for batch in iter_batches(dataset, pad_id, batch_size):
            context = Context(batch["context_ids"].to(device), batch["context_mask"].to(device))
            out = policy.sample(context, temperature=temperature)
            rows += [[int(t) for t, m in zip(r, rm) if m] for r, rm in zip(out.ids.tolist(), out.mask.tolist())]
    return rows


def _replies(rows: list[list[int]], pad_id: int, device) -> Replies:
    ids, mask = pad_rows([r if r else [pad_id] for r in rows], pad_id)
    mask[[i for i, r in enumerate(rows) if not r]] = 0
    return Replies(ids.to(device), mask.to(device))


def _context(rows: list[list[int]], pad_id: int, device) -> Context:
    ids, mask = pad_rows(rows, pad_id)
    return Context(ids.to(device), mask.to(device))


def train_judge(cfg: DiscriminatorConfig, contexts: list[list[int]], human: list[list[int]],
                generated: list[ReplySet], *, vocab_size: int, pad_id: int, steps: int, batch_size: int, lr: float,
                seed: int, device="cpu", tokenizer=None, init_policy=None):
    """A fresh judge of design ``cfg`` trained ``steps`` updates on human vs generated replies to ``contexts``.

    Each update draws ``batch_size`` context rows; each row gives its human reply (label human) and the reply of a
    reply set drawn uniformly from ``generated`` (label generated), so every model and temperature weighs alike and
    the two classes weigh alike (no mismatch term: the judge asks "human or machine?"). Seeded; the global RNG state
    is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        judge = build_discriminator(cfg, vocab_size, pad_id, init_policy, tokenizer).to(device)
        optimizer = torch.optim.Adam(optimizer_groups(judge, lr))
        weights = LossWeights(weight_real=1.0, weight_fake=1.0, weight_mismatch=0.0)
        order = torch.Generator().manual_seed(seed)
        judge.train()
        n = len(contexts)
        for _ in range(steps):
            rows = torch.randint(n, (min(batch_size, n),), generator=order).tolist()
            sets = torch.randint(len(generated), (len(rows),), generator=order).tolist()
            loss, _ = discriminator_loss(
                judge, _context([contexts[i] for i in rows], pad_id, device),
                _replies([human[i] for i in rows], pad_id, device),
                _replies([generated[k].rows[i] for i, k in zip(rows, sets)], pad_id, device), weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    judge.eval()
    return judge


@torch.no_grad()
def judge_probabilities(judge, contexts: list[list[int]], replies: list[list[int]], pad_id: int,
                        batch_size: int = 256, device="cpu") -> torch.Tensor:
    """(N,) the judge's probability that each reply is a human reply to its context (CPU, float64)."""
    out = []
    for start in range(0, len(contexts), batch_size):
        ctx = _context(contexts[start:start + batch_size], pad_id, device)
        rep = _replies(replies[start:start + batch_size], pad_id, device)
        out.append(judge.reward(ctx, rep.ids, rep.mask).double().cpu())
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)


def ranking_auc(pos: torch.Tensor, neg: torch.Tensor) -> float:
    """P(a random positive scores above a random negative), ties counted half (scikit-learn's ROC AUC): how well
    a judge ranks human above generated replies whatever its threshold (0.5: it cannot)."""
    from sklearn.metrics import roc_auc_score

    if not len(pos) or not len(neg):
        return float("nan")
    scores = torch.cat([torch.as_tensor(pos), torch.as_tensor(neg)]).double().numpy()
    return float(roc_auc_score([1] * len(pos) + [0] * len(neg), scores))


def _auc_many(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Row-wise ROC AUC of (R, n) positive and (R, m) negative scores, ties counted half (Mann-Whitney U)."""
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([pos, neg], axis=1), axis=1)  # average ranks over ties
    n, m = pos.shape[1], neg.shape[1]
    return (ranks[:, :n].sum(axis=1) - n * (n + 1) / 2.0) / (n * m)


def bootstrap_auc(human: torch.Tensor, generated: dict[str, torch.Tensor], reference: str | None = None,
                  n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[dict, dict]:
    """AUC of ``human`` (N,) vs each ``generated[name]`` (N,) scores with a percentile bootstrap interval; the
    rows are paired (row i of each answers test context i), so each resample draws N context rows and keeps every
    score of those rows. With ``reference``, also each model's AUC minus the reference's on the same resamples.

    Returns ({name: (auc, low, high)}, {name: (diff, low, high)} for names other than ``reference``)."""
    rng = np.random.default_rng(seed)
    h = human.double().numpy()
    n = len(h)
    idx = rng.integers(0, n, size=(n_boot, n)) if n else np.zeros((0, 0), dtype=int)
    alpha = (1.0 - level) / 2.0
    boot = {}
    out = {}
    for name, g in generated.items():
        g = g.double().numpy()
        boot[name] = _auc_many(h[idx], g[idx]) if n else np.zeros(0)
        point = ranking_auc(human, torch.as_tensor(g))
        lo, hi = (np.quantile(boot[name], [alpha, 1 - alpha]) if n_boot else (point, point))
        out[name] = (point, float(lo), float(hi))
    diffs = {}
    if reference is not None:
        for name in generated:
            if name == reference:
                continue
            d = boot[name] - boot[reference]
            point = out[name][0] - out[reference][0]
            lo, hi = np.quantile(d, [alpha, 1 - alpha]) if n_boot else (point, point)
            diffs[name] = (point, float(lo), float(hi))
    return out, diffs


def judge_models(models: dict[str, Policy], train_pairs, test_pairs, cfg: DiscriminatorConfig, *,
                 temperatures: list[float], temperature: float = 1.0, steps: int = 300, batch_size: int = 64,
                 lr: float = 1e-3, seed: int = 0, n_boot: int = 1000, device="cpu", tokenizer=None,
                 init_policy=None, sample_batch_size: int = 64,
                 test_replies: dict[tuple[str, float], list[list[int]]] | None = None) -> JudgeReport:
    """Train one judge on ``train_pairs`` (human vs every model at every temperature of ``temperatures`` plus
    ``temperature``) and report each model on ``test_pairs`` (encoded datasets with ``context_ids`` /
    ``reply_ids``). AUC differences are against the first model of ``models`` at ``temperature``.
    ``test_replies``: (model, temperature) -> the model's test replies when the caller has sampled them already
    (:func:`sample_reply_rows` with ``seed``), else they are sampled here."""
    first = next(iter(models.values()))
    pad_id, vocab = first.pad_id, first.vocab_size
    temps = sorted(set(float(t) for t in temperatures) | {float(temperature)})
    train_ctx, train_human = list(train_pairs["context_ids"]), list(train_pairs["reply_ids"])
    test_ctx, test_human = list(test_pairs["context_ids"]), list(test_pairs["reply_ids"])
    train_sets, test_sets = [], {}
    for name, policy in models.items():
        for t in temps:
            train_sets.append(ReplySet(name, t, sample_reply_rows(policy, train_pairs, pad_id, sample_batch_size,
                                                                  device, t, seed + 1)))
            given = (test_replies or {}).get((name, t))
            test_sets[(name, t)] = given if given is not None else sample_reply_rows(
                policy, test_pairs, pad_id, sample_batch_size, device, t, seed)
    judge = train_judge(cfg, train_ctx, train_human, train_sets, vocab_size=vocab, pad_id=pad_id, steps=steps,
                        batch_size=batch_size, lr=lr, seed=seed, device=device, tokenizer=tokenizer,
                        init_policy=init_policy if init_policy is not None else first)
    p_human = judge_probabilities(judge, test_ctx, test_human, pad_id, device=device)
    p_gen = {key: judge_probabilities(judge, test_ctx, rows, pad_id, device=device) for key, rows in test_sets.items()}
    report = JudgeReport(temperature=float(temperature), reference=next(iter(models)), num_train=len(train_ctx),
                         num_test=len(test_ctx))
    report.acc_human = float((p_human > 0.5).double().mean()) if len(p_human) else float("nan")
    for key, p in p_gen.items():
        report.adversuc[key] = float((p > 0.5).double().mean()) if len(p) else float("nan")
    aucs, _ = bootstrap_auc(p_human, {f"{k[0]}@{k[1]:g}": v for k, v in p_gen.items()}, n_boot=n_boot, seed=seed)
    for (name, t) in p_gen:
        report.auc[(name, t)] = aucs[f"{name}@{t:g}"]
    at_t = {name: p_gen[(name, float(temperature))] for name in models}
    _, report.auc_diff = bootstrap_auc(p_human, at_t, reference=report.reference, n_boot=n_boot, seed=seed)
    return report
