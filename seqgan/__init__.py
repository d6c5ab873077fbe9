"""seqgan: adversarial text generation for dialogue.

A seq2seq chatbot is trained by maximum likelihood, then fine-tuned against a conditional discriminator D(c, x)
whose score is the generator's reward. Importing the package has no side effects; entry points (the `seqgan`
command, recipe scripts, tests) call :func:`seqgan.offline.enable_offline` before touching transformers/datasets.
"""

__version__ = "0.1.0"
