"""Can a discriminator tell this generator's replies from human ones? Train a fresh CNN D (realism only, no context)
on human replies vs. the run's sampled replies and report training vs. held-out accuracy per epoch.

    python benchmarks/discriminator_heldout.py RUN_DIR [--pairs 2048] [--epochs 6] [--threads 1]

A D that only reaches high *training* accuracy has memorised its batches; its reward carries no information about
new replies, so adversarial fine-tuning against it cannot help. Also prints the mean reply lengths (a cue D would
use if they differed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from seqgan.offline import enable_offline  # noqa: E402

enable_offline()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--pairs", type=int, default=2048, help="training pairs sampled (3/4 train, 1/4 held out)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch
    import torch.nn.functional as F

    from seqgan.data import encode_pairs, make_loader, prepare_data, to_context, to_replies
    from seqgan.models.discriminator import Discriminator, DiscriminatorConfig
    from seqgan.models.policy import Context, eval_mode
    from seqgan.chatbot import load_run

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    policy, tokenizer, cfg = load_run(args.run_dir)
    pairs = encode_pairs(prepare_data(cfg.data).train.select(range(args.pairs)), tokenizer, cfg.data)
    batches = []
    with torch.no_grad(), eval_mode(policy):
        for batch in make_loader(pairs, tokenizer.pad_token_id, args.batch, shuffle=False):
            human = to_replies(batch)
            batches.append((human, policy.sample(to_context(batch))))
    n_train = len(batches) * 3 // 4
    train, held_out = batches[:n_train], batches[n_train:]
    human_len = torch.cat([h.mask.sum(1) for h, _ in batches]).float().mean()
    gen_len = torch.cat([g.mask.sum(1) for _, g in batches]).float().mean()
    print(f"{args.run_dir}: mean reply length human {human_len:.1f} tokens, generated {gen_len:.1f}; "
          f"{n_train * args.batch} training / {len(held_out) * args.batch} held-out pairs")

    disc = Discriminator(DiscriminatorConfig(), len(tokenizer), tokenizer.pad_token_id)
    opt = torch.optim.Adam(disc.parameters(), lr=1e-3)

    def accuracy(human, generated) -> float:
        empty = Context.empty(human.ids.shape[0])
        real = disc(empty, human.ids, human.mask).logit
        fake = disc(empty, generated.ids, generated.mask).logit
        return 0.5 * float((real > 0).float().mean() + (fake < 0).float().mean())

    print("| epoch | train accuracy | held-out accuracy |\n|---:|---:|---:|")
    for epoch in range(1, args.epochs + 1):
        accs = []
        disc.train()
        for human, generated in train:
            empty = Context.empty(human.ids.shape[0])
            real = disc(empty, human.ids, human.mask).logit
            fake = disc(empty, generated.ids, generated.mask).logit
            loss = F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + \
                F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
            opt.zero_grad()
            loss.backward()
            opt.step()
            accs.append(0.5 * float((real > 0).float().mean() + (fake < 0).float().mean()))
        with torch.no_grad(), eval_mode(disc):
            held = [accuracy(h, g) for h, g in held_out]
        print(f"| {epoch} | {sum(accs) / len(accs):.3f} | {sum(held) / len(held):.3f} |", flush=True)


if __name__ == "__main__":
    main()
