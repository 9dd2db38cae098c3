"""Small sequence models built from seed 000's two operation types, with one interface.

Every block is ``x <- x + mixer(norm(x)); x <- x + mlp(norm(x))``. The MLP is a per-token,
data-independent *filter*. The mixer moves information between tokens, causally, in one of four ways:

- ``"attention"``: softmax attention (``scaled_dot_product_attention``), data-dependent *aggregation*;
- ``"linear-attention"``: kernelised attention with feature map ``elu + 1``, data-dependent aggregation;
- ``"ssm"``: a diagonal linear state-space (recurrent) layer, a data-independent long filter;
- ``"conv"``: a depthwise causal convolution, a data-independent short filter.

``"gpt2"`` and ``"llama"`` build a HuggingFace model from a config instead (no download). All models
take ``input_ids`` ``(batch, L)`` and return an object with ``.logits`` and, when asked with
``output_hidden_states=True``, ``.hidden_states`` (one state per layer plus the embeddings), like
HuggingFace. Paths are fed after a beginning-of-sequence token (id ``vocab_size``), so the model gives a
law for every token of a path including the first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from attnflow._validate import one_of, positive_int
from attnflow.trajectory import Trajectory

MIXERS = ("attention", "linear-attention", "ssm", "conv")
HF_FAMILIES = ("gpt2", "llama")
ARCHITECTURES = MIXERS + HF_FAMILIES
AGGREGATING_MIXERS = frozenset({"attention", "linear-attention"})
#: The mixers whose token weights do not depend on the data (fixed filters).
FILTERING_MIXERS = tuple(m for m in MIXERS if m not in AGGREGATING_MIXERS)


@dataclass(frozen=True)
class ModelConfig:
    """Size and kind of a sequence model.

    Attributes:
        vocab_size: tokens of the world ``V`` (>= 2); the model adds one BOS token.
        architecture: one of ``MIXERS`` (a block model) or ``HF_FAMILIES`` (a HuggingFace model).
        d_model: width (>= 2, divisible by ``n_heads``).
        n_layers: number of blocks (>= 1).
        n_heads: attention heads (attention mixers and HuggingFace models).
        max_len: longest input, BOS included (>= 2).
        mlp_ratio: hidden width of the MLP filter over ``d_model``.
        kernel_size: taps of the causal convolution (``"conv"``).
        state_size: states per channel of the diagonal SSM (``"ssm"``).
        seed: seed of the initial weights.
    """

    vocab_size: int
    architecture: str = "attention"
    d_model: int = 32
    n_layers: int = 2
    n_heads: int = 2
    max_len: int = 64
    mlp_ratio: int = 4
    kernel_size: int = 4
    state_size: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        positive_int("vocab_size", self.vocab_size, minimum=2)
        one_of("architecture", self.architecture, ARCHITECTURES)
        positive_int("d_model", self.d_model, minimum=2)
        positive_int("n_layers", self.n_layers)
        positive_int("n_heads", self.n_heads)
        positive_int("max_len", self.max_len, minimum=2)
        positive_int("mlp_ratio", self.mlp_ratio)
        positive_int("kernel_size", self.kernel_size)
        positive_int("state_size", self.state_size)
        positive_int("seed", self.seed, minimum=0)
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")


@dataclass(eq=False)
class SequenceOutput:
    """What a block model returns.

    Attributes:
        logits: ``(batch, L, V)`` next-token logits.
        hidden_states: ``n_layers + 1`` residual-stream states ``(batch, L, d)``, embeddings first and the
            last one after the final norm (as in HuggingFace), or ``None`` unless asked for.
        mixer_updates: per block, the residual update written by the mixer (when hidden states are asked).
        mlp_updates: per block, the residual update written by the MLP filter.
    """

    logits: torch.Tensor
    hidden_states: tuple[torch.Tensor, ...] | None = None
    mixer_updates: tuple[torch.Tensor, ...] | None = None
    mlp_updates: tuple[torch.Tensor, ...] | None = None


class _HeadMixer(nn.Module):
    """Shared shell of the attention mixers: a joint q, k, v projection per head, and an output map."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mix ``x`` ``(batch, L, d)`` causally."""
        b, length, d = x.shape
        q, k, v = self.qkv(x).view(b, length, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        return self.out(self.mix(q, k, v).transpose(1, 2).reshape(b, length, d))

    def mix(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Per-head causal mixing of ``(batch, heads, L, head_dim)`` queries, keys and values."""
        raise NotImplementedError


class SoftmaxAttention(_HeadMixer):
    """Causal multi-head softmax attention."""

    def mix(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)


class LinearAttention(_HeadMixer):
    """Causal multi-head linear attention with feature map ``elu(x) + 1`` (Katharopoulos et al., 2020)."""

    def mix(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        q, k = F.elu(q) + 1, F.elu(k) + 1
        memory = torch.cumsum(k.unsqueeze(-1) * v.unsqueeze(-2), dim=2)  # (b, h, L, dk, dv)
        numerator = torch.einsum("bhtk,bhtkv->bhtv", q, memory)
        denominator = torch.einsum("bhtk,bhtk->bht", q, torch.cumsum(k, dim=2)).unsqueeze(-1)
        return numerator / denominator


def _causal_filter(u: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """``y[:, t, c] = sum_{s <= t} kernel[c, t - s] u[:, s, c]`` for ``u`` ``(batch, L, C)``."""
    length = u.shape[1]
    taps = kernel.shape[1]
    padded = F.pad(u.transpose(1, 2), (taps - 1, 0))
    y = F.conv1d(padded, kernel.flip(-1).unsqueeze(1), groups=u.shape[2])
    return y[..., -length:].transpose(1, 2)


class DiagonalSSM(nn.Module):
    """A diagonal linear state-space layer: ``h_t = a * h_{t-1} + b * u_t``, ``y_t = <c, h_t> + D u_t``.

    Its response to an input is a fixed causal filter with kernel ``K[c, tau] = sum_n C B a^tau``,
    whatever the input: a data-independent (long) filter, evaluated here as a convolution.
    """

    def __init__(self, d_model: int, state_size: int) -> None:
        super().__init__()
        self.inp = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)
        # Decays a = sigmoid(logit) spread from fast (0.5) to slow (0.99) so that some channels remember far.
        decay = torch.linspace(0.5, 0.99, state_size).repeat(d_model, 1)
        self.decay_logit = nn.Parameter(torch.log(decay / (1 - decay)))
        self.b = nn.Parameter(torch.randn(d_model, state_size) / state_size**0.5)
        self.c = nn.Parameter(torch.randn(d_model, state_size) / state_size**0.5)
        self.skip = nn.Parameter(torch.ones(d_model))

    def kernel(self, length: int) -> torch.Tensor:
        """The filter ``(d_model, length)`` the layer applies."""
        decay = torch.sigmoid(self.decay_logit)
        powers = decay.unsqueeze(-1) ** torch.arange(length, dtype=decay.dtype, device=decay.device)
        return torch.einsum("cn,cn,cnt->ct", self.c, self.b, powers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mix ``x`` ``(batch, L, d)`` causally."""
        u = self.inp(x)
        return self.out(_causal_filter(u, self.kernel(u.shape[1])) + self.skip * u)


class CausalConv(nn.Module):
    """A depthwise causal convolution with ``kernel_size`` taps between two pointwise projections."""

    def __init__(self, d_model: int, kernel_size: int) -> None:
        super().__init__()
        self.inp = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)
        self.weight = nn.Parameter(torch.randn(d_model, kernel_size) / kernel_size**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mix ``x`` ``(batch, L, d)`` causally."""
        return self.out(_causal_filter(self.inp(x), self.weight))


class Block(nn.Module):
    """One block: a mixer then an MLP filter, each pre-normed and added to the residual stream."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        d = config.d_model
        self.norm_mixer = nn.LayerNorm(d)
        self.norm_mlp = nn.LayerNorm(d)
        if config.architecture == "attention":
            self.mixer: nn.Module = SoftmaxAttention(d, config.n_heads)
        elif config.architecture == "linear-attention":
            self.mixer = LinearAttention(d, config.n_heads)
        elif config.architecture == "ssm":
            self.mixer = DiagonalSSM(d, config.state_size)
        else:
            self.mixer = CausalConv(d, config.kernel_size)
        self.mlp = nn.Sequential(
            nn.Linear(d, config.mlp_ratio * d), nn.GELU(), nn.Linear(config.mlp_ratio * d, d)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return the new residual stream, the mixer's update and the MLP's update."""
        mixed = self.mixer(self.norm_mixer(x))
        x = x + mixed
        filtered = self.mlp(self.norm_mlp(x))
        return x + filtered, mixed, filtered


class SequenceModel(nn.Module):
    """A causal next-token model: token and position embeddings, ``n_layers`` blocks, final norm, head.

    Args:
        config: a :class:`ModelConfig` whose architecture is one of ``MIXERS``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.architecture not in MIXERS:
            raise ValueError(
                f"SequenceModel builds one of {MIXERS}; use build_model for {config.architecture!r}"
            )
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size + 1, config.d_model)
        self.position_embedding = nn.Embedding(config.max_len, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size)

    def forward(self, input_ids: torch.Tensor, output_hidden_states: bool = False) -> SequenceOutput:
        """Next-token logits for ``input_ids`` ``(batch, L)``.

        Args:
            input_ids: token ids in ``[0, vocab_size]`` (``vocab_size`` is BOS), ``L <= max_len``.
            output_hidden_states: also return the residual stream after every block and the updates.

        Returns:
            A :class:`SequenceOutput`.

        Raises:
            ValueError: the input is longer than ``max_len`` or holds ids out of range.
        """
        length = input_ids.shape[-1]
        if length > self.config.max_len:
            raise ValueError(f"input has {length} tokens but the model's max_len is {self.config.max_len}")
        if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() > self.config.vocab_size):
            raise ValueError(f"input ids must lie in [0, {self.config.vocab_size}] (the last one is BOS)")
        x = self.token_embedding(input_ids) + self.position_embedding(
            torch.arange(length, device=input_ids.device)
        )
        states, mixed, filtered = [x], [], []
        for block in self.blocks:
            x, mixer_update, mlp_update = block(x)
            states.append(x)
            mixed.append(mixer_update)
            filtered.append(mlp_update)
        final = self.norm(x)
        logits = self.head(final)
        if not output_hidden_states:
            return SequenceOutput(logits)
        states[-1] = final
        return SequenceOutput(logits, tuple(states), tuple(mixed), tuple(filtered))


def build_model(config: ModelConfig) -> nn.Module:
    """Build the model a config describes, with weights drawn from ``config.seed``.

    Args:
        config: the :class:`ModelConfig`.

    Returns:
        A :class:`SequenceModel`, or a HuggingFace ``GPT2LMHeadModel`` / ``LlamaForCausalLM`` (vocabulary
        ``vocab_size + 1``: the extra id is BOS) for ``"gpt2"`` / ``"llama"``.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        if config.architecture in MIXERS:
            return SequenceModel(config)
        from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

        if config.architecture == "gpt2":
            hf_config = GPT2Config(
                vocab_size=config.vocab_size + 1,
                n_positions=config.max_len,
                n_embd=config.d_model,
                n_layer=config.n_layers,
                n_head=config.n_heads,
                n_inner=config.mlp_ratio * config.d_model,
                resid_pdrop=0.0,
                embd_pdrop=0.0,
                attn_pdrop=0.0,
                bos_token_id=config.vocab_size,
                eos_token_id=config.vocab_size,
            )
            return GPT2LMHeadModel(hf_config)
        hf_config = LlamaConfig(
            vocab_size=config.vocab_size + 1,
            hidden_size=config.d_model,
            intermediate_size=config.mlp_ratio * config.d_model,
            num_hidden_layers=config.n_layers,
            num_attention_heads=config.n_heads,
            num_key_value_heads=config.n_heads,
            max_position_embeddings=config.max_len,
            bos_token_id=config.vocab_size,
            eos_token_id=config.vocab_size,
            pad_token_id=None,
        )
        return LlamaForCausalLM(hf_config)


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode without gradients; its previous mode is restored on exit."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def with_bos(paths: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """The model input for paths ``(n, L)``: BOS then all tokens but the last, shape ``(n, L)``."""
    bos = torch.full_like(paths[:, :1], vocab_size)
    return torch.cat([bos, paths[:, :-1]], dim=1)


def next_token_log_probs(model: nn.Module, paths: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """The model's log-law of each token of each path given the tokens before it.

    Args:
        model: a model from :func:`build_model`.
        paths: int64 ``(n, L)`` token ids in ``[0, vocab_size)``.
        vocab_size: ``V`` of the world (BOS logits of a HuggingFace model are dropped).

    Returns:
        ``(n, L, V)`` log-probabilities; entry ``[i, t, v]`` is ``log q(x_t = v | x_<t)``.
    """
    logits = model(with_bos(paths, vocab_size)).logits[..., :vocab_size]
    return torch.log_softmax(logits.float(), dim=-1)


def trace_model(model: nn.Module, path: torch.Tensor, vocab_size: int) -> Trajectory:
    """The residual stream of one path through the layers, as a Trajectory (``axis="layer"``).

    Every model here (block models and the HuggingFace families alike) returns its states with
    ``output_hidden_states=True``: the embeddings, the output of every block, and the last one after
    the final norm.

    Args:
        model: a model from :func:`build_model`.
        path: int64 ``(L,)`` token ids in ``[0, vocab_size)``.
        vocab_size: ``V`` of the world.

    Returns:
        A Trajectory with ``n_layers + 1`` states of the ``L`` tokens the model reads (BOS first, the
        path's last token dropped); tokens are labelled by id and BOS as ``"<bos>"``; ``params`` name
        the architecture and the token ids.
    """
    ids = with_bos(torch.as_tensor(path).reshape(1, -1), vocab_size)
    with eval_mode(model):
        states = model(ids, output_hidden_states=True).hidden_states
    x = torch.stack([s[0] for s in states]).detach().cpu()
    labels = ("<bos>", *(str(int(t)) for t in ids[0, 1:]))
    # A HuggingFace model's family ("gpt2", "llama") is its model_type, the name ModelConfig uses.
    architecture = model.config.architecture if isinstance(model, SequenceModel) else model.config.model_type
    params = {"architecture": architecture, "token_ids": ids[0].tolist()}
    return Trajectory(
        torch.arange(len(states), dtype=torch.float64), x, labels=labels, axis="layer", params=params
    )


def mixer_shares(model: nn.Module, paths: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Per layer, the mixer's and the MLP filter's shares of the residual updates' total norm.

    For an attention mixer the first share is seed 000's data-dependent *aggregation*; for the SSM and
    the convolution every update is a data-independent *filter* (the mixer mixes tokens, but with
    weights that do not depend on them). HuggingFace models are decomposed by
    :func:`attnflow.lm.trace.decompose` instead.

    Args:
        model: a :class:`SequenceModel`.
        paths: int64 ``(n, L)`` world paths.
        vocab_size: ``V`` of the world.

    Returns:
        ``(n_layers, 2)``: ``sum ||mixer update|| / sum (||mixer update|| + ||MLP update||)`` over all
        tokens of all paths, and one minus it.

    Raises:
        TypeError: ``model`` is not a :class:`SequenceModel`.
    """
    if not isinstance(model, SequenceModel):
        raise TypeError(
            f"mixer_shares needs a SequenceModel, got {type(model).__name__}; "
            "decompose a HuggingFace model with attnflow.lm.trace.decompose"
        )
    with torch.no_grad():
        out = model(with_bos(torch.as_tensor(paths), vocab_size), output_hidden_states=True)
    mixed = torch.stack([u.norm(dim=-1).sum() for u in out.mixer_updates])
    filtered = torch.stack([u.norm(dim=-1).sum() for u in out.mlp_updates])
    share = mixed / (mixed + filtered)
    return torch.stack([share, 1 - share], dim=1)
