"""One chatbot run: :class:`ChatbotConfig` (every stage's section: data, generator, MLE, evaluation, the
discriminator, its pretraining, the adversarial stage and the comparison) and :func:`load_run` (a finished run's
generator, tokenizer and config).

Load a config with ``seqgan.config.load_config(ChatbotConfig, "recipes/chat_cpu.yaml", ["mle.lr=3e-4"])``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from seqgan.adversarial.compare import CompareConfig
from seqgan.adversarial.config import AdversarialConfig
from seqgan.adversarial.d_pretrain import DPretrainConfig
from seqgan.config import field, load_config
from seqgan.data.config import DataConfig
from seqgan.errors import CheckpointError, ConfigError
from seqgan.mle.config import EvalConfig, MLEConfig
from seqgan.models.discriminator import DiscriminatorConfig
from seqgan.models.generator_config import GeneratorConfig
from seqgan.runs.rundir import RunDir
from seqgan.tracking import TrackingConfig


@dataclass
class ChatbotConfig:
    """Everything one chatbot run needs; saved resolved as ``RUN_DIR/config.yaml``."""

    seed: int = field(0, help="seed of model init, data order and dropout")
    output_dir: str = field("runs/chatbot", help="the run directory")
    run_name: str = field("chatbot", help="name shown in logs and plots")
    data: DataConfig = field(default_factory=DataConfig, help="dialogue data")
    generator: GeneratorConfig = field(default_factory=GeneratorConfig, help="the generator: a from-scratch "
                                                                             "encoder-decoder or a local pretrained "
                                                                             "model (init_from)")
    mle: MLEConfig = field(default_factory=MLEConfig, help="MLE pretraining")
    eval: EvalConfig = field(default_factory=EvalConfig, help="evaluation")
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig, help="the conditional D(c, x)")
    d_pretrain: DPretrainConfig = field(default_factory=DPretrainConfig, help="D pretraining against the MLE generator")
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig, help="adversarial fine-tuning")
    compare: CompareConfig = field(default_factory=CompareConfig, help="MLE vs adversarial comparison")
    tracking: TrackingConfig = field(default_factory=TrackingConfig, help="live experiment tracking (TensorBoard, "
                                                                         "W&B, trackio ...) besides metrics.jsonl")

    def validate(self) -> None:
        """Validate every section and the combinations between them."""
        self.data.validate()
        self.generator.validate()
        self.mle.validate()
        self.eval.validate()
        self.discriminator.validate()
        if self.discriminator.encoder == "minilm" and self.adversarial.route != "policy_gradient":
            raise ConfigError(f"discriminator.encoder: minilm reads text, but adversarial.route "
                              f"{self.adversarial.route!r} feeds D (B, T, V) vectors; use cnn, transformer or "
                              "generator")
        self.d_pretrain.validate()
        self.adversarial.validate()
        self.compare.validate()
        self.tracking.validate()
        if not self.output_dir:
            raise ConfigError("output_dir: expected a directory path")
        if self.generator.init_from:  # the model's own positions are checked when it is loaded
            return
        if self.data.max_reply_tokens + 1 > self.generator.max_positions:
            raise ConfigError(f"generator.max_positions: {self.generator.max_positions} is too small for "
                              f"data.max_reply_tokens={self.data.max_reply_tokens} (needs at least "
                              f"{self.data.max_reply_tokens + 1})")
        if self.generator.arch == "bart" and self.data.max_context_tokens > self.generator.max_positions:
            raise ConfigError(f"generator.max_positions: {self.generator.max_positions} is smaller than "
                              f"data.max_context_tokens={self.data.max_context_tokens}")


def load_run(run_dir: str | Path):
    """``(policy, tokenizer, cfg)`` of a finished run (its final ``generator/``) for chat, generate and eval.

    A directory without a config, tokenizer or generator raises :class:`CheckpointError` with one line.
    """
    from seqgan.data import load_tokenizer
    from seqgan.models.generators import load_policy

    run = RunDir(Path(run_dir))
    if not run.path.is_dir():
        raise CheckpointError(f"{run.path}: run directory not found")
    if not run.config.is_file():
        raise CheckpointError(f"{run.path}: not a run directory (no config.yaml)")
    if not run.generator.is_dir():
        raise CheckpointError(f"{run.path}: no trained model (no generator/; train with `seqgan pretrain` "
                              "or resume the run)")
    cfg = load_config(ChatbotConfig, run.config)
    tokenizer = load_tokenizer(run.tokenizer)
    policy = load_policy(run.generator)
    if policy.vocab_size < len(tokenizer):
        raise CheckpointError(f"{run.generator}: vocabulary of {policy.vocab_size} does not match the run's "
                              f"tokenizer ({len(tokenizer)})")
    policy.eval()
    return policy, tokenizer, cfg
