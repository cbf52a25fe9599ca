"""The LSTMs (Flax linen). One module serves every model; what differs is its heads and inputs.

* melody, three-embeddings: heads (pitch, duration, velocity), each embedded, embeddings summed,
  three softmax heads — the default layout.
* melody, two-embeddings: heads (pitch×duration joint, velocity).
* melody, one-embedding: one head over the joint pitch×duration×velocity tokens seen in the corpus.
* chords: heads (chord, chord duration), not conditioned on a chord.

At step t the input is the previous event's tokens (BOS at t=0) plus what is known about the
event to predict: its position in the bar and in the eight-bar phrase, the key's mode and, for
melody, the chord sounding at its onset (token and pitch-class set). The conditioning also reaches the output layer
directly, so the heads can read "which notes are in this chord" without going through the LSTM.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import linen as nn

from lofictl.models import tokens


class LSTMLayer(nn.Module):
    """One LSTM layer over (B, T, E). A single step (T == 1, sampling) calls the cell directly;
    longer inputs run it under `nn.scan`. Both name the cell "cell", so they share parameters
    — the sampler's step avoids the cost of a scan nested inside its own scan."""

    hidden: int

    @nn.compact
    def __call__(self, carry, xs):
        if xs.shape[1] == 1:
            carry, y = nn.OptimizedLSTMCell(self.hidden, name="cell")(carry, xs[:, 0])
            return carry, y[:, None]
        scan = nn.scan(
            nn.OptimizedLSTMCell, variable_broadcast="params", split_rngs={"params": False}, in_axes=1, out_axes=1
        )
        return scan(self.hidden, name="cell")(carry, xs)


class TokenLSTM(nn.Module):
    heads: tuple[int, ...]  # vocabulary size of each head (inputs use the same vocabularies)
    hidden: int = 192
    layers: int = 2
    embed: int = 96
    chord_vocab: int = 0  # 0 when the model is not conditioned on chords (the chord model)
    positions: int = tokens.N_POSITION
    modes: int = tokens.N_MODE
    phrases: int = 0  # bars in the phrase the model knows its place in; 0: no phrase input

    def setup(self):
        self.token_embeds = [nn.Embed(n, self.embed, name=f"embed_{i}") for i, n in enumerate(self.heads)]
        if self.chord_vocab:
            self.chord_embed = nn.Embed(self.chord_vocab, self.embed)
            self.pcs_dense = nn.Dense(self.embed, use_bias=False)
        self.position_embed = nn.Embed(self.positions, self.embed)
        self.mode_embed = nn.Embed(self.modes, self.embed)
        if self.phrases:
            self.phrase_embed = nn.Embed(self.phrases, self.embed)
        self.rnns = [LSTMLayer(self.hidden, name=f"lstm_{i}") for i in range(self.layers)]
        self.outputs = [nn.Dense(n, name=f"head_{i}") for i, n in enumerate(self.heads)]

    def __call__(self, inputs: dict, carry: tuple):
        """inputs: tokens (B, T, heads) int, position (B, T), mode (B,), phrase (B, T) when the
        model has phrases, and for melody chord (B, T) and pcs (B, T, 12). carry: one (c, h) pair per layer, see `zero_carry`.
        Returns (tuple of logits (B, T, size) per head, new carry)."""
        cond = self.position_embed(inputs["position"]) + self.mode_embed(inputs["mode"])[:, None, :]
        if self.phrases:
            cond = cond + self.phrase_embed(inputs["phrase"])
        if self.chord_vocab:
            cond = cond + self.chord_embed(inputs["chord"]) + self.pcs_dense(inputs["pcs"])
        x = cond
        for i, embed in enumerate(self.token_embeds):
            x = x + embed(inputs["tokens"][..., i])
        new_carry = []
        for rnn, layer_carry in zip(self.rnns, carry):
            layer_carry, x = rnn(layer_carry, x)
            new_carry.append(layer_carry)
        features = jnp.concatenate([x, cond], axis=-1)
        return tuple(out(features) for out in self.outputs), tuple(new_carry)


def zero_carry(model: TokenLSTM, batch: int) -> tuple:
    zeros = jnp.zeros((batch, model.hidden), jnp.float32)
    return tuple((zeros, zeros) for _ in range(model.layers))


def build(config: dict) -> TokenLSTM:
    """The module described by a checkpoint's config."""
    return TokenLSTM(
        heads=tuple(int(h) for h in config["heads"]),
        hidden=int(config["hidden"]),
        layers=int(config["layers"]),
        embed=int(config["embed"]),
        chord_vocab=int(config["chord_vocab"]),
        positions=int(config["positions"]),
        modes=int(config["modes"]),
        phrases=int(config.get("phrases", 0)),
    )


def param_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """The parameters `model.init` makes for a config, by path ("params/lstm_0/cell/hi/kernel"),
    with their shapes, worked out without tracing the model (which costs loading a checkpoint
    most of a second). tests/models/test_nn.py holds it to jax.eval_shape of `init` for every layout."""
    model = build(config)
    embed, hidden = model.embed, model.hidden
    shapes: dict[str, tuple[int, ...]] = {}
    for i, size in enumerate(model.heads):
        shapes[f"params/embed_{i}/embedding"] = (size, embed)
        shapes[f"params/head_{i}/kernel"] = (hidden + embed, size)  # the LSTM's output beside the conditioning
        shapes[f"params/head_{i}/bias"] = (size,)
    if model.chord_vocab:
        shapes["params/chord_embed/embedding"] = (model.chord_vocab, embed)
        shapes["params/pcs_dense/kernel"] = (12, embed)
    shapes["params/position_embed/embedding"] = (model.positions, embed)
    shapes["params/mode_embed/embedding"] = (model.modes, embed)
    if model.phrases:
        shapes["params/phrase_embed/embedding"] = (model.phrases, embed)
    for layer in range(model.layers):
        cell = f"params/lstm_{layer}/cell"
        for gate in "ifgo":  # OptimizedLSTMCell: input kernels without bias, hidden kernels with
            shapes[f"{cell}/i{gate}/kernel"] = (embed if layer == 0 else hidden, hidden)
            shapes[f"{cell}/h{gate}/kernel"] = (hidden, hidden)
            shapes[f"{cell}/h{gate}/bias"] = (hidden,)
    return shapes


def dummy_inputs(model: TokenLSTM, batch: int = 1, length: int = 1) -> dict:
    inputs = {
        "tokens": jnp.zeros((batch, length, len(model.heads)), jnp.int32),
        "position": jnp.zeros((batch, length), jnp.int32),
        "mode": jnp.zeros((batch,), jnp.int32),
    }
    if model.phrases:
        inputs["phrase"] = jnp.zeros((batch, length), jnp.int32)
    if model.chord_vocab:
        inputs["chord"] = jnp.zeros((batch, length), jnp.int32)
        inputs["pcs"] = jnp.zeros((batch, length, 12), jnp.float32)
    return inputs
