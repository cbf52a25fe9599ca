// lofictl listen-test: one trial at a time. The excerpts have hashed names and were cut at one
// loudness; switching between them keeps the playhead, so the same moment is compared.
"use strict";

const state = { data: null, trial: null, audio: {}, current: null, playing: false, scores: {} };
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value; else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function say(text) { $("message").textContent = text; }
function clock(s) { s = Math.max(0, s || 0); return `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, "0")}`; }
function live() { return state.current == null ? null : state.audio[state.current]; }

function switchTo(key) {
  const next = state.audio[key];
  if (!next) return;
  const previous = live();
  if (previous && previous !== next) next.currentTime = Math.min(previous.currentTime, Math.max(0, (next.duration || 1e9) - 0.05));
  state.current = key;
  if (state.playing) { const p = next.play(); if (p) p.catch((e) => say(`cannot play: ${e.message}`)); }
  if (previous && previous !== next) previous.pause();
  draw();
}

function toggle() {
  const audio = live();
  if (!audio) return;
  if (state.playing) { audio.pause(); state.playing = false; }
  else { state.playing = true; const p = audio.play(); if (p) p.catch((e) => say(`cannot play: ${e.message}`)); }
  draw();
}

function draw() {
  $("play").textContent = state.playing ? "Pause" : "Play";
  $("live").textContent = state.current == null ? "–" : (state.current === "ref" ? "reference" : state.current);
  for (const node of document.querySelectorAll("[data-key]")) node.classList.toggle("on", node.dataset.key === state.current);
  for (const node of document.querySelectorAll(".stimulus")) node.classList.toggle("live", node.dataset.stimulus === state.current);
}

function tick() {
  const audio = live();
  if (audio) $("now").textContent = clock(audio.currentTime);
  requestAnimationFrame(tick);
}

function addAudio(key, src) {
  const audio = el("audio", { preload: "auto", src, "data-audio": key });
  audio.loop = true;  // an excerpt repeats until the listener answers
  state.audio[key] = audio;
  return audio;
}

function showTrial() {
  for (const audio of Object.values(state.audio)) audio.pause();
  state.audio = {}; state.scores = {}; state.current = null; state.playing = false;
  const data = state.data;
  const box = $("trial");
  box.replaceChildren();
  $("progress").textContent = `${data.done} of ${data.total} answered`;
  if (!data.listener) { box.append(el("p", { text: "Reload the page to get a listener id (cookies must be on)." })); return; }
  const trial = data.trials[0];
  state.trial = trial;
  if (!trial) {
    box.append(el("h2", { text: "Thank you" }), el("p", { text: `All ${data.total} trials are answered.` }));
    $("play").disabled = true;
    $("keys").textContent = "";
    draw();
    return;
  }
  if (data.design === "ab") {
    $("keys").textContent = "keys: space play/pause · A/B switch (the playhead stays) · then choose the one you prefer";
    const switches = el("div", { class: "choice" });
    for (const s of trial.stimuli) {
      box.append(addAudio(s.label, s.audio));
      const button = el("button", { type: "button", "data-key": s.label, text: `Listen to ${s.label}` });
      button.addEventListener("click", () => { switchTo(s.label); if (!state.playing) toggle(); });
      switches.append(button);
    }
    const votes = el("div", { class: "choice" });
    for (const s of trial.stimuli) {
      const vote = el("button", { type: "button", class: "vote", id: `prefer-${s.label}`, text: `I prefer ${s.label}` });
      vote.addEventListener("click", () => answer({ trial: trial.id, choice: s.label }));
      votes.append(vote);
    }
    box.append(el("h2", { text: `Trial ${data.done + 1} of ${data.total}: which do you prefer?` }), switches, votes);
  } else {
    $("keys").textContent = "keys: space play/pause · R reference · 1–9 switch (the playhead stays) · rate each 0–100 against the reference";
    box.append(addAudio("ref", trial.reference));
    const ref = el("button", { type: "button", "data-key": "ref", text: "Reference" });
    ref.addEventListener("click", () => { switchTo("ref"); if (!state.playing) toggle(); });
    const grid = el("div", { class: "stimuli" });
    // BS.1534's continuous quality scale, its five words beside the sliders
    grid.append(el("div", { class: "scale", "aria-hidden": "true" },
      ...["Excellent", "Good", "Fair", "Poor", "Bad"].map((word) => el("span", { text: word }))));
    for (const s of trial.stimuli) {
      box.append(addAudio(s.label, s.audio));
      const output = el("output", { text: "not rated" });
      const slider = el("input", { type: "range", min: "0", max: "100", step: "1", value: "50", "aria-label": `score of ${s.label}` });
      slider.addEventListener("input", () => { state.scores[s.name] = Number(slider.value); output.textContent = slider.value; ready(); });
      const play = el("button", { type: "button", "data-key": s.label, text: s.label });
      play.addEventListener("click", () => { switchTo(s.label); if (!state.playing) toggle(); });
      const column = el("div", { class: "stimulus untouched", "data-stimulus": s.label }, play, slider, output);
      slider.addEventListener("input", () => column.classList.remove("untouched"));
      grid.append(column);
    }
    const submit = el("button", { type: "button", id: "submit", text: "Next", disabled: "" });
    submit.addEventListener("click", () => answer({ trial: trial.id, scores: state.scores }));
    box.append(el("h2", { text: `Trial ${data.done + 1} of ${data.total}: rate each against the reference` }),
      el("p", { class: "hint", text: "One of them is the reference itself (rate it 100); move every slider, then Next." }),
      ref, grid, submit);
  }
  state.current = trial.stimuli[0].label;
  draw();
}

function ready() {
  const done = state.trial.stimuli.every((s) => s.name in state.scores);
  $("submit").disabled = !done;
  say(done ? "" : "move every slider to rate it");
}

async function answer(body) {
  for (const b of document.querySelectorAll(".vote, #submit")) b.disabled = true;
  try {
    const response = await fetch("/api/answer", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const reply = await response.json();
    if (!response.ok) { say(`not recorded: ${reply.error}`); for (const b of document.querySelectorAll(".vote")) b.disabled = false; return; }
    state.data.trials.shift();
    state.data.done = reply.done;
    say("recorded");
    showTrial();
  } catch (error) {
    say(`not recorded: ${error.message}`);
  }
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || !state.trial) return;
  const key = event.key.toLowerCase();
  if (key === " ") { event.preventDefault(); toggle(); }
  else if (state.data.design === "ab" && (key === "a" || key === "b")) switchTo(key.toUpperCase());
  else if (state.data.design === "mushra" && key === "r") switchTo("ref");
  else if (state.data.design === "mushra" && /^[1-9]$/.test(key)) switchTo(key);
});

async function load() {
  const response = await fetch("/api/state");
  state.data = await response.json();
  $("title").textContent = state.data.title;
  document.title = `listening test: ${state.data.title}`;
  $("play").addEventListener("click", toggle);
  showTrial();
  requestAnimationFrame(tick);
}

window.listenTest = { state, switchTo, toggle };
load().catch((error) => { $("progress").textContent = `cannot load: ${error.message}`; });
