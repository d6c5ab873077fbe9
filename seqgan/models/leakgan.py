"""LeakGAN's generator (Guo et al. 2018, "Long Text Generation via Adversarial Training with Leaked Information").

D leaks the features it extracts from the current prefix to G. A MANAGER LSTM reads the leaked feature vector f_t
of the prefix x_<t and emits a unit goal vector g_t in D's feature space (where it wants the features to move); a
WORKER LSTM reads the tokens and emits a matrix O_t (V x k); the goals of the last c steps, projected to k
dimensions, ``w_t = psi(g_{t-c+1} + ... + g_t)``, pick the next-token logits ``O_t w_t`` (``softmax(O_t w_t)`` is
the policy). Training (:mod:`seqgan.objectives.leakgan`): the manager learns goals that point where D's features
move in the next c tokens (``cos(f_{t+c} - f_t, g_t)``, weighted by the Monte Carlo value of the outcome in the
adversarial phase); the worker is rewarded intrinsically for moving the features along its goals
(``r^I_t = 1/c sum_i cos(f_t - f_{t-i}, g_{t-i})``) and learns by maximum likelihood in pretraining. No gradient
flows from the worker into the manager (the goals enter ``psi`` detached).

The leaked features are D's per-prefix features after its highway layer (:meth:`Discriminator.prefix_features`,
the CNN encoder's causal convolutions and running max); :class:`LeakedFeatures` computes them for a whole batch of
sequences or one token at a time (sampling, rollouts), with the same result. f_0 (the empty prefix) is 0. G reads
D through :meth:`LeakGANPolicy.attach`; D is never trained through G.

Unconditional and fixed-length like :class:`~seqgan.models.lstm.LSTMPolicy`. Shapes: ``B`` batch, ``T`` length,
``V`` vocabulary, ``E`` embedding, ``H`` worker / manager hidden size, ``F`` feature size (D's filters),
``k`` goal size, ``c`` step size, ``N`` rollouts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqgan.models.discriminator import CNNEncoder, Discriminator
from seqgan.models.lstm import PositiveSizes, UnconditionalPolicy, token_logprobs
from seqgan.models.policy import Context, Replies, eval_mode
from seqgan.models.relaxed import RelaxedReplies, check_mode, finish_relaxed, relax
from seqgan.models.sampling import sample_logits


@dataclass
class LeakGANShape(PositiveSizes):
    """Sizes of a :class:`LeakGANPolicy` (LeakGAN's synthetic-data generator: 5,000 / 32 / 32 / 16 / 4 / 20; the
    feature size is D's number of filters)."""

    SECTION = "leakgan"

    vocab_size: int = 5000
    embed_dim: int = 32
    hidden_dim: int = 32
    goal_size: int = 16
    step_size: int = 4
    seq_len: int = 20
    feature_dim: int = 1720


class LeakedFeatures:
    """D's leaked features of every prefix, for a batch or incrementally (D in eval mode, no gradient)."""

    def __init__(self, disc: Discriminator) -> None:
        if not isinstance(getattr(disc, "reply_encoder", None), CNNEncoder):
            raise ValueError("LeakGAN leaks the features of a CNN discriminator (encoder: cnn)")
        self.disc = disc
        self.encoder: CNNEncoder = disc.reply_encoder
        self.dim = self.encoder.out_dim

    @torch.no_grad()
    def all_prefixes(self, ids: Tensor) -> Tensor:
        """(B, T) -> (B, T + 1, F): entry t is f_t, the features of x_1..x_t (f_0 = 0)."""
        with eval_mode(self.disc):
            feats = self.disc.prefix_features(ids, torch.ones_like(ids))  # (B, T, F)
        return torch.cat([feats.new_zeros(ids.shape[0], 1, self.dim), feats.float()], dim=1)

    def start(self, rows: int, device) -> dict[str, Tensor]:
        """The state of the empty prefix: a window of zero embeddings and a running max of 0, f = 0."""
        enc, emb = self.encoder, self.disc.embedding.weight
        return {"window": emb.new_zeros(rows, enc.width, emb.shape[1]),
                "runmax": emb.new_zeros(rows, enc.out_dim), "f": emb.new_zeros(rows, self.dim)}

    @torch.no_grad()
    def advance(self, state: dict[str, Tensor], tokens: Tensor) -> dict[str, Tensor]:
        """Append ``tokens`` (R,) to the prefixes of ``state``: the windows ending at the new token, one per filter
        width, update the running max; f is the readout of that max (= :meth:`all_prefixes` at the new length)."""
        enc = self.encoder
        window = torch.cat([state["window"][:, 1:], self.disc.embedding(tokens).unsqueeze(1)], dim=1)  # (R, W, E)
        outs = [torch.einsum("rke,nek->rn", window[:, enc.width - w:], weight) + bias
                for w, weight, bias in zip(enc.widths, enc.weights, enc.biases)]
        runmax = torch.maximum(state["runmax"], F.relu(torch.cat(outs, -1)))  # (R, F)
        with eval_mode(self.disc):
            f = enc.readout(runmax)
        return {"window": window, "runmax": runmax, "f": f.float()}


class LeakGANPolicy(UnconditionalPolicy):
    """The manager / worker generator; :meth:`attach` a CNN D before sampling or scoring."""

    STATE = ("hw", "cw", "hm", "cm", "goals", "x", "window", "runmax", "f")

    def __init__(self, shape: LeakGANShape) -> None:
        super().__init__()
        shape.validate()
        self.shape = shape
        self.vocab_size, self.pad_id, self.eos_id, self.max_reply_len = shape.vocab_size, 0, None, shape.seq_len
        V, E, H, k, Fd = shape.vocab_size, shape.embed_dim, shape.hidden_dim, shape.goal_size, shape.feature_dim
        self.embedding = nn.Embedding(V, E)
        self.start = nn.Parameter(torch.randn(E) * 0.1)
        self.worker = nn.LSTMCell(E, H)
        self.worker_out = nn.Linear(H, V * k)
        self.psi = nn.Linear(Fd, k, bias=False)
        self.manager = nn.LSTMCell(Fd, H)
        self.manager_out = nn.Linear(H, Fd)
        self.leak: LeakedFeatures | None = None

    # ------------------------------------------------------------------ D and parameter groups
    def attach(self, disc: Discriminator) -> LeakGANPolicy:
        """Read leaked features from ``disc`` (kept by reference: D's later updates are seen). Returns self."""
        leak = LeakedFeatures(disc)
        if leak.dim != self.shape.feature_dim:
            raise ValueError(f"D leaks {leak.dim} features, the generator expects {self.shape.feature_dim}")
        self.leak = leak
        return self

    def worker_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if not n.startswith("manager")]

    def manager_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if n.startswith("manager")]

    def _leak(self) -> LeakedFeatures:
        if self.leak is None:
            raise RuntimeError("LeakGANPolicy needs D's leaked features: call attach(disc) first")
        return self.leak

    # ------------------------------------------------------------------ one step
    def _goal_and_logits(self, f: Tensor, goals: Tensor, x: Tensor, hw, cw, hm, cm):
        """Manager step on f (R, F), worker step on x (R, E); goals (R, c, F) holds the last c goals. Returns the
        logits (R, V), the new goal (R, F), the shifted goals and the new LSTM states."""
        hm, cm = self.manager(f, (hm, cm))
        goal = F.normalize(self.manager_out(hm), dim=-1)  # (R, F)
        goals = torch.cat([goals[:, 1:], goal.unsqueeze(1)], dim=1)
        w = self.psi(goals.detach().sum(1))  # (R, k): no gradient from the worker into the manager
        hw, cw = self.worker(x, (hw, cw))
        O = self.worker_out(hw).view(x.shape[0], self.vocab_size, self.shape.goal_size)  # (R, V, k)
        return torch.bmm(O, w.unsqueeze(-1)).squeeze(-1), goal, goals, hw, cw, hm, cm

    def unroll(self, ids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Teacher forcing of (B, T) ids: logits (B, T, V) (logits[:, t] predicts ids[:, t]), goals (B, T, F) with
        gradient to the manager, leaked features (B, T + 1, F)."""
        B, T = ids.shape
        feats = self._leak().all_prefixes(ids)  # (B, T + 1, F)
        H, c = self.shape.hidden_dim, self.shape.step_size
        zeros = feats.new_zeros(B, H)
        hw, cw, hm, cm = zeros, zeros, zeros, zeros
        goals = feats.new_zeros(B, c, self.shape.feature_dim)
        x, logits, emitted = self.start.expand(B, -1), [], []
        for t in range(T):
            lg, goal, goals, hw, cw, hm, cm = self._goal_and_logits(feats[:, t], goals, x, hw, cw, hm, cm)
            logits.append(lg)
            emitted.append(goal)
            x = self.embedding(ids[:, t])
        return torch.stack(logits, 1), torch.stack(emitted, 1), feats

    def _init_state(self, rows: int) -> dict[str, Tensor]:
        dev = self.start.device
        zeros = torch.zeros(rows, self.shape.hidden_dim, device=dev)
        return {"hw": zeros, "cw": zeros, "hm": zeros, "cm": zeros,
                "goals": torch.zeros(rows, self.shape.step_size, self.shape.feature_dim, device=dev),
                "x": self.start.detach().expand(rows, -1), **self._leak().start(rows, dev)}

    def _step(self, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """Logits (R, V) of the next token of every row and the state with the new LSTM states and goals."""
        lg, _, goals, hw, cw, hm, cm = self._goal_and_logits(state["f"], state["goals"], state["x"], state["hw"],
                                                             state["cw"], state["hm"], state["cm"])
        return lg, {**state, "goals": goals, "hw": hw, "cw": cw, "hm": hm, "cm": cm}

    def _advance(self, state: dict[str, Tensor], tokens: Tensor) -> dict[str, Tensor]:
        """The state after appending ``tokens`` (R,): the worker's next input and the leaked features."""
        return {**state, "x": self.embedding(tokens), **self._leak().advance(state, tokens)}

    # ------------------------------------------------------------------ Policy
    def score(self, context: Context, ids: Tensor, mask: Tensor, temperature: float = 1.0) -> Tensor:
        """(B, T) -> (B, T) log p_T(x_t | x_<t) (``log_softmax(logits / temperature)``), with gradient (worker and
        psi; the goals are constants)."""
        self._check_context(context)
        return token_logprobs(self.unroll(ids)[0], ids, mask, temperature)

    def logits(self, ids: Tensor) -> Tensor:
        """(B, T) -> (B, T, V) teacher-forced logits (for NLL-test at a temperature)."""
        return self.unroll(ids)[0]

    @torch.no_grad()
    def sample(self, context: Context, max_len: int | None = None, temperature: float = 1.0,
               greedy: bool = False) -> Replies:
        self._check_context(context)
        B, T = context.batch_size, int(max_len or self.max_reply_len)
        state, ids, logps = self._init_state(B), [], []
        for _ in range(T):
            logits, state = self._step(state)
            tok, lp = sample_logits(logits, temperature=temperature, greedy=greedy)
            ids.append(tok[:, 0])
            logps.append(lp[:, 0])
            state = self._advance(state, tok[:, 0])
        ids_t = torch.stack(ids, 1)
        return Replies(ids=ids_t, mask=torch.ones_like(ids_t), logprobs=torch.stack(logps, 1))

    @torch.no_grad()
    def rollout(self, context: Context, replies: Replies, n: int, temperature: float = 1.0,
                max_len: int | None = None) -> Replies:
        """(B, T) -> (B, T-1, N, T). One teacher-forced pass records the state after every prefix; the B*(T-1)*N
        completions are ordered by prefix length, so step j advances only the rows whose prefix is <= j tokens."""
        self._check_context(context)
        ids = replies.ids
        B, T = ids.shape
        if max_len is not None and int(max_len) > T:  # fixed length: completions fill the replies' own T
            raise ValueError(f"a fixed-length policy completes prefixes to the replies' length {T}, not to {max_len}")
        if T < 2:
            empty = ids.new_zeros(B, 0, n, T)
            return Replies(ids=empty, mask=torch.ones_like(empty))
        state, recorded = self._init_state(B), []
        for t in range(T - 1):  # recorded[t]: the state before generating token index t + 1
            _, state = self._step(state)
            state = self._advance(state, ids[:, t])
            recorded.append(state)
        rows = {key: torch.cat([s[key].repeat_interleave(n, dim=0) for s in recorded]) for key in self.STATE}
        out = ids.unsqueeze(0).unsqueeze(2).expand(T - 1, B, n, T).reshape(-1, T).clone()  # (P*B*N, T)
        for j in range(1, T):
            k = j * B * n  # blocks of prefix length 1..j generate token index j
            part = {key: value[:k] for key, value in rows.items()}
            logits, part = self._step(part)
            tok = sample_logits(logits, temperature=temperature)[0][:, 0]
            out[:k, j] = tok
            if j < T - 1:
                part = self._advance(part, tok)
                for key in self.STATE:
                    rows[key][:k] = part[key]
        out = out.view(T - 1, B, n, T).transpose(0, 1)  # (B, P, N, T)
        return Replies(ids=out, mask=torch.ones_like(out))

    def relaxed_sample(self, context: Context, max_len: int | None = None, tau: float = 1.0,
                       mode: str = "gumbel_soft", generator: torch.Generator | None = None) -> RelaxedReplies:
        """Differentiable decoding as RelGAN's: y_t = relax(logits_t) (B, V) with gradient (to the worker), the hard
        token argmax y_t fed back (the leaked features read tokens). probs/logits (B, T, V), an all-ones mask."""
        self._check_context(context)
        check_mode(mode, tau)
        B, T = context.batch_size, int(max_len or self.max_reply_len)
        state, ys, logits_all = self._init_state(B), [], []
        for _ in range(T):
            logits, state = self._step(state)
            y = relax(logits, tau, mode, generator)  # (B, V)
            ys.append(y)
            logits_all.append(logits)
            state = self._advance(state, y.detach().argmax(-1))
        return finish_relaxed(torch.stack(ys, 1), torch.stack(logits_all, 1), None, self.pad_id)

    # ------------------------------------------------------------------ persistence
    def pretrained_config(self) -> dict:
        return asdict(self.shape)

    @classmethod
    def from_config(cls, config: dict, source: str) -> LeakGANPolicy:
        return cls(LeakGANShape(**config))
