// lofictl audition: one <audio> per variant, loudness-matched by the server's gain; switching
// variants (1-9, A/B) moves the playhead over, so the comparison is of the same bar.
"use strict";

const state = { variants: [], audio: {}, current: null, slots: { a: null, b: null }, playing: false };
const $ = (id) => document.getElementById(id);

function clock(seconds) {
  const s = Math.max(0, seconds || 0);
  return `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, "0")}`;
}

function say(text) { $("message").textContent = text; }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value; else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function card(v) {
  // Only the two A/B slots load ahead (a grid of long masters would fetch hundreds of MB);
  // the others load as they are put in a slot or picked.
  const audio = el("audio", { preload: "metadata", src: v.audio, "data-variant": String(v.number) });
  // The server's gain brings every variant to the quietest one's loudness (never above 1).
  audio.volume = Math.min(1, Math.pow(10, (v.gain_db || 0) / 20));
  audio.loop = false;
  audio.addEventListener("ended", () => { if (state.current === v.number) { state.playing = false; draw(); } });
  state.audio[v.number] = audio;
  const settings = el("dl", { class: "settings" });
  for (const [name, value] of Object.entries(v.differs)) {
    settings.append(el("div", {}, el("dt", { text: name }), el("dd", { text: value })));
  }
  const roll = v.roll ? el("img", { src: v.roll, alt: `Piano roll of variant ${v.number}`, class: "roll" }) : null;
  const bar = el("div", { class: "bar" }, el("div", { class: "progress" }));
  bar.addEventListener("click", (event) => {
    const box = bar.getBoundingClientRect();
    seek((event.clientX - box.left) / box.width * (audio.duration || v.seconds || 0));
  });
  const keep = el("button", { type: "button", class: "keep", text: v.kept ? "kept ✓" : "keep" });
  keep.addEventListener("click", () => keepVariant(v.number, keep));
  const gain = Math.abs(v.gain_db || 0) < 0.05 ? "±0.0" : (v.gain_db > 0 ? "+" : "") + v.gain_db.toFixed(1);
  const level = v.lufs == null ? "silent" : `measured ${v.lufs.toFixed(1)} LUFS, played at ${gain} dB`;
  const node = el("article", { class: "card", id: `variant-${v.number}` },
    el("h2", {}, el("span", { class: "num", text: String(v.number) }), ` Variant ${v.number}`),
    roll, bar, settings,
    el("p", { class: "level", text: level }),
    el("div", { class: "buttons" },
      el("button", { type: "button", class: "listen", text: "listen" }),
      el("button", { type: "button", class: "to-a", text: "→ A" }),
      el("button", { type: "button", class: "to-b", text: "→ B" }),
      keep),
    el("p", { class: "kept", text: v.kept ? `kept as ${v.kept}` : "" }),
    audio);
  node.querySelector(".listen").addEventListener("click", () => switchTo(v.number, true));
  node.querySelector(".to-a").addEventListener("click", () => { state.slots.a = v.number; draw(); });
  node.querySelector(".to-b").addEventListener("click", () => { state.slots.b = v.number; draw(); });
  return node;
}

function live() { return state.current == null ? null : state.audio[state.current]; }

function seek(seconds) {
  const audio = live();
  if (audio) audio.currentTime = Math.max(0, Math.min(seconds, (audio.duration || seconds)));
}

// Switch what is heard to variant n at the playhead of the one playing: the next one starts
// where the other was (clamped to its length), then the other pauses.
function switchTo(n, start) {
  const next = state.audio[n];
  if (!next) return;
  const previous = live();
  const at = previous ? previous.currentTime : 0;
  if (previous && previous !== next) {
    next.currentTime = Math.min(at, Math.max(0, (next.duration || at) - 0.05));
  }
  state.current = n;
  if (state.playing || start) {
    state.playing = true;
    const playing = next.play();
    if (playing) playing.catch((error) => say(`cannot play: ${error.message}`));
  }
  if (previous && previous !== next) previous.pause();
  draw();
}

function toggle() {
  if (state.current == null) state.current = state.slots.a || (state.variants[0] || {}).number;
  const audio = live();
  if (!audio) return;
  if (state.playing) { audio.pause(); state.playing = false; }
  else { state.playing = true; const p = audio.play(); if (p) p.catch((e) => say(`cannot play: ${e.message}`)); }
  draw();
}

function preload() {
  for (const n of [state.slots.a, state.slots.b, state.current]) if (state.audio[n]) state.audio[n].preload = "auto";
}

function draw() {
  preload();
  $("slot-a").textContent = state.slots.a ?? "–";
  $("slot-b").textContent = state.slots.b ?? "–";
  $("live").textContent = state.current == null ? "–" : `variant ${state.current}`;
  $("play").textContent = state.playing ? "Pause" : "Play";
  $("go-a").classList.toggle("on", state.current != null && state.current === state.slots.a);
  $("go-b").classList.toggle("on", state.current != null && state.current === state.slots.b);
  for (const v of state.variants) {
    $(`variant-${v.number}`).classList.toggle("live", v.number === state.current);
  }
}

function tick() {
  const audio = live();
  if (audio) {
    $("now").textContent = clock(audio.currentTime);
    const bar = document.querySelector(`#variant-${state.current} .progress`);
    if (bar && audio.duration) bar.style.width = `${(100 * audio.currentTime / audio.duration).toFixed(2)}%`;
  }
  requestAnimationFrame(tick);
}

async function keepVariant(n, button) {
  button.disabled = true;
  try {
    const response = await fetch("/api/keep", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ variant: n }),
    });
    const answer = await response.json();
    if (!response.ok) { say(`not kept: ${answer.error}`); button.disabled = false; return; }
    button.textContent = "kept ✓";
    document.querySelector(`#variant-${n} .kept`).textContent = `kept as ${answer.path} · build it with: ${answer.command}`;
    say(`variant ${n} kept as ${answer.path}`);
  } catch (error) {
    say(`not kept: ${error.message}`);
  }
  button.disabled = false;
}

document.addEventListener("keydown", (event) => {
  if (event.target.closest && event.target.closest("input, textarea")) return;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const key = event.key.toLowerCase();
  if (key === " ") { event.preventDefault(); toggle(); }
  else if (/^[1-9]$/.test(key)) { switchTo(Number(key)); }
  else if (key === "a" && state.slots.a != null) { switchTo(state.slots.a); }
  else if (key === "b" && state.slots.b != null) { switchTo(state.slots.b); }
});

async function load() {
  const response = await fetch("/api/state");
  const data = await response.json();
  state.variants = data.variants;
  document.title = `audition: ${data.title}`;
  $("title").textContent = `${data.title}: ${data.variants.length} variants`;
  $("status").textContent = data.recipe;
  $("loudness").textContent = data.target_lufs == null ? "" :
    `every variant plays at ${data.target_lufs.toFixed(1)} LUFS (the quietest one's), so louder never wins`;
  const grid = $("grid");
  for (const v of data.variants) grid.append(card(v));
  state.slots.a = data.variants[0] ? data.variants[0].number : null;
  state.slots.b = data.variants[1] ? data.variants[1].number : state.slots.a;
  state.current = state.slots.a;
  $("play").addEventListener("click", toggle);
  $("go-a").addEventListener("click", () => switchTo(state.slots.a));
  $("go-b").addEventListener("click", () => switchTo(state.slots.b));
  draw();
  requestAnimationFrame(tick);
}

window.audition = { state, switchTo, toggle };
load().catch((error) => { $("status").textContent = `cannot load: ${error.message}`; });
