"""Maximum-likelihood pretraining of the chatbot: its config sections (``mle``, ``eval``), the trainer
(:func:`seqgan.mle.trainer.train_mle`), held-out evaluation and the MLE curves of a run."""
