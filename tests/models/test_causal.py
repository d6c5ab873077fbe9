"""CausalLMPolicy specifics: the joint rollout of every prefix length equals the per-prefix one."""

from __future__ import annotations

import pytest
import torch
from pretrained_toys import save_toy

from seqgan.models.generators import load_pretrained_model, load_pretrained_tokenizer, policy_from_model
from seqgan.models.policy import Context, Replies


@pytest.fixture(params=["gpt2", "llama"])
def causal(request, tmp_path):
    path = save_toy(request.param, tmp_path / request.param, seed=3)
    policy = policy_from_model(load_pretrained_model(path), load_pretrained_tokenizer(path), 9).eval()
    # spread the random toy's logits (not its tied input embeddings): no near-ties for near-greedy comparisons
    policy.model.get_output_embeddings().register_forward_hook(lambda module, inputs, out: out * 30.0)
    torch.manual_seed(0)
    ids = torch.randint(3, 200, (5, 6))
    mask = torch.ones_like(ids)
    mask[1, 4:] = 0
    mask[3, 1:] = 0  # prompts of different lengths: left padding inside the policy
    return policy, Context(ids.masked_fill(mask == 0, policy.pad_id), mask)


def test_joint_rollout_equals_the_rollout_per_prefix_length(causal):
    """Rows of every prefix length decode together, the reply tokens after each row's prefix masked out of its
    cache: near temperature 0 each completion must be the one decoded from that prefix alone, in chunks or not."""
    policy, ctx = causal
    assert policy.joint_prefixes
    torch.manual_seed(1)
    reply = policy.sample(ctx, temperature=1.0)
    ids = reply.ids.clone()
    ids[2, 3] = policy.eos_id  # a reply that ends early: its later prefixes are copied, not completed
    reply = Replies(*policy_finish(policy, ids))
    joint = policy.rollout(ctx, reply, 2, temperature=1e-4, max_len=12)
    policy.rollout_rows = 3  # chunks of one pair (n 2) and a half: the chunking must not matter
    chunked = policy.rollout(ctx, reply, 2, temperature=1e-4, max_len=12)
    policy.joint_prefixes = False
    per_prefix = policy.rollout(ctx, reply, 2, temperature=1e-4, max_len=12)
    assert torch.equal(joint.ids, per_prefix.ids) and torch.equal(joint.mask, per_prefix.mask)
    assert torch.equal(chunked.ids, per_prefix.ids) and torch.equal(chunked.mask, per_prefix.mask)
    assert int(per_prefix.mask[:, :, :, reply.ids.shape[1]:].sum()) > 0, "some completions run past the reply"


def policy_finish(policy, ids):
    from seqgan.models.hf_policy import finish_replies

    return finish_replies(ids, policy.pad_id, policy.eos_id)
