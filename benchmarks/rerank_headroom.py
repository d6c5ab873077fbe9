"""How much does the run's D know that the policy gradient could teach G? Re-rank K sampled replies of the MLE
generator per context by D and let one fresh judge compare the picks with a plain sample (the first of the K).

    python benchmarks/rerank_headroom.py RUN_DIR [--k 4] [--pairs 1000] [--threads 1]

RUN_DIR is a run after `seqgan train` (or with a pretrained ``discriminator/``). Picks: ``sample`` (no re-ranking),
``d_best`` (D's highest probability) and ``d_best_length_neutral`` (D's logit with the K x N candidates' linear
trend over length removed: what ``adversarial.length_neutral`` rewards). One judge of ``compare.evaluator``'s design
is trained on the valid split's human replies vs all three picks of the valid contexts (equal numbers), and reports
on the test split each pick's AUC (human vs pick, lower = more human-like) with paired-bootstrap intervals of the
difference to ``sample``, and the picks' mean length. Best-of-K by D is the upper end of what a policy that only
reweights the MLE model's own samples by D could reach at K; a policy-gradient stage realises part of it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seqgan.offline import enable_offline  # noqa: E402

enable_offline()

import torch  # noqa: E402

from seqgan.chatbot import ChatbotConfig  # noqa: E402
from seqgan.config import load_config  # noqa: E402
from seqgan.data import encode_pairs, load_tokenizer, pad_rows, prepare_data  # noqa: E402
from seqgan.metrics.judge import ReplySet, bootstrap_auc, judge_probabilities, sample_reply_rows, train_judge  # noqa: E402
from seqgan.models.discriminators import load_discriminator  # noqa: E402
from seqgan.models.generators import load_policy  # noqa: E402
from seqgan.models.policy import Context  # noqa: E402
from seqgan.rewards.length import remove_length_trend  # noqa: E402
from seqgan.rewards.transform import transform_probability  # noqa: E402


@torch.no_grad()
def d_probabilities(disc, contexts: list[list[int]], rows: list[list[int]], pad: int, batch: int = 128) -> torch.Tensor:
    """(N,) D's probability that each reply is a human reply to its context."""
    out = []
    for s in range(0, len(contexts), batch):
        ci, cm = pad_rows(contexts[s:s + batch], pad)
        ri, rm = pad_rows([r or [pad] for r in rows[s:s + batch]], pad)
        out.append(disc.reward(Context(ci, cm), ri, rm))
    return torch.cat(out)


def picks(disc, contexts, candidates: list[list[list[int]]], pad: int) -> dict[str, list[list[int]]]:
    """candidates: K lists of N reply rows -> the three picks, each N rows."""
    k, n = len(candidates), len(contexts)
    prob = torch.stack([d_probabilities(disc, contexts, c, pad) for c in candidates])  # (K, N)
    logit = transform_probability(prob, "logit").reshape(-1)  # (K*N,)
    lengths = torch.tensor([max(len(r), 1) for c in candidates for r in c])  # (K*N,)
    mask = torch.arange(int(lengths.max())).unsqueeze(0) < lengths.unsqueeze(1)  # (K*N, T)
    # each reply's value on all its tokens: remove_length_trend fits the slope over all K x N candidates
    neutral, _ = remove_length_trend(logit.unsqueeze(1) * mask, mask)
    neutral = neutral.gather(1, (lengths - 1).unsqueeze(1)).reshape(k, n)
    choose = lambda score: [candidates[int(score[:, i].argmax())][i] for i in range(n)]  # noqa: E731
    return {"sample": candidates[0], "d_best": choose(prob), "d_best_length_neutral": choose(neutral)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = Path(args.run_dir)
    cfg = load_config(ChatbotConfig, run / "config.yaml")
    tok = load_tokenizer(run / "tokenizer")
    splits = prepare_data(cfg.data)
    valid = encode_pairs(splits.valid.select(range(min(args.pairs, len(splits.valid)))), tok, cfg.data)
    test = encode_pairs(splits.test.select(range(min(args.pairs, len(splits.test)))), tok, cfg.data)
    mle = load_policy(run / "generator").eval()
    disc = load_discriminator(run)
    if disc is None:
        sys.exit(f"rerank_headroom: {run / 'discriminator'} not found; run `seqgan train {run}` first")
    disc.eval()
    pad = tok.pad_token_id
    chosen = {}
    for name, ds, seed in (("valid", valid, 100), ("test", test, 0)):
        cands = [sample_reply_rows(mle, ds, pad, 64, "cpu", 1.0, seed + j) for j in range(args.k)]
        chosen[name] = picks(disc, list(ds["context_ids"]), cands, pad)
    judge = train_judge(cfg.compare.evaluator, list(valid["context_ids"]), list(valid["reply_ids"]),
                        [ReplySet(name, 1.0, rows) for name, rows in chosen["valid"].items()],
                        vocab_size=len(tok), pad_id=pad, steps=cfg.compare.adversuc_steps,
                        batch_size=cfg.compare.adversuc_batch_size, lr=cfg.compare.adversuc_lr, seed=0,
                        tokenizer=tok, init_policy=mle)
    ctx = list(test["context_ids"])
    human = judge_probabilities(judge, ctx, list(test["reply_ids"]), pad)
    generated = {name: judge_probabilities(judge, ctx, rows, pad) for name, rows in chosen["test"].items()}
    aucs, diffs = bootstrap_auc(human, generated, reference="sample", n_boot=1000)
    print(f"run {run}, K {args.k}, {len(ctx)} test pairs; judge: {cfg.compare.evaluator.encoder}\n")
    print("| pick | judge AUC (human vs pick) [95 %] | minus sample [95 %, paired] | mean length (tokens) |")
    print("|---|---|---|---:|")
    for name, rows in chosen["test"].items():
        a = aucs[name]
        d = diffs.get(name)
        diff = f"{d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]" if d else "-"
        print(f"| {name} | {a[0]:.3f} [{a[1]:.3f}, {a[2]:.3f}] | {diff} | {sum(map(len, rows)) / len(rows):.2f} |")
    print("\n" + json.dumps({"auc": aucs, "minus_sample": diffs}))


if __name__ == "__main__":
    main()
