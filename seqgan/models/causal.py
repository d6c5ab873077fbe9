"""A decoder-only language model (GPT-2, Llama, SmolLM: any local ``AutoModelForCausalLM``) seen as a
:class:`Policy`.

The context ids are the rendered prompt (:mod:`seqgan.models.chat_format`: the chat template with its generation
prompt); the reply follows it and ends with ``eos``; reply log-probabilities are taken over the reply tokens only.
Prompts arrive right-padded (:class:`Context`) and are left-padded here, so that every row's prompt ends at the same
column S and reply token t sits at column S + t in every row; position ids count real tokens only (padding is masked
out of attention), so a row's numbers do not depend on its neighbours' lengths. MLE's teacher-forcing inputs pack each
prompt and its reply together instead (:meth:`CausalLMPolicy.teacher_forcing_inputs`). Sampling, rollouts (one pass over
prompt + reply gives every prefix's KV cache) and relaxed decoding (soft embeddings fed as ``inputs_embeds``) are
:class:`~seqgan.models.hf_policy.HFPolicy`'s loops.

Shapes: ``B`` batch, ``S`` prompt length, ``T`` reply length, ``V`` vocabulary, ``N`` rows being decoded.
"""

from __future__ import annotations

import torch
from torch import Tensor
from transformers import AutoModelForCausalLM, GenerationConfig, PreTrainedModel
from transformers.cache_utils import DynamicCache

from seqgan.models.hf_policy import HFPolicy, decoding_cache, distinct_rows, select_rows
from seqgan.models.policy import Context, Replies


def positions(mask: Tensor) -> Tensor:
    """(N, L) attention mask -> (N, L) position ids: the number of real tokens before each one (0 on padding)."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def pack(mask: Tensor, *rows: Tensor, left: bool) -> tuple[Tensor, ...]:
    """Each row's real tokens (``mask`` 1) moved together in their order, the padding to the left (``left``) or to
    the right of them, and the columns that hold padding in every row cut: ``mask`` and each of ``rows`` (N, L) ->
    (N, W), W the most real tokens of a row."""
    order = torch.argsort(mask if left else 1 - mask, dim=1, stable=True)  # a stable sort keeps the tokens' order
    width = int(mask.sum(1).max())
    cut = slice(mask.shape[1] - width, None) if left else slice(0, width)
    return tuple(x.gather(1, order)[:, cut] for x in (mask, *rows))


class CausalLMPolicy(HFPolicy):
    """A transformers causal LM as a policy ``p(reply | prompt)``; ``model`` is public (hand it to accelerate).

    Args:
        model: any ``AutoModelForCausalLM`` with a KV cache (``DynamicCache``).
        pad_id, eos_id: padding and end-of-reply tokens (equal for tokenizers without a pad token).
        max_reply_len: default number of reply tokens (eos included) that :meth:`sample` produces at most.
        bos_id: the prompt of an empty context (``eos`` when None).
    """

    family = "causal"
    auto_class = AutoModelForCausalLM
    joint_prefixes = True

    def __init__(self, model: PreTrainedModel, pad_id: int, eos_id: int, max_reply_len: int,
                 bos_id: int | None = None):
        super().__init__(model, pad_id, eos_id, max_reply_len, bos_id)
        for cfg in (model.config, model.generation_config):
            cfg.pad_token_id, cfg.eos_token_id = self.pad_id, self.eos_id

    def positions_needed(self, context_len: int, reply_len: int) -> int:
        """The prompt and the reply share one sequence."""
        return max(context_len, 1) + reply_len

    # ------------------------------------------------------------------ model calls
    def _prompt_tokens(self, context: Context) -> tuple[Tensor, Tensor]:
        """Right-padded prompt ids and mask (B, S'), every row at least one token (an empty context reads bos)."""
        device = self.model.device
        ids, mask = context.ids.to(device), context.mask.to(device).long()
        start = self.bos_id if self.bos_id is not None else self.eos_id
        empty = mask.sum(1) == 0
        if bool(empty.any()):
            ids = torch.cat([ids, torch.full_like(ids[:, :1], start)], 1)
            mask = torch.cat([mask, empty.long()[:, None]], 1)
        return ids, mask

    def _prompt(self, context: Context) -> tuple[Tensor, Tensor]:
        """Left-padded prompt ids and mask (B, S), every row at least one token (an empty context reads bos)."""
        mask, ids = pack(*self._prompt_tokens(context)[::-1], left=True)
        return ids.masked_fill(mask == 0, self.pad_id), mask

    def _forward(self, ids: Tensor | None, mask: Tensor, pos: Tensor, cache: DynamicCache | None = None,
                 use_cache: bool = True, keep: int = 0, embeds: Tensor | None = None):
        """One call of the HF model on new tokens ``ids`` (N, L) (or ``embeds`` (N, L, d)) at positions ``pos``
        (N, L) after those in ``cache`` (None: the model starts a cache of its own kind when ``use_cache``);
        ``mask`` (N, L_cache + L) covers the cached and the new tokens; ``keep`` > 0 computes the logits of the
        last ``keep`` positions only."""
        return self.model(input_ids=ids, inputs_embeds=embeds, attention_mask=mask, position_ids=pos, cache=cache,
                          use_cache=use_cache, logits_to_keep=keep)

    def _sequence(self, context: Context, ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor, int]:
        """Prompt and reply as one left-padded sequence: ids and attention mask (B, S + T), and S."""
        prompt, prompt_mask = self._prompt(context)
        device = prompt.device
        mask = mask.to(device).long()
        reply = ids.to(device).masked_fill(mask == 0, self.pad_id)
        return torch.cat([prompt, reply], 1), torch.cat([prompt_mask, mask], 1), prompt.shape[1]

    def teacher_forcing_inputs(self, context: Context, human: Replies) -> dict[str, Tensor]:
        """Keyword arguments of the HF model's forward whose ``.loss`` is the mean token NLL of the replies
        ``human`` (B, T) given ``context``: prompt + reply ids, attention mask, position ids, and labels that are
        the reply tokens (-100 on the prompt and past each reply). The MLE trainer calls the (possibly
        DDP-wrapped) model with them.

        Each row is its prompt followed directly by its reply, right-padded to the longest prompt + reply (as
        transformers' trainers pack them): no padding between the two, the fewest positions to compute. Sampling
        and scoring align the replies instead (left-padded prompts); the numbers are the same."""
        prompt, prompt_mask = self._prompt_tokens(context)
        reply_mask = human.mask.to(prompt.device).long()
        ids, mask = torch.cat([prompt, human.ids.to(prompt.device)], 1), torch.cat([prompt_mask, reply_mask], 1)
        mask, ids, is_reply = pack(mask, ids, torch.cat([torch.zeros_like(prompt_mask), reply_mask], 1), left=False)
        ids = ids.masked_fill(mask == 0, self.pad_id)
        return {"input_ids": ids, "attention_mask": mask, "position_ids": positions(mask),
                "labels": ids.masked_fill(is_reply == 0, -100)}

    def _teacher_forced(self, context: Context, ids: Tensor, mask: Tensor, feed: int, use_cache: bool):
        """One teacher-forced pass over the prompts and the first ``feed`` reply tokens (B, S + feed), with
        gradient when enabled: next-token logits (B, feed + 1, V) after the prompt and after each fed token, the KV
        cache of all S + feed positions (None unless ``use_cache``), their attention mask (B, S + feed) and S.

        Rows with the same context (K replies per context) share their prompt: it is read once per distinct
        context (:func:`~seqgan.models.hf_policy.distinct_rows`), its cache and last logits are copied to the rows
        that share it (gradients flow back through the copies), and only the reply tokens are read per row. With
        prompts of S tokens and K replies of T, that is ``S + K T`` token positions per context instead of
        ``K (S + T)``; the numbers are those of one pass over each row (up to float rounding)."""
        full, full_mask, s = self._sequence(context, ids, mask)
        full, full_mask = full[:, :s + feed], full_mask[:, :s + feed]
        pos = positions(full_mask)
        shared = distinct_rows(context)
        if shared is None:
            out = self._forward(full, full_mask, pos, use_cache=use_cache, keep=feed + 1)
            return out.logits, out.cache if use_cache else None, full_mask, s
        distinct, row_of = shared  # (U, S) contexts, (B,) the distinct row of each row
        prompt, prompt_mask = self._prompt(distinct)  # the same left-padded width S as the full batch
        head = self._forward(prompt, prompt_mask, positions(prompt_mask), keep=1)
        first, cache = head.logits[row_of], select_rows(head.cache, row_of)  # (B, 1, V), the prompts' cache
        if feed == 0:
            return first, cache if use_cache else None, full_mask, s
        rest = self._forward(full[:, s:], full_mask, pos[:, s:], cache, use_cache=use_cache, keep=feed)
        return torch.cat([first, rest.logits], 1), rest.cache if use_cache else None, full_mask, s

    def logits(self, context: Context, ids: Tensor, mask: Tensor) -> Tensor:
        """Teacher-forced next-token logits (B, T, V), with gradient: ``logits[b, t]`` scores ``ids[b, t]``."""
        t = ids.shape[1]  # the last reply token predicts nothing: it is not fed
        return self._teacher_forced(context, ids, mask, t - 1, use_cache=False)[0]

    # ------------------------------------------------------------------ decoding (the loops are HFPolicy's)
    # state: (KV cache or None, attention mask (N, L) of the cached tokens, position (N,) of the next fed token)
    def _start(self, context: Context):
        """Every prompt token but the last goes through the model once; the last is fed first."""
        shared = distinct_rows(context)
        prompt, mask = self._prompt(context if shared is None else shared[0])
        head, head_mask = prompt[:, :-1], mask[:, :-1]
        cache = self._forward(head, head_mask, positions(head_mask), keep=1).cache if head.shape[1] else None
        if shared is not None:  # each distinct prompt read once, its cache copied to the rows that share it
            row_of = shared[1]
            prompt, mask, head_mask = prompt[row_of], mask[row_of], head_mask[row_of]
        if cache is not None:
            cache = decoding_cache(cache, None if shared is None else row_of)
        return (cache, head_mask, mask.sum(1) - 1), prompt[:, -1]

    def _step(self, state, last: Tensor):
        cache, mask, pos = state
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
        out = self._forward(last[:, None], mask, pos[:, None], cache)
        return out.logits[:, -1], (out.cache, mask, pos + 1)

    def _keep(self, state, rows: Tensor):
        cache, mask, pos = state
        return decoding_cache(cache, rows), mask[rows], pos[rows]

    def _prefixes(self, context: Context, ids: Tensor, mask: Tensor):
        """One pass over prompt + reply (B, S + T): its logits at column S + t - 1 follow prefix t, its first S + t
        cache positions are prefix t's (every row's prefix ends at the same column: prompts are left-padded).

        ``state_after(rows, t)``: the decoding state of ``rows`` (M,) after prefix length ``t``, an int (the cache
        cut to S + t columns) or a tensor (M,) of lengths per row (the whole cache, the reply columns from S + t on
        masked out: rows of different prefix lengths then decode together, their position ids per row)."""
        t_len = ids.shape[1]
        logits, cache, full_mask, s = self._teacher_forced(context, ids, mask, t_len, use_cache=True)
        prompt_len = full_mask[:, :s].sum(1)  # (B,) real prompt tokens

        def state_after(rows: Tensor, t: int | Tensor):
            if isinstance(t, int):
                return decoding_cache(cache, rows, s + t), full_mask[rows, :s + t], prompt_len[rows] + t
            cols = torch.arange(full_mask.shape[1], device=full_mask.device)
            seen = full_mask[rows] * (cols < s + t[:, None])  # (M, S + T)
            return decoding_cache(cache, rows), seen, prompt_len[rows] + t

        return logits[:, 1:t_len], state_after

    def _input_embedding(self) -> torch.nn.Module:
        return self.model.get_input_embeddings()

    def _relaxed_start(self, context: Context):
        prompt, mask = self._prompt(context)
        out = self._forward(prompt, mask, positions(mask), keep=1)
        return (out.cache, mask, mask.sum(1)), out.logits[:, -1]

    def _relaxed_step(self, state, embeds: Tensor):
        cache, mask, pos = state
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
        out = self._forward(None, mask, pos[:, None], cache, embeds=embeds)
        return out.logits[:, -1], (out.cache, mask, pos + 1)

    # ------------------------------------------------------------------ HF generate
    def _generate(self, context: Context, gen: GenerationConfig) -> Tensor:
        """New tokens (B*R, T') of HF ``generate`` after the left-padded prompts."""
        prompt, mask = self._prompt(context)
        return self.model.generate(input_ids=prompt, attention_mask=mask, generation_config=gen)[:, prompt.shape[1]:]
