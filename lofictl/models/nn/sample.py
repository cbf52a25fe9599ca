"""Sampling compiled once: one `jax.jit` over `jax.lax.scan`, never a Python loop per note.

The melody scan runs in chunks of CHUNK steps inside a `lax.while_loop` that stops when every
candidate has filled the piece, still one compiled program. Temperature, top-k and top-p are traced scalars, so changing them does not recompile; the
number of steps and the chord arrays are padded to power-of-two buckets so pieces of similar
length share a compiled program.

Melody: durations make the position data-dependent, so the scan carries the current tick and
looks up the sounding chord from an array of chord start ticks. The logits of the pitch factor
get, before filtering:
  * a hard range mask (the register asked for) and BOS masked everywhere;
  * an optional scale constraint: a penalty of `scale_strength` on pitches that are neither in
    the key's scale nor in the sounding chord;
  * the anti-loop guard: when the last n-1 pitches already occurred earlier in a window of
    recent notes, the pitch that followed them then is penalised (once per earlier occurrence,
    at most twice). Unlike replacing a note at random after the fact, the model still chooses
    among its other likely continuations, and motifs may repeat once before being discouraged;
  * the register anchor: the scan carries the mean pitch of the melody's first ANCHOR_NOTES
    notes (its home register) and a running mean of the recent ones; once the running mean has
    moved d semitones from home, each pitch p is tilted by
    -anchor_strength * (d/12) * ((p - running mean)/12), so notes that lead further away get
    less likely and notes that lead back more (an LSTM left alone over 180 bars wanders off by
    four or five semitones). Phrases still rise and fall: a small drift is barely tilted;
  * the motif echo: when a note or rest began exactly `echo_ticks` earlier (four bars, say),
    its pitch gets `echo_strength` more logit and its duration RHYTHM_ECHO times that, so a
    phrase may come back as pop phrases do (AA'), its rhythm more often than its notes, the
    model still free to vary it. An LSTM alone forgets: four bars on, it repeats a fifth as
    many pitches and a twentieth as many bar rhythms as POP909's singers do.
Several candidates are sampled in one batch; the caller scores them.

Chords: the scan carries the tick too; durations are restricted to a grid (half bars) and to
what is left before the final span, where the chord is restricted to the tonic (a final span of
0 leaves the end free, as a loop wants). `ChordSampler.score` gives, per candidate, the model's
log-likelihood of a token sequence over a mask: how well a loop's second time round is expected.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from lofictl.models import tokens
from lofictl.models.nn import modules, programs_dir
from lofictl.models.nn.exported import Program

NEG = -1e9  # a masked logit; finite so that softmax over an all-masked row stays defined
CHUNK = 32  # melody steps per scan between checks that every candidate is done


def bucket(n: int, minimum: int = 16) -> int:
    size = minimum
    while size < n:
        size *= 2
    return size


def filter_logits(logits, temperature, top_k, top_p):
    """Temperature, then top-k (0 = off), then top-p (nucleus), all traced; logits (B, V).
    The sort is skipped at run time when both filters are off (the common case)."""
    return filter_heads([logits], temperature, top_k, top_p)[0]


def filter_heads(heads: list, temperature, top_k, top_p) -> list:
    """filter_logits over several heads under one run-time branch."""
    heads = [h / temperature for h in heads]
    return jax.lax.cond(
        (top_k > 0) | (top_p < 1), lambda hs: [_truncate(h, top_k, top_p) for h in hs], lambda hs: list(hs), heads
    )


def sample_heads(key, heads: list):
    """One categorical draw per head from a single batch of Gumbel noise (one RNG call per
    step instead of one per head: random bits are a large share of a step's cost on CPU)."""
    sizes = [h.shape[-1] for h in heads]
    noise = jax.random.gumbel(key, (heads[0].shape[0], sum(sizes)))
    out, at = [], 0
    for head, size in zip(heads, sizes):
        out.append(jnp.argmax(head + noise[:, at : at + size], axis=-1))
        at += size
    return out


def _truncate(logits, top_k, top_p):
    vocab = logits.shape[-1]
    ordered = jnp.sort(logits, axis=-1)[..., ::-1]
    k = jnp.where(top_k > 0, jnp.minimum(top_k, vocab), vocab)
    kth = jnp.take_along_axis(ordered, jnp.broadcast_to(k - 1, ordered.shape[:-1])[..., None], axis=-1)
    logits = jnp.where(logits < kth, NEG, logits)
    ordered = jnp.where(ordered < kth, NEG, ordered)
    probs = jax.nn.softmax(ordered, axis=-1)
    before = jnp.cumsum(probs, axis=-1) - probs  # mass strictly above each candidate
    keep = before < top_p
    cutoff = jnp.min(jnp.where(keep, ordered, jnp.inf), axis=-1, keepdims=True)
    return jnp.where(logits < cutoff, NEG, logits)


def _pitch_pc_table() -> np.ndarray:
    """Pitch-class (relative to the tonic) of each pitch token; -1 for BOS and rest."""
    table = -np.ones(tokens.N_PITCH, np.int32)
    for t in range(2, tokens.N_PITCH):
        table[t] = tokens.relative_of_token(t) % 12
    return table


PITCH_PC = _pitch_pc_table()
# Semitones from the tonic base of each pitch token (0 for BOS and rest, which PITCH_PC marks).
PITCH_REL = np.array([0.0, 0.0] + [float(tokens.relative_of_token(t)) for t in range(2, tokens.N_PITCH)], np.float32)
DURATION_TICKS = np.array((0,) + tokens.DURATION_TICKS, np.int32)
CHORD_DURATION_TICKS = np.array((0,) + tokens.CHORD_DURATION_TICKS, np.int32)


def loop_penalty(history, n: int, strength):
    """Penalty (B, N_PITCH) on pitches that would repeat an n-gram seen in `history` (B, W),
    oldest first, -1 where empty."""
    width = history.shape[1]
    context = history[:, width - (n - 1) :]
    starts = np.arange(0, width - (n - 1))  # earlier windows whose continuation is in history
    windows = starts[:, None] + np.arange(n - 1)[None, :]
    earlier = history[:, windows]  # (B, M, n-1)
    follow = history[:, starts + n - 1]  # (B, M)
    match = jnp.all(earlier == context[:, None, :], axis=-1) & jnp.all(context >= 0, axis=-1)[:, None] & (follow >= 0)
    counts = jnp.sum(jax.nn.one_hot(jnp.maximum(follow, 0), tokens.N_PITCH) * match[..., None], axis=1)
    return -strength * jnp.minimum(counts, 2.0)


ANCHOR_NOTES = 16  # notes that set a melody's home register
RHYTHM_ECHO = (
    2.5  # the duration heard four bars back gets this many times the pitch's echo: rhythm repeats more often than pitch
)


def _follow_register(register, pitch_tokens):
    """(running mean, home mean, count) after one more event: notes move the running mean (about
    the last 12 notes' worth; it starts at the first note) and, for the first ANCHOR_NOTES,
    the home mean; rests leave both."""
    recent, home, count = register
    is_note = jnp.asarray(PITCH_PC)[pitch_tokens] >= 0
    pitch = jnp.asarray(PITCH_REL)[pitch_tokens]
    recent = jnp.where(is_note, jnp.where(count == 0, pitch, recent + (pitch - recent) / 12.0), recent)
    home = jnp.where(is_note & (count < ANCHOR_NOTES), home + (pitch - home) / (count + 1.0), home)
    return recent, home, count + is_note.astype(jnp.float32)


def _program(fun, name: str, fingerprint: str | None, **jit_kwargs):
    """`jax.jit(fun)`; for a model loaded from a folder (`fingerprint`, its identity), one whose
    traced program is kept between processes (exported.Program) once compose names a folder."""
    if fingerprint is None:
        return jax.jit(fun, **jit_kwargs)
    return Program(fun, name, fingerprint, programs_dir, **jit_kwargs)


class MelodySampler:
    """Samples factor tokens from a melody model; built once per loaded model."""

    def __init__(
        self,
        model: modules.TokenLSTM,
        tables: tuple[np.ndarray, ...],
        loop_n: int = 4,
        window: int = 16,
        echo_window: int = 96,
        fingerprint: str | None = None,
    ):
        self.model = model
        self.tables = tuple(np.asarray(t, np.int32) for t in tables)
        self.loop_n = loop_n
        self.window = window
        self.echo_window = echo_window  # events remembered for the echo (more than 4 bars of 16ths)
        self.run = _program(self._run, "melody-run", fingerprint, static_argnames=("n_steps", "batch"))
        self.run_many = jax.jit(self._run_many, static_argnames=("n_steps", "batch"))
        self.step = jax.jit(self._step)

    def _run_many(self, params, keys, cond, n_steps: int, batch: int):
        """`_run` for several pieces at once (keys (P,), every condition with a leading P axis):
        one compiled program and one while loop instead of one call per piece."""
        return jax.vmap(lambda key, c: self._run(params, key, c, n_steps, batch))(keys, cond)

    def _bias(self, history, pcs, register, cond):
        """Additive logits (B, N_PITCH) for the pitch factor."""
        allowed = cond["scale_mask"][None, :] + pcs  # (B, 12): scale or chord tone
        pc = jnp.asarray(PITCH_PC)
        in_key = jnp.where(pc[None, :] >= 0, allowed[:, jnp.maximum(pc, 0)] > 0, True)
        bias = cond["range_mask"][None, :] + jnp.where(in_key, 0.0, -cond["scale_strength"])
        recent, home, count = register
        drift = jnp.where(count >= ANCHOR_NOTES, (recent - home) / 12.0, 0.0)  # (B,)
        tilt = -cond["anchor_strength"] * drift[:, None] * (PITCH_REL[None, :] - recent[:, None]) / 12.0
        bias = bias + jnp.where(jnp.asarray(PITCH_PC)[None, :] >= 0, tilt, 0.0)
        return bias + loop_penalty(history, self.loop_n, cond["loop_strength"])

    def _echo(self, echo, tick, cond):
        """Additive logits for pitch (B, N_PITCH) and duration (B, N_DURATION): the event that
        began `echo_ticks` before `tick`, if one did."""
        ticks, pitch, dur = echo
        match = (ticks == (tick - cond["echo_ticks"])[:, None]) & (ticks >= 0) & (cond["echo_ticks"] > 0)
        found = jnp.any(match, axis=1)
        at = jnp.argmax(match, axis=1)
        strength = jnp.where(found, cond["echo_strength"], 0.0)[:, None]
        p = jnp.take_along_axis(pitch, at[:, None], axis=1)[:, 0]
        d = jnp.take_along_axis(dur, at[:, None], axis=1)[:, 0]
        return (
            strength * jax.nn.one_hot(p, tokens.N_PITCH),
            RHYTHM_ECHO * strength * jax.nn.one_hot(d, tokens.N_DURATION),
        )

    def _step(self, params, state, step_key, cond):
        """One note for every candidate. state: carry, prev tokens, tick, history, register
        (running mean, home mean, notes so far), echo memory (onset ticks, pitch and duration
        tokens of recent events)."""
        carry, prev, tick, history, register, echo = state
        batch = tick.shape[0]
        # The chord sounding at `tick`: starts are sorted, so count those not after it.
        index = jnp.clip(
            jnp.sum(cond["chord_starts"][None, :] <= tick[:, None], axis=1) - 1, 0, cond["chord_starts"].shape[0] - 1
        )
        chord = cond["chord_tokens"][index]
        pcs = cond["chord_pcs"][index]
        position = jnp.clip(tick % cond["bar_ticks"], 0, tokens.N_POSITION - 1)
        inputs = {
            "tokens": prev[:, None, :],
            "position": position[:, None],
            "mode": jnp.full((batch,), cond["mode"], jnp.int32),
            "chord": chord[:, None],
            "pcs": pcs[:, None, :],
        }
        if self.model.phrases:
            inputs["phrase"] = ((tick // cond["bar_ticks"]) % self.model.phrases)[:, None]
        logits, carry = self.model.apply(params, inputs, carry)
        echo_pitch, echo_dur = self._echo(echo, tick, cond)
        bias = self._bias(history, pcs, register, cond) + echo_pitch
        heads = []
        for head, table in zip(logits, self.tables):
            head = head[:, 0, :]
            if table[1, 0] >= 0:  # this head carries pitch: bias through its pitch column
                head = head + bias[:, np.maximum(table[:, 0], 0)]
            if table[1, 1] >= 0:  # and duration, through its duration column
                head = head + echo_dur[:, np.maximum(table[:, 1], 0)]
            heads.append(head.at[:, 0].set(NEG))  # BOS is an input only
        chosen = sample_heads(step_key, filter_heads(heads, cond["temperature"], cond["top_k"], cond["top_p"]))
        factors = jnp.zeros((batch, 3), jnp.int32)
        for token, table in zip(chosen, self.tables):
            rows = jnp.asarray(table)[token]
            factors = jnp.where(rows >= 0, rows, factors)
        dur_ticks = jnp.asarray(DURATION_TICKS)[factors[:, 1]]
        valid = tick < cond["total_ticks"]
        history = jnp.concatenate([history[:, 1:], factors[:, :1]], axis=1)
        register = _follow_register(register, factors[:, 0])
        ticks, pitch, dur = echo
        echo = (
            jnp.concatenate([ticks[:, 1:], tick[:, None]], axis=1),
            jnp.concatenate([pitch[:, 1:], factors[:, :1]], axis=1),
            jnp.concatenate([dur[:, 1:], factors[:, 1:2]], axis=1),
        )
        new_state = (carry, jnp.stack(chosen, axis=-1).astype(jnp.int32), tick + dur_ticks, history, register, echo)
        return new_state, (factors, tick, valid)

    def initial_state(self, batch: int):
        empty = -jnp.ones((batch, self.echo_window), jnp.int32)
        zero = jnp.zeros((batch,), jnp.float32)
        return (
            modules.zero_carry(self.model, batch),
            jnp.zeros((batch, len(self.tables)), jnp.int32),
            jnp.zeros((batch,), jnp.int32),
            -jnp.ones((batch, self.window), jnp.int32),
            (zero, zero, zero),
            (empty, jnp.zeros_like(empty), jnp.zeros_like(empty)),
        )

    def _run(self, params, key, cond, n_steps: int, batch: int):
        """Up to n_steps notes per candidate. The scan runs in chunks inside a while loop that
        stops once every candidate has filled the piece: the step bound must allow for all
        16ths, but real melodies need a fraction of that."""
        chunk = min(CHUNK, n_steps)
        n_chunks = n_steps // chunk

        def run_chunk(c, state):
            def body(state, i):
                return self._step(params, state, jax.random.fold_in(key, i), cond)

            return jax.lax.scan(body, state, c * chunk + jnp.arange(chunk))

        def not_done(loop):
            c, state, _ = loop
            return (c < n_chunks) & jnp.any(state[2] < cond["total_ticks"])

        def next_chunk(loop):
            c, state, (factors, ticks, valid) = loop
            state, (f, t, v) = run_chunk(c, state)
            at = c * chunk
            factors = jax.lax.dynamic_update_slice(factors, f, (at, 0, 0))
            ticks = jax.lax.dynamic_update_slice(ticks, t, (at, 0))
            valid = jax.lax.dynamic_update_slice(valid, v, (at, 0))
            return c + 1, state, (factors, ticks, valid)

        outputs = (
            jnp.zeros((n_steps, batch, 3), jnp.int32),
            jnp.zeros((n_steps, batch), jnp.int32),
            jnp.zeros((n_steps, batch), bool),
        )
        _, _, (factors, ticks, valid) = jax.lax.while_loop(
            not_done, next_chunk, (jnp.int32(0), self.initial_state(batch), outputs)
        )
        # time-major inside; callers want candidates first
        return jnp.swapaxes(factors, 0, 1), jnp.swapaxes(ticks, 0, 1), jnp.swapaxes(valid, 0, 1)


def melody_conditions(
    chord_starts: np.ndarray,
    chord_tokens: np.ndarray,
    chord_pcs: np.ndarray,
    total_ticks: int,
    bar_ticks: int,
    mode: int,
    range_mask: np.ndarray,
    scale_mask: np.ndarray,
    *,
    temperature: float,
    top_k: int,
    top_p: float,
    scale_strength: float,
    loop_strength: float,
    anchor_strength: float = 0.0,
    echo_ticks: int = 0,
    echo_strength: float = 0.0,
) -> dict:
    """The traced inputs of a melody scan; chord arrays padded to a bucket with starts past the end."""
    size = bucket(len(chord_starts), 8)
    pad = size - len(chord_starts)
    far = np.iinfo(np.int32).max // 2
    return {
        "chord_starts": np.concatenate([chord_starts, np.full(pad, far)]).astype(np.int32),
        "chord_tokens": np.concatenate([chord_tokens, np.full(pad, tokens.NO_CHORD)]).astype(np.int32),
        "chord_pcs": np.concatenate([chord_pcs, np.zeros((pad, 12))]).astype(np.float32),
        "total_ticks": np.int32(total_ticks),
        "bar_ticks": np.int32(max(bar_ticks, 1)),
        "mode": np.int32(mode),
        "range_mask": range_mask.astype(np.float32),
        "scale_mask": scale_mask.astype(np.float32),
        "temperature": np.float32(temperature),
        "top_k": np.int32(top_k),
        "top_p": np.float32(top_p),
        "scale_strength": np.float32(scale_strength),
        "loop_strength": np.float32(loop_strength),
        "anchor_strength": np.float32(anchor_strength),
        "echo_ticks": np.int32(echo_ticks),
        "echo_strength": np.float32(echo_strength),
    }


VALID_CHORDS = tokens.valid_chord_tokens()


class ChordSampler:
    """Samples (chord token, duration ticks) from a chord model, and scores token sequences."""

    def __init__(self, model: modules.TokenLSTM, fingerprint: str | None = None):
        self.model = model
        self.run = _program(self._run, "chord-run", fingerprint, static_argnames=("n_steps", "batch"))
        self.score = _program(self._score, "chord-score", fingerprint)

    def _inputs(self, prev, tick, cond, batch):
        inputs = {
            "tokens": prev,
            "position": jnp.clip(tick % cond["bar_ticks"], 0, tokens.N_POSITION - 1),
            "mode": jnp.full((batch,), cond["mode"], jnp.int32),
        }
        if self.model.phrases:
            inputs["phrase"] = (tick // cond["bar_ticks"]) % self.model.phrases
        return inputs

    def _run(self, params, key, cond, n_steps: int, batch: int):
        total, final, grid = cond["total_ticks"], cond["final_ticks"], cond["grid_ticks"]
        cdur = jnp.asarray(CHORD_DURATION_TICKS)

        def body(state, i):
            carry, prev, tick = state
            step_key = jax.random.fold_in(key, i)
            remaining = total - tick
            inputs = self._inputs(prev[:, None, :], tick[:, None], cond, batch)
            (chord_logits, dur_logits), carry = self.model.apply(params, inputs, carry)
            chord_logits = jnp.where(jnp.asarray(VALID_CHORDS)[None, :], chord_logits[:, 0, :], NEG)
            at_end = remaining <= final
            chord_logits = jnp.where(at_end[:, None] & ~cond["tonic_mask"][None, :], NEG, chord_logits)
            chord_logits = filter_logits(chord_logits, cond["temperature"], cond["top_k"], cond["top_p"])
            (chord,) = sample_heads(jax.random.fold_in(step_key, 0), [chord_logits])
            # Durations on the grid that leave the final span free.
            allowed = (
                (cdur[None, :] % grid == 0) & (cdur[None, :] > 0) & (cdur[None, :] <= (remaining - final)[:, None])
            )
            dur_logits = jnp.where(allowed, dur_logits[:, 0, :], NEG)
            dur_logits = filter_logits(dur_logits, cond["temperature"], cond["top_k"], cond["top_p"])
            (dur_token,) = sample_heads(jax.random.fold_in(step_key, 1), [dur_logits])
            fill = jnp.where(at_end, remaining, remaining - final)  # when nothing on the grid fits
            length = jnp.where(at_end, remaining, jnp.where(jnp.any(allowed, axis=-1), cdur[dur_token], fill))
            valid = remaining > 0
            new_prev = jnp.stack([chord, nearest_duration(length)], axis=-1).astype(jnp.int32)
            return (carry, new_prev, tick + jnp.maximum(length, 0)), (chord, length, tick, valid)

        state = (
            modules.zero_carry(self.model, batch),
            jnp.zeros((batch, 2), jnp.int32),
            jnp.zeros((batch,), jnp.int32),
        )
        _, outputs = jax.lax.scan(body, state, jnp.arange(n_steps))
        return tuple(jnp.swapaxes(o, 0, 1) for o in outputs)

    def _score(self, params, targets, ticks, mask, cond):
        """Sum over `mask` of log p(chord, duration) of `targets` (B, T, 2), events at `ticks` (B, T),
        the model reading each sequence from BOS (untempered: the model's own belief)."""
        batch = targets.shape[0]
        prev = jnp.concatenate([jnp.zeros((batch, 1, 2), jnp.int32), targets[:, :-1]], axis=1)
        logits, _ = self.model.apply(
            params, self._inputs(prev, ticks, cond, batch), modules.zero_carry(self.model, batch)
        )
        total = 0.0
        for h, head in enumerate(logits):
            logp = jax.nn.log_softmax(head, axis=-1)
            total = total + jnp.take_along_axis(logp, targets[..., h : h + 1], axis=-1)[..., 0]
        return jnp.sum(total * mask, axis=-1)


def nearest_duration(length):
    """The chord duration token nearest a length in ticks (what the model reads back)."""
    cdur = jnp.asarray(CHORD_DURATION_TICKS)
    return jnp.argmin(jnp.abs(cdur[1:][None, :] - jnp.asarray(length)[..., None]), axis=-1) + 1
