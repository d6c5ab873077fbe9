"""LoRA adapters on a generator through PEFT (the optional ``seqgan[lora]`` extra): ``generator.lora``.

:func:`add_lora` injects the adapters into the policy's HF model in place (``peft.get_peft_model``) and freezes
every other weight, so the MLE trainer, the adversarial G-step and the rollout copy train and carry only the adapters
while the policy's code stays the same. The adapter weights are ordinary parameters of ``policy.model``: checkpoints
save and restore them exactly. :meth:`~seqgan.models.hf_policy.HFPolicy.save_pretrained` merges them into the
weights of the saved ``generator/`` (``merge_and_unload`` on a copy), which plain transformers then loads.
"""

from __future__ import annotations

import warnings

from seqgan.errors import ConfigError, optional_import
from seqgan.models.generator_config import LoraSettings

EXTRA = "lora"
FIELD = "generator.lora"


def adaptable_modules(model) -> list[str]:
    """Names (last component) of the model's linear-like layers, the modules LoRA can adapt."""
    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
             if type(module).__name__ in ("Linear", "Conv1D") and name}
    return sorted(names)


def add_lora(policy, settings: LoraSettings):
    """Inject LoRA adapters of ``settings`` into ``policy.model`` (in place; returns ``policy``), the other weights
    frozen. Target modules the model lacks, or a model PEFT has no default targets for, raise ConfigError."""
    peft = optional_import("peft", "peft", EXTRA, f"{FIELD} (LoRA adapters)")
    model = policy.model
    if policy.peft_model is not None:
        raise ConfigError(f"{FIELD}: the generator already has LoRA adapters")
    targets = list(settings.target_modules) or None
    if targets:
        present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
        missing = [t for t in targets if t not in present]
        if missing:
            raise ConfigError(f"{FIELD}.target_modules: {missing} not in the {model.config.model_type} model "
                              f"(its linear layers: {', '.join(adaptable_modules(model))})")
    config = peft.LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                             target_modules=targets)
    try:
        with warnings.catch_warnings():  # PEFT asks transformers v5 for a renamed attribute (FutureWarning)
            warnings.filterwarnings("ignore", category=FutureWarning, message=".*gradient_checkpointing.*")
            peft_model = peft.get_peft_model(model, config)
    except ValueError as err:
        raise ConfigError(f"{FIELD}.target_modules: PEFT cannot adapt the {model.config.model_type} model "
                          f"({str(err).splitlines()[0][:160]}); name some of its linear layers: "
                          f"{', '.join(adaptable_modules(model))}") from None
    object.__setattr__(policy, "peft_model", peft_model)  # not a submodule: policy.model holds the same weights
    return policy
