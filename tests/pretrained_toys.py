"""Tiny random "pretrained" models of four families, saved like a model from the hub would be (config, safetensors
weights, a fast tokenizer of that family's conventions), built locally in seconds (no hub).

=======  =============  =====================================================================================
kind     model          tokenizer conventions
=======  =============  =====================================================================================
gpt2     GPT-2          one special token ``<|endoftext|>`` (bos = eos = unk), no pad, no chat template
llama    Llama          ``<s>`` / ``<pad>`` / ``<unk>``, ChatML turns (``<|im_start|>`` .. ``<|im_end|>`` = eos)
                        and a chat template with a default system prompt, as SmolLM2-Instruct has
bart     BART           ``<s> text </s>`` added to every text, sep = eos = ``</s>``, no chat template
t5       T5             ``text </s>``, no bos, decoder start = pad, no chat template
=======  =============  =====================================================================================
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (BartConfig, BartForConditionalGeneration, GPT2Config, GPT2LMHeadModel, LlamaConfig,
                          LlamaForCausalLM, PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration)

KINDS = ("gpt2", "llama", "bart", "t5")
CAUSAL = ("gpt2", "llama")

CHATML = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
          "{{ '<|im_start|>system\nYou are a friendly chatbot<|im_end|>\n' }}{% endif %}"
          "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

SPECIALS = {
    "gpt2": (["<|endoftext|>"], {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                                 "unk_token": "<|endoftext|>"}),
    "llama": (["<unk>", "<s>", "<pad>", "<|im_start|>", "<|im_end|>"],
              {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "<|im_end|>", "pad_token": "<pad>",
               "additional_special_tokens": ["<|im_start|>"]}),
    "bart": (["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
             {"bos_token": "<s>", "pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>",
              "cls_token": "<s>", "mask_token": "<mask>"}),
    "t5": (["<pad>", "</s>", "<unk>"], {"pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>"}),
}

TEXT = ["hi there how are you", "i am fine thanks and you", "what do you do for fun", "i like to read books",
        "where do you live", "in a small town near the sea", "do you like music", "yes i play the guitar",
        "what is your favourite food", "pizza and pasta", "are you a student", "no i work at a bank",
        "that sounds nice", "have a good day", "see you later", "good night", "what are you doing today",
        "nothing much just relaxing", "me too", "i don't know"]


def toy_tokenizer(kind: str, vocab_size: int = 320) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on a few sentences, with the special tokens and behaviour of ``kind``."""
    specials, named = SPECIALS[kind]
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator(TEXT * 4, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                           show_progress=False))
    if kind == "bart":
        core.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
            special_tokens=[("<s>", core.token_to_id("<s>")), ("</s>", core.token_to_id("</s>"))])
    elif kind == "t5":
        core.post_processor = processors.TemplateProcessing(
            single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", core.token_to_id("</s>"))])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, **named)
    if kind == "llama":
        tokenizer.chat_template = CHATML
    return tokenizer


def toy_model(kind: str, tokenizer, seed: int = 0, width: int = 32, layers: int = 1, positions: int = 128):
    """A randomly initialised model of ``kind`` for ``tokenizer`` (seeded)."""
    torch.manual_seed(seed)
    vocab = len(tokenizer)
    ids = {"pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id,
           "bos_token_id": tokenizer.bos_token_id}
    if kind == "gpt2":
        return GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_embd=width, n_layer=layers, n_head=4,
                                          n_positions=positions, **ids))
    if kind == "llama":
        return LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=width, intermediate_size=2 * width,
                                            num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                                            max_position_embeddings=positions, **ids))
    if kind == "bart":
        return BartForConditionalGeneration(BartConfig(
            vocab_size=vocab, d_model=width, encoder_layers=layers, decoder_layers=layers, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=2 * width, decoder_ffn_dim=2 * width,
            max_position_embeddings=positions, decoder_start_token_id=tokenizer.eos_token_id,
            forced_eos_token_id=tokenizer.eos_token_id, **ids))
    return T5ForConditionalGeneration(T5Config(vocab_size=vocab, d_model=width, d_kv=width // 4, d_ff=2 * width,
                                               num_layers=layers, num_heads=4,
                                               decoder_start_token_id=tokenizer.pad_token_id, **ids))


def save_toy(kind: str, directory: str | Path, seed: int = 0, **sizes) -> Path:
    """Write a toy model of ``kind`` and its tokenizer to ``directory`` as ``save_pretrained`` does; returns it."""
    directory = Path(directory)
    tokenizer = toy_tokenizer(kind)
    toy_model(kind, tokenizer, seed, **sizes).save_pretrained(directory)
    tokenizer.save_pretrained(str(directory))
    return directory
