"""ChatbotConfig's cross-section checks and the shipped dialogue recipes."""

from pathlib import Path

import pytest

from seqgan.chatbot import ChatbotConfig
from seqgan.config import load_config
from seqgan.errors import ConfigError

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def test_text_reading_d_with_a_relaxed_route_is_one_line():
    with pytest.raises(ConfigError, match="minilm reads text") as info:
        load_config(ChatbotConfig, None, ["discriminator.encoder=minilm", "adversarial.route=gumbel"])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("recipe", sorted(p.name for p in RECIPES.glob("chat_*.yaml")))
def test_every_dialogue_recipe_loads_and_validates(recipe):
    cfg = load_config(ChatbotConfig, RECIPES / recipe, [])
    cfg.validate()
    if cfg.adversarial.route != "policy_gradient" or cfg.discriminator.head == "split":
        assert cfg.discriminator.encoder == "cnn"  # relaxed routes and split heads need a token-level D
    else:
        assert cfg.discriminator.encoder == "minilm" and cfg.compare.evaluator.encoder == "minilm"
