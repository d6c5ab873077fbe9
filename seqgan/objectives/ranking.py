"""RankGAN's ranker objective (Lin et al. 2017): rank human sentences above generated ones.

``max  E_{s ~ human} log R(s | U, C-)  -  E_{s ~ G} log R(s | U, C+)``, where U is a reference set of human
sentences, C- the generated sentences a human sentence is ranked among and C+ the human ones a generated sentence
is ranked among (:func:`seqgan.models.ranker.log_rank`). Minimised here as its negative.
"""

from __future__ import annotations

import math

from torch import Tensor

from seqgan.models.ranker import Ranker, log_rank


def ranker_loss(ranker: Ranker, human: Tensor, generated: Tensor, reference: Tensor) -> tuple[Tensor, dict[str, float]]:
    """Loss and terms for (B, T) human and (B', T) generated sentences and a (U, T) reference set: every human
    sentence is ranked among all generated ones and vice versa (features computed once, with gradient).

    Terms: ``log_rank_human`` (mean log R of human sentences among generated ones, -> 0 as the ranker learns),
    ``log_rank_generated`` (mean log R of generated sentences among human ones, falls as it learns) and
    ``acc_human`` / ``acc_generated``: the share of human sentences ranked above chance among the generated ones,
    and of generated sentences ranked below chance among the human ones (chance: R = 1 / (C + 1))."""
    f_h, f_g, f_u = ranker.features(human), ranker.features(generated), ranker.features(reference)
    lr_h = log_rank(f_h, f_u, f_g, ranker.gamma)  # (B,)
    lr_g = log_rank(f_g, f_u, f_h, ranker.gamma)  # (B',)
    loss = -lr_h.mean() + lr_g.mean()
    chance_h, chance_g = -math.log(generated.shape[0] + 1), -math.log(human.shape[0] + 1)
    terms = {"log_rank_human": float(lr_h.detach().mean()), "log_rank_generated": float(lr_g.detach().mean()),
             "acc_human": float((lr_h.detach() > chance_h).float().mean()),
             "acc_generated": float((lr_g.detach() < chance_g).float().mean())}
    return loss, terms
