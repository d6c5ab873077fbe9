"""Monte Carlo rollout reward at the SeqGAN paper's oracle settings: the project against a loop written the way
TextGAN-PyTorch's ``ROLLOUT.get_reward`` works, plain sampling and D alone, side by side in one process.

    python benchmarks/rollout_oracle.py [--batch 64] [--seq-len 20] [--rollouts 16] [--vocab 5000] [--threads 2]
        [--recipe recipes/oracle_paper.yaml] [--score-dtypes float32,bfloat16] [--repeats 3] [--loop-repeats 1]

Models: the oracle generator (``LSTMPolicy``, E 32 / H 32) and the paper's CNN discriminator from the recipe's
``disc.model`` (filter widths 1-10, 15, 20; 1,720 filters; embedding 64; highway), built unconditional
(``conditional=False``: no context encoder, no pair head) as the oracle builds it; randomly initialised (speed
does not depend on the weights: every reply and completion has the full length T). Every method turns the same B
replies into (B, T) per-token rewards: for each prefix length t = 1..T-1 and each of N rollouts, complete the prefix
to length T by sampling from G, score the completion with D and average; the last position gets D of the reply.

- ``project``: :class:`seqgan.rewards.MonteCarloReward` over :meth:`LSTMPolicy.rollout` (one recurrent pass for
  every prefix state, the first new token of each prefix drawn N times from one distribution, rows grouped by
  prefix length, inverse-CDF sampling) and the D's folded per-width tables (``embedding_bag``).
- ``loop``: the reference (:func:`loop_reward`), the same weights: for each rollout, for each prefix length g =
  1..T, re-run the LSTM over the prefix, sample the rest token by token with ``torch.multinomial``, then score the
  B completions with one ``nn.Conv2d`` per filter width (:class:`LoopDiscriminator`); g = T scores the reply
  itself, N times, as ``get_reward`` does.
- ``plain sampling``: :meth:`LSTMPolicy.sample` of B*N*(T-1)/2 rows of T tokens, the same number of new tokens as
  one rollout (B*N*T(T-1)/2), without D.
- ``D alone``: the project's D on the B*(T-1)*N completions of one rollout (what ``MonteCarloReward`` scores).

Prints the machine, the D's parameter count next to the SeqGAN reference code's, a markdown table (median seconds
per call, ratios), and the process's peak resident memory before the loop reference runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import yaml  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from seqgan.config import from_dict  # noqa: E402
from seqgan.models.discriminator import Discriminator, DiscriminatorConfig  # noqa: E402
from seqgan.models.lstm import LSTMPolicy, LSTMShape  # noqa: E402
from seqgan.models.policy import Context  # noqa: E402
from seqgan.rewards import MonteCarloReward, RolloutPolicy  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rollout import machine, peak_rss_mb  # noqa: E402  (the dialogue rollout benchmark beside this one)


class LoopDiscriminator(nn.Module):
    """TextGAN-PyTorch's ``CNNDiscriminator`` layout holding a project D's weights: embedding, one
    ``nn.Conv2d(1, n, (w, E))`` per filter width over (B, 1, T, E), max-pool over time, the same highway and output.

    The input is left-padded with w - 1 zero rows per width, so each filter sees the same causal windows as the
    project's D (TextGAN's own D uses only the T - w + 1 windows inside the sequence).
    """

    def __init__(self, disc: Discriminator) -> None:
        super().__init__()
        enc = disc.reply_encoder
        self.disc = disc
        self.convs = nn.ModuleList()
        for weight, bias in zip(enc.weights, enc.biases):
            n, e, w = weight.shape
            conv = nn.Conv2d(1, n, (w, e))
            conv.weight.data.copy_(weight.detach().permute(0, 2, 1).unsqueeze(1))  # (n, 1, w, E)
            conv.bias.data.copy_(bias.detach())
            self.convs.append(conv)

    @torch.no_grad()
    def forward(self, ids: Tensor) -> Tensor:
        """(B, T) ids -> (B,) probability that each sequence is real (D in eval mode)."""
        emb = self.disc.embedding(ids).unsqueeze(1)  # (B, 1, T, E)
        pools = []
        for conv in self.convs:
            w = conv.kernel_size[0]
            h = F.relu(conv(F.pad(emb, (0, 0, w - 1, 0)))).squeeze(3)  # (B, n, T)
            pools.append(F.max_pool1d(h, h.shape[2]).squeeze(2))  # (B, n)
        features = self.disc.reply_encoder.readout(torch.cat(pools, 1))  # (B, F) after the highway
        return torch.sigmoid(self.disc.realism_head(features).squeeze(-1))


@torch.no_grad()
def loop_complete(policy: LSTMPolicy, sentences: Tensor, given: int) -> Tensor:
    """Keep the first ``given`` tokens of (B, T) ``sentences`` and sample the rest: re-run the LSTM over the prefix,
    then one token at a time with ``torch.multinomial`` (TextGAN-PyTorch's ``rollout_mc_search``)."""
    B, T = sentences.shape
    samples = sentences.clone()
    if given >= T:
        return samples
    inputs = torch.cat([policy.start.expand(B, 1, -1), policy.embedding(sentences[:, :given])], 1)  # (B, g+1, E)
    out, hidden = policy.lstm(inputs)
    logp = torch.log_softmax(policy.head(out[:, -1]), -1)  # (B, V)
    for i in range(given, T):
        token = torch.multinomial(torch.exp(logp), 1)  # (B, 1)
        samples[:, i] = token[:, 0]
        if i + 1 < T:
            out, hidden = policy.lstm(policy.embedding(token), hidden)
            logp = torch.log_softmax(policy.head(out[:, -1]), -1)
    return samples


@torch.no_grad()
def loop_reward(policy: LSTMPolicy, loop_disc: LoopDiscriminator, sentences: Tensor, n: int) -> Tensor:
    """(B, T) rewards the way TextGAN-PyTorch's ``get_reward`` computes them: for each rollout, for each prefix
    length g = 1..T, complete and score B sequences; reward[b, g-1] = mean over rollouts."""
    B, T = sentences.shape
    rewards = torch.zeros(B, T)
    for _ in range(n):
        for given in range(1, T + 1):
            rewards[:, given - 1] += loop_disc(loop_complete(policy, sentences, given)) / n
    return rewards


def reference_parameter_count(cfg: DiscriminatorConfig, vocab: int) -> int:
    """Parameters of the SeqGAN reference code's discriminator: embedding, per-width filters and biases, highway
    (transform and gate, F x F + F each), output layer F x 2 + 2 (a 2-way softmax)."""
    filters = sum(cfg.num_filters)
    return (vocab * cfg.embed_dim + sum(w * n * cfg.embed_dim + n for w, n in zip(cfg.filter_sizes, cfg.num_filters))
            + (2 * (filters * filters + filters) if cfg.highway else 0) + 2 * filters + 2)


def median_time(fn, repeats: int, name: str = "") -> float:
    """Median wall time in seconds over ``repeats`` calls (each also printed to stderr when ``name`` is given)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        if name:
            print(f"  {name}: {times[-1]:.2f} s", file=sys.stderr, flush=True)
    return statistics.median(times)


@torch.no_grad()
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default=str(ROOT / "recipes" / "oracle_paper.yaml"), help="its disc.model is D")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=20)
    parser.add_argument("--rollouts", type=int, default=16)
    parser.add_argument("--vocab", type=int, default=5000)
    parser.add_argument("--embed", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--score-dtypes", default="float32,bfloat16",
                        help="comma-separated disc.model.score_dtype values to time the project's reward with")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="median of this many calls (after one warm-up)")
    parser.add_argument("--loop-repeats", type=int, default=1, help="median of this many loop calls (~1 min each)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    raw = yaml.safe_load(Path(args.recipe).read_text())
    cfg = from_dict(DiscriminatorConfig, raw["disc"]["model"], source=f"{args.recipe}: disc.model")
    B, T, N, V = args.batch, args.seq_len, args.rollouts, args.vocab
    policy = LSTMPolicy(LSTMShape(V, args.embed, args.hidden, T)).eval()
    disc = Discriminator(cfg, V, pad_id=0, conditional=False).eval()
    context = Context.empty(B)
    replies = policy.sample(context)
    new_tokens = B * N * T * (T - 1) // 2
    completions = B * (T - 1) * N
    rss_models = peak_rss_mb()

    rolled = policy.rollout(context, replies, N)
    comp = rolled.ids.reshape(-1, T)
    rows = torch.zeros(completions, dtype=torch.long)
    project: dict[str, tuple[float, dict[str, float], float]] = {}
    for dtype in args.score_dtypes.split(","):
        scorer = Discriminator(dataclasses.replace(cfg, score_dtype=dtype), V, pad_id=0, conditional=False).eval()
        scorer.load_state_dict(disc.state_dict())  # the same weights
        reward = MonteCarloReward(scorer, RolloutPolicy(policy), N)
        reward(context, replies)  # warm-up: builds D's folded tables
        total = median_time(lambda: reward(context, replies), args.repeats, f"MonteCarloReward, {dtype}")
        split = dict(reward.last_timing)
        alone = median_time(lambda: scorer.reward_rows(context, rows, comp, torch.ones_like(comp)), args.repeats,
                            f"D alone, {dtype}")
        project[dtype] = (total, split, alone)
        del reward, scorer
    plain_rows = new_tokens // T
    generate, plain = [], []
    for _ in range(args.repeats):  # interleaved: the ratio of the two is the figure that matters
        generate.append(median_time(lambda: policy.rollout(context, replies, N), 1, "rollout"))
        plain.append(median_time(lambda: policy.sample(Context.empty(plain_rows)), 1, "plain sampling"))
    generate, plain = statistics.median(generate), statistics.median(plain)
    rss_project = peak_rss_mb()

    loop_disc = LoopDiscriminator(disc).eval()
    loop = median_time(lambda: loop_reward(policy, loop_disc, replies.ids, N), args.loop_repeats, "loop")
    loop_d = median_time(lambda: [loop_disc(comp[i:i + B]) for i in range(0, completions, B)], 1, "loop D")
    valid = [nn.Conv2d(1, c.out_channels, c.kernel_size) for c in loop_disc.convs if c.kernel_size[0] <= T]
    emb = disc.embedding(comp[:B]).unsqueeze(1)
    padded_conv = median_time(lambda: [F.relu(c(F.pad(emb, (0, 0, c.kernel_size[0] - 1, 0)))) for c in
                                       loop_disc.convs], 5)
    valid_conv = median_time(lambda: [F.relu(c(emb)) for c in valid], 5)

    count = sum(p.numel() for p in disc.parameters())
    reference = reference_parameter_count(cfg, V)
    print(f"machine: {machine()}")
    print(f"B {B}, T {T}, N {N}, V {V}, LSTM E {args.embed} / H {args.hidden}; D from {Path(args.recipe).name}: "
          f"widths {cfg.filter_sizes}, {sum(cfg.num_filters):,} filters, embedding {cfg.embed_dim}, highway "
          f"{cfg.highway}; folded tables {disc.reply_encoder.table_bytes(V) / 2**20:,.0f} MB in float32; "
          f"{new_tokens:,} new tokens and {completions:,} completions per call")
    print(f"D parameters: {count:,} (SeqGAN reference code's D at this config: {reference:,}, "
          f"{count / reference - 1:+.2%}); median of {args.repeats} (loop: {args.loop_repeats})\n")
    print("| | s / call | loop / this |")
    print("|---|---:|---:|")
    table = [("loop reference (TextGAN-PyTorch-style `get_reward`, same weights)", loop)]
    for dtype, (total, split, alone) in project.items():
        table += [(f"`MonteCarloReward`, D scoring in {dtype}", total),
                  ("  of which generation (`LSTMPolicy.rollout`)", split["rollout_s"]),
                  (f"  of which D on {completions + B:,} sequences", split["disc_s"]),
                  (f"D alone on the {completions:,} completions, {dtype}", alone)]
    table += [(f"`LSTMPolicy.rollout` alone ({new_tokens:,} new tokens)", generate),
              (f"plain sampling, `LSTMPolicy.sample` of {plain_rows:,} x {T} tokens", plain),
              (f"loop D alone on the same completions ({completions // B} calls of {B})", loop_d)]
    for name, sec in table:
        print(f"| {name} | {sec:.2f} | {loop / sec:.1f}x |")
    print(f"\nrollout generation / plain sampling of the same tokens: {generate / plain:.2f}x")
    print(f"loop D's convolutions on {B} rows: left-padded (as here) {padded_conv * 1e3:.1f} ms, TextGAN's valid "
          f"windows only {valid_conv * 1e3:.1f} ms")
    print(f"peak RSS: {rss_models:,.0f} MB with the models built, {rss_project:,.0f} MB after the project's runs "
          f"(before the loop)")

if __name__ == "__main__":
    main()
