"""Config of the synthetic-oracle benchmark (``seqgan oracle``): one dataclass per part, YAML + CLI overrides."""

from __future__ import annotations

from dataclasses import dataclass

from seqgan.config import check_fields, field
from seqgan.errors import ConfigError
from seqgan.tracking import TrackingConfig
from seqgan.models.discriminator import DiscriminatorConfig
from seqgan.models.relgan_discriminator import MultiRepConfig

ROWS = ("random", "mle", "mle_continued", "scheduled_sampling", "pg_bleu", "seqgan", "prefix", "constant",
        "uniform_random", "gumbel_st", "continuous")
PEERS = ("maligan", "rankgan", "leakgan", "relgan")  # the peer text GANs: rows asked for by name
ALL_ROWS = ROWS + PEERS


@dataclass
class OracleDataConfig:
    vocab_size: int = field(5000, help="oracle / generator vocabulary")
    embed_dim: int = field(32, help="oracle / generator embedding size")
    hidden_dim: int = field(32, help="oracle / generator LSTM hidden size")
    seq_len: int = field(20, help="sequence length")
    oracle_seed: int = field(88, help="seed of the oracle's N(0, 1) parameters (and of its samples)")
    oracle_params: str = field("", help="the SeqGAN reference oracle: path of LantaoYu/SeqGAN's "
                                        "save/target_params_py3.pkl (read without unpickling code; its sizes must "
                                        "match vocab_size / embed_dim / hidden_dim); empty: a random N(0, 1) LSTM "
                                        "drawn with oracle_seed")
    n_train: int = field(10000, ge=1, help="oracle samples used as training data")
    n_test: int = field(10000, ge=1, help="held-out oracle samples for NLL-test")
    n_valid: int = field(2000, ge=0, help="held-out oracle samples for MLE early stopping (mle.patience), apart from "
                                          "the test samples")
    n_eval: int = field(10000, ge=1, help="model samples scored by the oracle for NLL-oracle")
    bleu_references: int = field(10000, help="PG-BLEU: oracle training samples used as BLEU references")


@dataclass
class OracleMLEConfig:
    epochs: int = field(120, help="MLE pretraining epochs (the most, with mle.patience)")
    patience: int = field(0, ge=0, help="early stopping: stop after this many epochs without a lower NLL on the "
                                        "data.n_valid held-out samples and keep the best epoch's weights (0: run every "
                                        "epoch)")
    batch_size: int = field(64, ge=1, help="MLE batch size")
    init: str = field("default", choices=("default", "normal"),
                      help="generator initialisation: default (torch's) or normal (every parameter N(0, 0.1), the "
                           "reference code's)")
    shuffle: bool = field(True, help="visit the training data in a new random order every epoch; false: the same "
                                     "fixed batches in file order every epoch (the reference code's data loader)")
    lr: float = field(0.01, help="generator Adam learning rate (MLE and policy gradient)")
    grad_clip: float = field(5.0, help="generator gradient-norm clip")


@dataclass
class OracleDiscConfig:
    model: DiscriminatorConfig = field(DiscriminatorConfig, help="the CNN discriminator")
    lr: float = field(1e-4, help="discriminator Adam learning rate")
    batch_size: int = field(64, ge=1, help="discriminator batch size: rows of each side (composition paired) or "
                                           "rows of the mixed pool (composition mixed)")
    composition: str = field("paired", choices=("paired", "mixed"),
                             help="paired: each step takes batch_size real rows (drawn with replacement) and "
                                  "batch_size generated ones, loss real + fake; mixed (the reference code): every "
                                  "training sequence and the fresh negatives in one shuffled pool cut into batches of "
                                  "batch_size rows (last partial batch dropped), loss the mean cross-entropy over "
                                  "the batch")
    negatives: int = field(10000, ge=1, help="generated negatives per refresh (paired: and as many real positives)")
    pretrain_refreshes: int = field(50, help="D pretraining: times fresh negatives are drawn")
    epochs: int = field(3, help="D epochs over each set of negatives")


@dataclass
class OracleAdvConfig:
    rounds: int = field(200, ge=1, help="adversarial rounds (each: g_steps generator steps, then D updates)")
    g_steps: int = field(1, ge=1, help="policy-gradient steps per round")
    batch_size: int = field(64, ge=1, help="sequences per policy-gradient step")
    rollouts: int = field(16, ge=1, help="Monte Carlo rollouts per prefix")
    rollout_rate: float = field(0.8, ge=0, lt=1, help="rollout network = lagging copy of G, theta_r <- rate*theta_r + "
                                                      "(1-rate)*theta_G")
    fresh_optimizer: bool = field(True, help="policy-gradient rows start a new Adam (lr mle.lr) as the reference code "
                                             "does (its adversarial g_opt is a second AdamOptimizer); false "
                                             "continues the MLE optimizer's moments")
    d_refreshes: int = field(5, help="D updates per round: times fresh negatives are drawn")
    constant_value: float = field(0.5, help="control row 'constant': the reward every sequence gets")
    ss_max_prob: float = field(0.25, help="scheduled sampling: final probability of feeding the model's own token")
    eval_every: int = field(10, ge=1, help="rounds between NLL-oracle evaluations (learning curves)")
    curve_samples: int = field(1000, ge=1, help="model samples per learning-curve point (the final table uses "
                                                "data.n_eval)")
    mle_epochs_per_round: float = field(1.0, help="MLE-continued / scheduled-sampling budget per round, in epochs")
    pg_reduction: str = field("mean", choices=("mean", "sum"),
                              help="policy-gradient loss over the batch's tokens: mean, or sum (the reference code: "
                                   "-sum r log p, so the gradient-norm clip rescales nearly every step)")


@dataclass
class OracleFrontierConfig:
    temperatures: list[float] = field([0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2], gt=0,
                                      help="MLE's temperature frontier: sampling temperatures (empty: no frontier)")
    samples: int = field(2000, ge=1, help="model samples per temperature for NLL-oracle (NLL-test uses every test "
                                          "sample)")


@dataclass
class MaliGANConfig:
    """MaliGAN (Che et al. 2017): the seqgan row's loop and D, G's reward the normalised D/(1-D) of its samples."""

    baseline: bool = field(True, help="subtract the mean weight 1/K from the normalised weights (the paper's baseline; "
                                      "K = adv.batch_size, the samples of one step)")
    rounds: int = field(0, ge=0, help="adversarial rounds (0: adv.rounds)")


@dataclass
class RankGANConfig:
    """RankGAN (Lin et al. 2017): a ranker (the CNN of disc.model, its optimiser and counts) instead of D."""

    gamma: float = field(1.0, gt=0, help="inverse temperature of the rank softmax over cosine similarities")
    reference_size: int = field(16, ge=1, help="human sentences in the reference set U (drawn for every step)")
    comparison_size: int = field(64, ge=1, help="human sentences a generated one is ranked among for G's reward (C+)")
    pretrain_refreshes: int = field(0, ge=0, help="ranker pretraining refreshes (0: disc.pretrain_refreshes)")
    rounds: int = field(0, ge=0, help="adversarial rounds (0: adv.rounds)")


@dataclass
class LeakGANConfig:
    """LeakGAN (Guo et al. 2018): a manager / worker generator reading D's leaked features; its own pretraining."""

    embed_dim: int = field(32, ge=1, help="worker embedding size")
    hidden_dim: int = field(32, ge=1, help="worker and manager LSTM hidden size")
    goal_size: int = field(16, ge=1, help="k: the worker's goal embedding size")
    step_size: int = field(4, ge=1, help="c: goals summed over the last c steps; the manager looks c tokens ahead")
    lr: float = field(0.0015, gt=0, help="Adam learning rate of the worker and the manager in pretraining")
    adv_lr: float = field(0.0, ge=0, help="their learning rate in the adversarial phase (fresh Adams; 0: lr)")
    pretrain_rounds: int = field(10, ge=0, help="pretraining: rounds of (D refreshes, G epochs)")
    pretrain_epochs: int = field(8, ge=0, help="pretraining: MLE (worker) + goal (manager) epochs per round")
    pretrain_d_refreshes: int = field(5, ge=0, help="pretraining: D refreshes on LeakGAN's samples per round")
    rounds: int = field(0, ge=0, help="adversarial rounds (0: adv.rounds); each: adv.g_steps G steps, adv.d_refreshes "
                                      "D refreshes")
    rollouts: int = field(4, ge=1, help="Monte Carlo rollouts per prefix for the manager's values")
    rescale_delta: float = field(16.0, gt=0, help="bootstrapped rescaled activation: sigmoid(delta * (rank/B - 1/2))")


@dataclass
class RelGANConfig:
    """RelGAN (Nie et al. 2019): relational-memory G, Gumbel-softmax with inverse temperature annealed from 1 to
    beta_max, the relativistic standard loss, the multiple-representation CNN D; its own pretraining and loop."""

    embed_dim: int = field(32, ge=1, help="generator embedding size")
    mem_slots: int = field(1, ge=1, help="relational memory slots")
    num_heads: int = field(2, ge=1, help="attention heads")
    head_size: int = field(256, ge=1, help="units per head (memory slot size = num_heads * head_size)")
    pretrain_epochs: int = field(150, ge=0, help="MLE epochs of the generator (Adam mle.lr, batch mle.batch_size)")
    steps: int = field(3000, ge=1, help="adversarial iterations (each: 1 G step, d_steps D steps)")
    d_steps: int = field(5, ge=1, help="D steps per iteration")
    batch_size: int = field(64, ge=1, help="real and generated sentences per step")
    g_lr: float = field(1e-4, gt=0, help="Adam learning rate of G in the adversarial phase")
    d_lr: float = field(1e-4, gt=0, help="Adam learning rate of D")
    beta_max: float = field(100.0, ge=1, help="largest inverse temperature of the Gumbel-softmax")
    adapt: str = field("relgan_exp", choices=("relgan_exp", "relgan_linear", "relgan_sigmoid"),
                       help="annealing of the inverse temperature over the steps")
    eval_every: int = field(100, ge=1, help="steps between learning-curve points")
    disc: MultiRepConfig = field(MultiRepConfig, help="the multiple-representation CNN D")


def row_rounds(cfg, name: str) -> int:
    """The adversarial rounds of row ``name``: its peer section's ``rounds`` when set, else ``adv.rounds``."""
    return getattr(getattr(cfg, name, None), "rounds", 0) or cfg.adv.rounds


@dataclass
class OracleConfig:
    seed: int = field(0, help="seed of the generator, sampling and training (the oracle has its own)")
    run_dir: str = field("runs/oracle", help="output directory (results.md/json, curves PNG, oracle, models)")
    threads: int = field(0, help="torch CPU threads (0: leave torch's default)")
    cpu: bool = field(False, help="run on the CPU even when accelerate finds a GPU")
    rows: list[str] = field(list(ROWS), choices=ALL_ROWS, help=f"rows of the table, from {list(ALL_ROWS)} (default: "
                                                                   "all but the peers)")
    data: OracleDataConfig = field(OracleDataConfig, help="oracle and data sizes")
    mle: OracleMLEConfig = field(OracleMLEConfig, help="MLE pretraining of the generator")
    disc: OracleDiscConfig = field(OracleDiscConfig, help="discriminator and its training")
    adv: OracleAdvConfig = field(OracleAdvConfig, help="adversarial / policy-gradient continuation")
    frontier: OracleFrontierConfig = field(OracleFrontierConfig, help="MLE's temperature frontier (the verdict)")
    maligan: MaliGANConfig = field(MaliGANConfig, help="row maligan")
    rankgan: RankGANConfig = field(RankGANConfig, help="row rankgan")
    leakgan: LeakGANConfig = field(LeakGANConfig, help="row leakgan")
    relgan: RelGANConfig = field(RelGANConfig, help="row relgan")
    tracking: TrackingConfig = field(TrackingConfig, help="live experiment tracking (TensorBoard, W&B, trackio ...) "
                                                          "besides metrics.jsonl")

    def validate(self) -> None:
        check_fields(self)
        self.tracking.validate()
        self.disc.model.validate()
        if self.disc.model.encoder == "cnn" and max(self.disc.model.filter_sizes) > self.data.seq_len:
            raise ConfigError(f"disc.model.filter_sizes: widest filter {max(self.disc.model.filter_sizes)} exceeds "
                              f"data.seq_len {self.data.seq_len}")
        self.relgan.disc.validate()
        if max(self.relgan.disc.filter_sizes) > self.data.seq_len:
            raise ConfigError(f"relgan.disc.filter_sizes: tallest filter {max(self.relgan.disc.filter_sizes)} exceeds "
                              f"data.seq_len {self.data.seq_len}")
        if self.leakgan.step_size > self.data.seq_len:
            raise ConfigError(f"leakgan.step_size: {self.leakgan.step_size} exceeds data.seq_len {self.data.seq_len}")
        if "leakgan" in self.rows and self.disc.model.encoder != "cnn":
            raise ConfigError("rows: leakgan reads the leaked features of a CNN D (disc.model.encoder: cnn)")
        if self.mle.patience and self.data.n_valid < 1:
            raise ConfigError(f"data.n_valid: early stopping (mle.patience {self.mle.patience}) needs held-out "
                              f"samples, got {self.data.n_valid}")
