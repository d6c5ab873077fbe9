"""The ``generator`` section of a chatbot run: a from-scratch encoder-decoder of a given size, or a local pretrained
model (``init_from``: any transformers seq2seq or causal LM directory, or a GGUF file), optionally fine-tuned
through LoRA adapters (``lora``). :mod:`seqgan.models.generators` builds and loads either."""

from __future__ import annotations

from dataclasses import dataclass

from seqgan.config import check_fields, field
from seqgan.errors import ConfigError

ARCHS = ("bart", "t5")


@dataclass
class LoraSettings:
    """Parameter-efficient fine-tuning through PEFT's LoRA (section ``generator.lora``; the ``seqgan[lora]`` extra)."""

    rank: int = field(0, ge=0, help="rank of the LoRA update matrices; 0 = off (every weight of the generator "
                                    "trains)")
    alpha: float = field(16.0, gt=0, help="LoRA alpha: the update is scaled by alpha / rank")
    dropout: float = field(0.0, ge=0, lt=1, help="dropout on the input of the LoRA branch")
    target_modules: list[str] = field([], help="names of the modules that get adapters (e.g. [q_proj, v_proj]); "
                                               "empty: PEFT's default for the architecture")

    @property
    def enabled(self) -> bool:
        return self.rank > 0


@dataclass
class GeneratorConfig:
    """The generator: a randomly initialised encoder-decoder of the sizes below, or the pretrained model
    ``init_from`` (the sizes are then the model's own)."""

    init_from: str = field("", help="start from this local pretrained model: a transformers directory (any "
                                    "AutoModelForSeq2SeqLM, e.g. BART/T5, or AutoModelForCausalLM, e.g. GPT-2/Llama/"
                                    "SmolLM, with its tokenizer and safetensors weights) or a .gguf file; the run "
                                    "uses that model's tokenizer and chat template. Empty: a new model of the sizes "
                                    "below and a tokenizer trained on the data")
    lora: LoraSettings = field(LoraSettings, help="LoRA adapters instead of full fine-tuning (rank 0 = off)")
    arch: str = field("bart", choices=ARCHS, help="from scratch: encoder-decoder architecture, 'bart' or 't5'")
    d_model: int = field(128, ge=1, help="from scratch: hidden size of encoder and decoder")
    encoder_layers: int = field(2, ge=1, help="from scratch: number of encoder layers")
    decoder_layers: int = field(2, ge=1, help="from scratch: number of decoder layers")
    attention_heads: int = field(4, ge=1, help="from scratch: attention heads per layer (must divide d_model)")
    ffn_dim: int = field(512, ge=1, help="from scratch: inner size of the feed-forward blocks")
    dropout: float = field(0.1, ge=0, lt=1, help="from scratch: dropout probability during training")
    max_positions: int = field(128, ge=1, help="from scratch: longest context / reply (+1 for the start token) the "
                                               "model accepts")
    init_std: float = field(0.02, gt=0, help="from scratch, BART: std of the normal weight init (HF's 0.02 suits "
                                             "d_model ~1,000; small models learn to read the context faster with "
                                             "~0.05); T5 ignores it")

    def validate(self) -> None:
        """Raise :class:`ConfigError` on an unknown arch or inconsistent sizes."""
        check_fields(self, "generator")
        if self.d_model % self.attention_heads:
            raise ConfigError(
                f"generator.d_model: {self.d_model} is not divisible by generator.attention_heads "
                f"({self.attention_heads})"
            )
