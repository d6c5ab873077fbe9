"""Chat over a trained run: the loaded run (:mod:`.bot`), the session logic (:mod:`.session`), the terminal loop
(:mod:`.repl`), the web chat (:mod:`.web`) and the discriminator score hook (:mod:`.scoring`)."""

from seqgan.chat.session import ChatSession, Output, Responder, Scorer

__all__ = ["ChatSession", "Output", "Responder", "Scorer"]
