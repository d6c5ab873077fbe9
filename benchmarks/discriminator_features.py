"""What limits the sentence-encoder D (``encoder: minilm``): its features, its head or its data? An ablation.

    python benchmarks/discriminator_features.py RUN_DIR [--pairs 2048] [--human-pairs 8192] [--threads 1]
        [--rows heads,match,weights,evaluator] [--cross-encoder] [--features CACHE.pt]

The frozen encoder is run once over every text (the contexts and human replies of ``--human-pairs`` training
pairs, the run's generator's replies at temperature 1 to the first ``--pairs`` of them, and 512 held-out valid
pairs with fresh replies), keeping the mean-pooled output of *every* layer. Heads are then trained on those cached
features with the D-pretraining loss (human -> real 1, generated -> fake 0.5, human reply under
``--mismatch-negatives`` wrong contexts -> fake 0.5) and judged on the held-out pairs. Rows vary one thing each
against the recipe's D (last layer, 2,048 human pairs, MLP 256, dropout 0.1); ``--cross-encoder`` adds one where
the encoder reads context and reply as one input:

- more human pairs for the human and mismatch terms (they need no generator samples, only embeddings);
- more encoder layers in the features (lower layers keep more of the surface form);
- a wider head, more dropout, weight decay, more epochs;
- (group ``match``) better context matching: the context's last turn pooled apart, and an attention block
  between the token states of context and reply (ESIM-style);
- (group ``weights``) the human term's loss weight, which moves the head along its trade-off;
- (group ``evaluator``) the AdverSuc evaluator's objective (human vs generated only): loss weights and layers.

Besides accuracies at the head's own threshold (logit 0), the table gives two threshold-free numbers: the AUC of
human vs generated and of human vs mismatched, and the generated / mismatched accuracies at the threshold that
accepts 80 % of held-out human pairs. If a row raises the AUCs, the features or the head gained information; if it
only moves accuracy from one term to another, it moved the threshold.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seqgan.offline import enable_offline  # noqa: E402

enable_offline()

HELDOUT = 512


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--pairs", type=int, default=2048, help="training pairs with a generated reply")
    parser.add_argument("--human-pairs", type=int, default=8192, help="training pairs for the human/mismatch terms")
    parser.add_argument("--mismatch-negatives", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=10, help="passes over the generated replies")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--features", type=Path, default=None, help="cache file of the encoder features")
    parser.add_argument("--cross-encoder", action="store_true",
                        help="add a row where the frozen encoder reads context and reply as one input (one encoder "
                             "pass per pair, so one wrong context per human reply)")
    parser.add_argument("--rows", default="heads,match,weights,evaluator",
                        help="comma-separated groups: heads (the pooled-feature heads), match (last turn and "
                             "token attention), weights (the human term's weight, layers 2 + 4 + 6), evaluator "
                             "(the AdverSuc evaluator's loss weights and layers)")
    args = parser.parse_args()
    if args.human_pairs < args.pairs:
        parser.error("--human-pairs must be >= --pairs (the generated replies answer the first --pairs contexts)")

    import torch

    torch.set_num_threads(args.threads)
    feats = _features(args)
    base = dict(layers=(6,), human=args.pairs, hidden=256, dropout=0.1, weight_decay=0.0, epochs=args.epochs)
    rows = [("the recipe's D: last layer, MLP 256, dropout 0.1", {}),
            (f"{args.human_pairs:,} human pairs", dict(human=args.human_pairs)),
            ("layers 3 + 6", dict(layers=(3, 6))),
            (f"layers 2 + 4 + 6, {args.human_pairs:,} human pairs", dict(layers=(2, 4, 6), human=args.human_pairs)),
            ("MLP 1024, dropout 0.3", dict(hidden=1024, dropout=0.3)),
            ("dropout 0.3, 3x the epochs", dict(dropout=0.3, epochs=3 * args.epochs)),
            ("weight decay 0.1, 2x the epochs", dict(weight_decay=0.1, epochs=2 * args.epochs))]
    print("| head / features | held-out acc. human | generated | mismatched | AUC human vs generated | "
          "AUC human vs mismatched | at 80 % human accepted: generated | mismatched | head s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, change in rows if "heads" in args.rows else []:
        t0 = time.perf_counter()
        _print_row(name, _train_head(feats, args, **{**base, **change}), time.perf_counter() - t0)
    match_rows = [("+ the context's last turn pooled apart (the message the reply answers)",
                   dict(human=args.pairs, last_turn=True, attention=False)),
                  ("+ attention between context and reply token states (ESIM-style, width 128)",
                   dict(human=args.pairs, last_turn=False, attention=True)),
                  (f"last turn + attention, {args.human_pairs:,} human pairs",
                   dict(human=args.human_pairs, last_turn=True, attention=True))]
    for name, kwargs in match_rows if "match" in args.rows else []:
        t0 = time.perf_counter()
        _print_row(name, _train_match_head(feats, args, **kwargs), time.perf_counter() - t0)
    for weight in (1.0, 1.3, 1.6, 2.0) if "weights" in args.rows else []:
        t0 = time.perf_counter()
        r = _train_head(feats, args, **{**base, "layers": (2, 4, 6), "weights": (weight, 0.5, 0.5)})
        _print_row(f"layers 2 + 4 + 6, human-term weight {weight:g}", r, time.perf_counter() - t0)
    if "evaluator" in args.rows:
        print()
        print("| AdverSuc evaluator (human vs generated only) | held-out acc. human | generated | balanced | "
              "AUC human vs generated | head s |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, change in (("loss weights 1 / 0.5, last layer", dict(weights=(1.0, 0.5, 0.0))),
                             ("loss weights 1 / 1, last layer", dict(weights=(1.0, 1.0, 0.0))),
                             ("loss weights 1 / 1, layers 2 + 4 + 6", dict(weights=(1.0, 1.0, 0.0), layers=(2, 4, 6)))):
            t0 = time.perf_counter()
            r = _train_head(feats, args, **{**base, **change})
            print(f"| {name} | {r['human']:.3f} | {r['generated']:.3f} | {(r['human'] + r['generated']) / 2:.3f} | "
                  f"{r['auc_gen']:.3f} | {time.perf_counter() - t0:.0f} |", flush=True)
    if args.cross_encoder:
        t0 = time.perf_counter()
        r = _cross_encoder_row(args)
        _print_row(f"frozen encoder reading context and reply together, last layer, MLP 256 (1 wrong context per "
                   f"reply; {r['embed_s']:.0f} s of encoding)", r, time.perf_counter() - t0 - r['embed_s'])


def _print_row(name: str, r: dict, seconds: float) -> None:
    print(f"| {name} | {r['human']:.3f} | {r['generated']:.3f} | {r['mismatch']:.3f} | {r['auc_gen']:.3f} | "
          f"{r['auc_mis']:.3f} | {r['gen_at80']:.3f} | {r['mis_at80']:.3f} | {seconds:.0f} |", flush=True)


def _texts(args) -> tuple[dict, object]:
    """The benchmark's texts: contexts ``c`` and human replies ``h`` of ``--human-pairs`` training pairs, G's
    replies ``g`` to the first ``--pairs`` of them, and ``hc`` / ``hh`` / ``hg`` for the held-out valid pairs;
    and the (untrained) sentence-encoder D whose detokenisation and encoder they use."""
    import torch

    from seqgan.chatbot import load_run
    from seqgan.data import encode_pairs, make_loader, prepare_data, to_context, to_replies
    from seqgan.models.discriminator import DiscriminatorConfig
    from seqgan.models.policy import eval_mode
    from seqgan.models.sentence_discriminator import SentenceEncoderDiscriminator

    policy, tokenizer, cfg = load_run(args.run_dir)
    disc = SentenceEncoderDiscriminator(DiscriminatorConfig(encoder="minilm"), tokenizer)
    splits = prepare_data(cfg.data)

    def texts(split, n, seed):
        torch.manual_seed(seed)
        pairs = encode_pairs(split.select(range(min(n, len(split)))), tokenizer, cfg.data)
        c, h, g = [], [], []
        with torch.no_grad(), eval_mode(policy):
            for i, batch in enumerate(make_loader(pairs, tokenizer.pad_token_id, 64, shuffle=False)):
                context, human = to_context(batch), to_replies(batch)
                c += disc.texts(context.ids, context.mask, context=True)
                h += disc.texts(human.ids, human.mask, context=False)
                if 64 * i < args.pairs:
                    out = policy.sample(context)
                    g += disc.texts(out.ids, out.mask, context=False)
        return c, h, g

    c, h, g = texts(splits.train, args.human_pairs, args.seed)
    hc, hh, hg = texts(splits.valid, HELDOUT, args.seed + 1)
    return {"c": c, "h": h, "g": g[:args.pairs], "hc": hc, "hh": hh, "hg": hg[:len(hc)]}, disc


def _features(args) -> dict:
    """Per-layer mean-pooled encoder features (N, layers + 1, d) of every distinct text, and index tensors."""
    import torch

    key = [str(args.run_dir.resolve()), args.pairs, args.human_pairs, args.seed]
    if args.features is not None and args.features.is_file():
        saved = torch.load(args.features, weights_only=True)
        if saved.pop("key") == key:
            return saved
    t0 = time.perf_counter()
    sets, disc = _texts(args)
    c, h, g, hc, hh, hg = (sets[k] for k in ("c", "h", "g", "hc", "hh", "hg"))
    sep = f" {disc.text_tokenizer.sep_token} "
    lc, lhc = [t.split(sep)[-1] for t in c], [t.split(sep)[-1] for t in hc]  # the message the reply answers
    unique = list(dict.fromkeys(c + h + g + hc + hh + hg + lc + lhc))
    pooled, tokens, lengths = _pooled(disc, unique, keep_tokens=True)
    index = {t: i for i, t in enumerate(unique)}

    def ix(ts):
        return torch.tensor([index[t] for t in ts])

    out = {"features": pooled, "tokens": tokens, "lengths": lengths, "c": ix(c), "h": ix(h), "g": ix(g),
           "hc": ix(hc), "hh": ix(hh), "hg": ix(hg), "lc": ix(lc), "lhc": ix(lhc)}
    print(f"{args.run_dir}: {len(unique):,} distinct texts embedded with every layer in "
          f"{time.perf_counter() - t0:.0f} s ({args.threads} threads)", flush=True)
    if args.features is not None:
        torch.save({**out, "key": key}, args.features)
    return out


def _pooled(disc, texts: list[str], pairs: list[str] | None = None, keep_tokens: bool = False):
    """(N, layers + 1, d) fp16 mean-pooled states of every encoder layer for ``texts`` (with ``pairs``: the
    encoder reads text i and pair i as one input, separated by its own [SEP]). With ``keep_tokens`` also the
    last layer's token states of every text, flat (sum of lengths, d) fp16, and the (N,) lengths."""
    import torch

    out, tokens, lengths = [], [], []
    with torch.no_grad():
        for start in range(0, len(texts), 128):
            second = None if pairs is None else pairs[start:start + 128]
            enc = disc.text_tokenizer(texts[start:start + 128], second, padding=True, truncation=True,
                                      max_length=128 if pairs is None else 192, return_tensors="pt")
            states = disc.encoder(**enc, output_hidden_states=True).hidden_states  # layers + 1 of (n, L, d)
            m = enc["attention_mask"].unsqueeze(-1).float()
            out.append(torch.stack([(s * m).sum(1) / m.sum(1) for s in states], 1).half())
            if keep_tokens:
                keep = enc["attention_mask"].bool()
                tokens.append(states[-1][keep].half())
                lengths.append(keep.sum(1))
    if keep_tokens:
        return torch.cat(out), torch.cat(tokens), torch.cat(lengths)
    return torch.cat(out)


def _cross_encoder_row(args) -> dict:
    """Held-out accuracies of an MLP head on the pooled last layer of the encoder reading (context, reply) pairs:
    the first ``--pairs`` training pairs as positives, G's replies and one wrong context per human reply as
    negatives (a fixed derangement; each wrong pair costs an encoder pass)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from seqgan.objectives.discriminator_loss import mismatch_permutation

    sets, disc = _texts(args)
    n = args.pairs
    c, h, g = sets["c"][:n], sets["h"][:n], sets["g"]
    wrong_c = [c[i] for i in mismatch_permutation(n, torch.Generator().manual_seed(args.seed)).tolist()]
    hc, hh, hg = sets["hc"], sets["hh"], sets["hg"]
    held_wrong = [hc[i] for i in mismatch_permutation(len(hc), torch.Generator().manual_seed(5)).tolist()]
    t0 = time.perf_counter()
    x = {name: F.normalize(_pooled(disc, ctx, rep)[:, -1].float(), dim=-1)
         for name, ctx, rep in (("real", c, h), ("fake", c, g), ("wrong", wrong_c, h),
                                ("h_real", hc, hh), ("h_fake", hc, hg), ("h_wrong", held_wrong, hh))}
    embed_s = time.perf_counter() - t0
    torch.manual_seed(args.seed)
    head = nn.Sequential(nn.Dropout(0.1), nn.Linear(x["real"].shape[1], 256), nn.GELU(), nn.Linear(256, 1))
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=0.0)

    def bce(z, target):
        return F.binary_cross_entropy_with_logits(z, torch.full_like(z, target))

    gen = torch.Generator().manual_seed(args.seed)
    for _ in range(args.epochs * n // 64):
        i = torch.randint(n, (64,), generator=gen)
        loss = (bce(head(x["real"][i]).squeeze(-1), 1.0) + 0.5 * bce(head(x["fake"][i]).squeeze(-1), 0.0)
                + 0.5 * bce(head(x["wrong"][i]).squeeze(-1), 0.0))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    head.eval()
    with torch.no_grad():
        real, fake, wrong = (head(x[k]).squeeze(-1) for k in ("h_real", "h_fake", "h_wrong"))
    return {**_scores(real, fake, wrong), "embed_s": embed_s}


def _scores(real, fake, wrong) -> dict:
    """Accuracies at logit 0, AUCs, and the negatives' accuracies at the threshold accepting 80 % of humans."""
    import torch

    from seqgan.metrics.judge import ranking_auc

    cut = torch.quantile(real, 0.2)
    return {"human": float((real > 0).float().mean()), "generated": float((fake < 0).float().mean()),
            "mismatch": float((wrong < 0).float().mean()), "auc_gen": ranking_auc(real, fake),
            "auc_mis": ranking_auc(real, wrong), "gen_at80": float((fake < cut).float().mean()),
            "mis_at80": float((wrong < cut).float().mean())}


def _train_head(feats: dict, args, layers, human, hidden, dropout, weight_decay, epochs,
                weights=(1.0, 0.5, 0.5)) -> dict:
    """A head on the pooled ``layers``, trained with the D loss of ``weights`` (human, generated, mismatched;
    0 drops the mismatch term); its held-out scores (:func:`_scores`)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from seqgan.objectives.discriminator_loss import mismatch_permutation

    torch.manual_seed(args.seed)
    x = torch.cat([F.normalize(feats["features"][:, layer].float(), dim=-1) for layer in layers], -1)
    head = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * x.shape[1], hidden), nn.GELU(), nn.Linear(hidden, 1))
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=weight_decay)

    def logit(u, v):
        return head(torch.cat([u, v, u * v, (u - v).abs()], -1)).squeeze(-1)

    def bce(z, target):
        return F.binary_cross_entropy_with_logits(z, torch.full_like(z, target))

    c, h, g = feats["c"][:human], feats["h"][:human], feats["g"]
    gen = torch.Generator().manual_seed(args.seed)
    batch = 64
    for _ in range(epochs * len(g) // batch):
        hi, gi = torch.randint(len(c), (batch,), generator=gen), torch.randint(len(g), (batch,), generator=gen)
        u, v = x[c[hi]], x[h[hi]]
        loss = weights[0] * bce(logit(u, v), 1.0) + weights[1] * bce(logit(x[c[gi]], x[g[gi]]), 0.0)
        if weights[2]:
            loss = loss + weights[2] * torch.stack([bce(logit(u[mismatch_permutation(batch, gen)], v), 0.0)
                                                    for _ in range(args.mismatch_negatives)]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    head.eval()
    with torch.no_grad():
        u, v, w = x[feats["hc"]], x[feats["hh"]], x[feats["hg"]]
        real, fake = logit(u, v), logit(u, w)
        wrong = logit(u[mismatch_permutation(len(u), torch.Generator().manual_seed(5))], v)
    return _scores(real, fake, wrong)


def _match_model(feats: dict, hidden: int, dropout: float, last_turn: bool, attention: bool, width: int = 128):
    """A head on the pooled last layer of context and reply, optionally with the pooled last turn of the
    context (the message the reply answers) and an attention block between the two texts' token states:
    each token of one text attends to the other text's tokens, ``[r, a, r * a, |r - a|]`` per token is
    compressed to ``width`` and max- and mean-pooled over the tokens (both directions, ESIM-style)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    pooled = F.normalize(feats["features"][:, -1].float(), dim=-1)  # (N, d)
    d = pooled.shape[1]
    starts = torch.cumsum(feats["lengths"], 0) - feats["lengths"]

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(d, width) if attention else None
            self.compare = nn.Sequential(nn.Linear(4 * width, width), nn.GELU()) if attention else None
            n_in = 4 * d + (3 * d if last_turn else 0) + (4 * width if attention else 0)
            self.mlp = nn.Sequential(nn.Dropout(dropout), nn.Linear(n_in, hidden), nn.GELU(), nn.Linear(hidden, 1))

        def states(self, index):
            """(B,) text indices -> projected token states (B, L, width) and mask (B, L)."""
            rows = [feats["tokens"][s:s + n].float() for s, n in zip(starts[index].tolist(),
                                                                     feats["lengths"][index].tolist())]
            x = nn.utils.rnn.pad_sequence(rows, batch_first=True)
            mask = nn.utils.rnn.pad_sequence([torch.ones(len(r), dtype=torch.bool) for r in rows], batch_first=True)
            return self.proj(x), mask

        def align(self, a, a_mask, b, b_mask):
            """each token of a attends to b; compared, pooled -> (B, 2 * width)."""
            scores = a @ b.transpose(1, 2) / width ** 0.5
            aligned = scores.masked_fill(~b_mask.unsqueeze(1), float("-inf")).softmax(-1) @ b
            m = self.compare(torch.cat([a, aligned, a * aligned, (a - aligned).abs()], -1))
            keep = a_mask.unsqueeze(-1)
            mean = (m * keep).sum(1) / keep.sum(1)
            return torch.cat([mean, m.masked_fill(~keep, float("-inf")).amax(1)], -1)

        def forward(self, ci, ri, li, c_states=None, r_states=None):
            u, v = pooled[ci], pooled[ri]
            parts = [u, v, u * v, (u - v).abs()]
            if last_turn:
                w = pooled[li]
                parts += [w, w * v, (w - v).abs()]
            if attention:
                c, cm = c_states if c_states is not None else self.states(ci)
                r, rm = r_states if r_states is not None else self.states(ri)
                parts += [self.align(r, rm, c, cm), self.align(c, cm, r, rm)]
            return self.mlp(torch.cat(parts, -1)).squeeze(-1)

    return Head()


def _train_match_head(feats: dict, args, human, last_turn, attention, hidden=256, dropout=0.1, epochs=None) -> dict:
    """As :func:`_train_head` (the same loss, batches and mismatch pairing) for :func:`_match_model`."""
    import torch
    import torch.nn.functional as F

    from seqgan.objectives.discriminator_loss import mismatch_permutation

    torch.manual_seed(args.seed)
    head = _match_model(feats, hidden, dropout, last_turn, attention)
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3)

    def bce(z, target):
        return F.binary_cross_entropy_with_logits(z, torch.full_like(z, target))

    def permuted(states, perm):
        return None if states is None else (states[0][perm], states[1][perm])

    c, h, g, lc = feats["c"][:human], feats["h"][:human], feats["g"], feats["lc"][:human]
    gen = torch.Generator().manual_seed(args.seed)
    batch = 64
    for _ in range((epochs or args.epochs) * len(g) // batch):
        hi, gi = torch.randint(len(c), (batch,), generator=gen), torch.randint(len(g), (batch,), generator=gen)
        cs = head.states(c[hi]) if attention else None
        mismatch = []
        for _ in range(args.mismatch_negatives):
            perm = mismatch_permutation(batch, gen)
            mismatch.append(bce(head(c[hi][perm], h[hi], lc[hi][perm], c_states=permuted(cs, perm)), 0.0))
        loss = (bce(head(c[hi], h[hi], lc[hi], c_states=cs), 1.0) + 0.5 * bce(head(c[gi], g[gi], lc[gi]), 0.0)
                + 0.5 * torch.stack(mismatch).mean())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    head.eval()
    with torch.no_grad():
        hc, hh, hg, lhc = feats["hc"], feats["hh"], feats["hg"], feats["lhc"]
        real, fake = head(hc, hh, lhc), head(hc, hg, lhc)
        perm = mismatch_permutation(len(hc), torch.Generator().manual_seed(5))
        wrong = head(hc[perm], hh, lhc[perm])
    return _scores(real, fake, wrong)


if __name__ == "__main__":
    main()
