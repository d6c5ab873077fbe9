"""The synthetic-oracle benchmark of SeqGAN (Yu et al., AAAI 2017), everything of it in one package.

- :mod:`~seqgan.oracle.config`: ``OracleConfig`` (``seqgan oracle --recipe recipes/oracle_cpu.yaml``);
- :mod:`~seqgan.oracle.data`: the random LSTM oracle and its train/test samples;
- :mod:`~seqgan.oracle.metrics`: NLL-oracle, NLL-test (at a sampling temperature), the oracle's entropy;
- :mod:`~seqgan.oracle.frontier`: MLE's temperature frontier and each row's distance to it (the verdict);
- :mod:`~seqgan.oracle.scorers`: the rewards of the PG-BLEU row and the constant / uniform-random controls;
- :mod:`~seqgan.oracle.benchmark`: the benchmark (shared MLE and D checkpoints, one row at a time, resumable);
- :mod:`~seqgan.oracle.relaxed`: the rows that train G through D (``gumbel_st``, ``continuous``);
- :mod:`~seqgan.oracle.cli`: the ``seqgan oracle`` command.
"""
