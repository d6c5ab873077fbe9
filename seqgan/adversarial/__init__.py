"""Adversarial fine-tuning of an MLE-pretrained chatbot against a conditional discriminator D(c, x).

- :mod:`~seqgan.adversarial.config`: the ``adversarial`` section (rounds, reward, baseline, the route keys);
- :mod:`~seqgan.adversarial.trainer`: the one alternating loop (batching, ``requires_grad``, teacher forcing,
  counters, resumable state);
- :mod:`~seqgan.adversarial.routes`: how G learns from D (policy gradient; Gumbel-softmax / continuous / WGAN-GP),
  each route a D-step and a G-step;
- :mod:`~seqgan.adversarial.d_pretrain`: D pretraining against the fixed MLE generator;
- :mod:`~seqgan.adversarial.stage`: the stage on a run directory (checkpoints, logs, plots, several processes);
- :mod:`~seqgan.adversarial.compare`: MLE vs adversarial table, with AdverSuc against a fresh evaluator D;
- :mod:`~seqgan.adversarial.cli`: ``seqgan train RUN_DIR``.
"""
