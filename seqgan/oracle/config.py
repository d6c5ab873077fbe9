"""Config of the synthetic-oracle benchmark (``seqgan oracle``): one dataclass per part, YAML + CLI overrides."""

from __future__ import annotations

from dataclasses import dataclass

from seqgan.config import check_fields, field
from seqgan.errors import ConfigError
from seqgan.tracking import TrackingConfig
from seqgan.models.discriminator import DiscriminatorConfig

ROWS = ("random", "mle", "mle_continued", "scheduled_sampling", "pg_bleu", "seqgan", "prefix", "constant",
        "uniform_random", "gumbel_st", "continuous")


@dataclass
class OracleDataConfig:
    vocab_size: int = field(5000, help="oracle / generator vocabulary")
    embed_dim: int = field(32, help="oracle / generator embedding size")
    hidden_dim: int = field(32, help="oracle / generator LSTM hidden size")
    seq_len: int = field(20, help="sequence length")
    oracle_seed: int = field(88, help="seed of the oracle's N(0, 1) parameters")
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
    lr: float = field(0.01, help="generator Adam learning rate (MLE and policy gradient)")
    grad_clip: float = field(5.0, help="generator gradient-norm clip")


@dataclass
class OracleDiscConfig:
    model: DiscriminatorConfig = field(DiscriminatorConfig, help="the CNN discriminator")
    lr: float = field(1e-4, help="discriminator Adam learning rate")
    batch_size: int = field(64, help="discriminator batch size (half real, half generated... each side)")
    negatives: int = field(10000, ge=1, help="generated negatives per refresh (and as many real positives)")
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


@dataclass
class OracleFrontierConfig:
    temperatures: list[float] = field([0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2], gt=0,
                                      help="MLE's temperature frontier: sampling temperatures (empty: no frontier)")
    samples: int = field(2000, ge=1, help="model samples per temperature for NLL-oracle (NLL-test uses every test "
                                          "sample)")


@dataclass
class OracleConfig:
    seed: int = field(0, help="seed of the generator, sampling and training (the oracle has its own)")
    run_dir: str = field("runs/oracle", help="output directory (results.md/json, curves PNG, oracle, models)")
    threads: int = field(0, help="torch CPU threads (0: leave torch's default)")
    cpu: bool = field(False, help="run on the CPU even when accelerate finds a GPU")
    rows: list[str] = field(list(ROWS), choices=ROWS, help=f"rows of the table, from {list(ROWS)}")
    data: OracleDataConfig = field(OracleDataConfig, help="oracle and data sizes")
    mle: OracleMLEConfig = field(OracleMLEConfig, help="MLE pretraining of the generator")
    disc: OracleDiscConfig = field(OracleDiscConfig, help="discriminator and its training")
    adv: OracleAdvConfig = field(OracleAdvConfig, help="adversarial / policy-gradient continuation")
    frontier: OracleFrontierConfig = field(OracleFrontierConfig, help="MLE's temperature frontier (the verdict)")
    tracking: TrackingConfig = field(TrackingConfig, help="live experiment tracking (TensorBoard, W&B, trackio ...) "
                                                          "besides metrics.jsonl")

    def validate(self) -> None:
        check_fields(self)
        self.tracking.validate()
        self.disc.model.validate()
        if self.disc.model.encoder == "cnn" and max(self.disc.model.filter_sizes) > self.data.seq_len:
            raise ConfigError(f"disc.model.filter_sizes: widest filter {max(self.disc.model.filter_sizes)} exceeds "
                              f"data.seq_len {self.data.seq_len}")
        if self.mle.patience and self.data.n_valid < 1:
            raise ConfigError(f"data.n_valid: early stopping (mle.patience {self.mle.patience}) needs held-out "
                              f"samples, got {self.data.n_valid}")
