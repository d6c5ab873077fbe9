"""The "cheating score" of the continuous-vector route: can D tell real from generated inputs *without reading
the text*?

A human reply reaches D as one-hot vectors; G's reply (continuous route) as softmax vectors. A trivial classifier
that sees only, per sequence, summaries of each position's maximum probability and entropy separates the two
perfectly, so D can win without learning anything about language and G is pushed towards peaked (one-hot-like)
outputs instead of better ones. The score is the cross-validated ROC AUC of a logistic regression (scikit-learn)
on those features: 0.5 = nothing to exploit, 1.0 = trivially separable. ``cheat_acc`` is its cross-validated
accuracy.

Shapes: ``B`` batch, ``T`` reply length, ``V`` vocabulary.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

FEATURES = ("mean_max_prob", "min_max_prob", "mean_entropy", "max_entropy")


@torch.no_grad()
def shape_features(inputs: Tensor, mask: Tensor) -> np.ndarray:
    """(B, 4) features of what D reads: ids (B, T) (exact one-hots: max prob 1, entropy 0) or vectors (B, T, V);
    mask (B, T). Columns: mean and min over real positions of the max probability, mean and max of the entropy."""
    m = mask.bool()
    if inputs.dim() == 2:
        max_p = torch.ones(inputs.shape, dtype=torch.float64)
        ent = torch.zeros(inputs.shape, dtype=torch.float64)
    else:
        p = inputs.detach().double().clamp(min=0)
        p = p / p.sum(-1, keepdim=True).clamp(min=1e-12)
        max_p = p.amax(-1)
        ent = -(p * p.clamp(min=1e-12).log()).sum(-1)
    m = m.to(max_p.device)
    count = m.sum(1).clamp(min=1)
    feats = [
        (max_p * m).sum(1) / count,
        max_p.masked_fill(~m, float("inf")).amin(1),
        (ent * m).sum(1) / count,
        ent.masked_fill(~m, float("-inf")).amax(1),
    ]
    out = torch.stack(feats, 1)
    return torch.where(torch.isfinite(out), out, torch.zeros_like(out)).cpu().numpy()


def cheating_score(real: Tensor, real_mask: Tensor, fake: Tensor, fake_mask: Tensor, folds: int = 5,
                   seed: int = 0) -> dict[str, float]:
    """Cross-validated AUC and accuracy of a logistic regression telling real from fake D inputs by
    :func:`shape_features` alone. real/fake: ids (B, T) or vectors (B, T, V); masks (B, T). Deterministic for a
    given ``seed``. Returns ``{"cheat_auc": ..., "cheat_acc": ...}``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.concatenate([shape_features(real, real_mask), shape_features(fake, fake_mask)])
    y = np.concatenate([np.ones(real.shape[0]), np.zeros(fake.shape[0])])
    k = min(folds, real.shape[0], fake.shape[0])
    if k < 2:
        raise ValueError("cheating_score needs at least 2 real and 2 generated sequences")
    if np.allclose(x, x[:1]):  # identical features: nothing to learn from
        return {"cheat_auc": 0.5, "cheat_acc": 0.5}
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    score = cross_val_predict(model, x, y, cv=cv, method="decision_function")
    return {"cheat_auc": float(roc_auc_score(y, score)), "cheat_acc": float(((score > 0) == (y == 1)).mean())}
