"""The Python API end to end on tiny settings: MLE pretraining, adversarial fine-tuning, then both generators'
replies to a few messages with the discriminator's score of each.

    python examples/train_and_chat.py [OUTPUT_DIR]       # seconds on a CPU (a toy model: the replies are poor)

The same calls train a real chatbot with recipes/chat_cpu.yaml instead of recipes/tiny.yaml.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from seqgan import Chatbot, ChatbotConfig, load_config, train_adversarial, train_mle

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "tiny.yaml"
MESSAGES = ["hi! how was your weekend?", "what kind of music do you like?"]


def main(output_dir: str) -> None:
    cfg = load_config(ChatbotConfig, RECIPE, [f"output_dir={output_dir}", "mle.eval_every=0", "adversarial.rounds=2",
                                              "discriminator.filter_sizes=[1,2,3]", "discriminator.num_filters=[16,16,16]"])
    run = train_mle(cfg)  # -> RunDir: config.yaml, tokenizer/, generator/, checkpoints/, metrics.jsonl
    last = run.read_metrics("mle")[-1]
    print(f"MLE: {last['step']} steps, valid perplexity {last['valid_ppl']:.1f}")

    train_adversarial(cfg, run.path)  # pretrains D, then the rounds -> generator_adv/, discriminator_adv/
    print(f"adversarial: {len(run.read_metrics('adversarial')) - 1} rounds")

    adv = Chatbot.load(run.path, generator="adv", seed=cfg.seed)
    mle = adv.with_generator("mle")
    for message in MESSAGES:
        print(f"> {message}")
        for name, bot in (("mle", mle), ("adv", adv)):
            reply = bot.reply(message, temperature=0.8)
            print(f"  {name}: {reply}  [D={bot.score(message, [reply])[0]:.2f}]")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(str(Path(tmp) / "run"))
