// The player page: one <audio> on /stream, and /api/now polled once a second.
"use strict";

const $ = (id) => document.getElementById(id);
const audio = $("audio");
// Who is listening is the server's business: it issues an HttpOnly cookie with /api/now, and the
// browser sends it with the stream and the ratings (same origin only).

let shownNumber = null;
let playing = false;

function setText(id, value) {
  const text = value === null || value === undefined || value === "" ? "–" : String(value);
  if ($(id).textContent !== text) $(id).textContent = text;
}

function play() {
  // A fresh connection each time: the stream is live, an old buffer would be behind.
  audio.src = "/stream?t=" + Date.now();
  audio.play().catch((err) => { $("message").textContent = "could not play: " + err.message; });
  playing = true;
  $("play").textContent = "❚❚ Pause";
  $("play").setAttribute("aria-pressed", "true");
}

function pause() {
  audio.pause();
  audio.removeAttribute("src");
  audio.load(); // closes the connection
  playing = false;
  $("play").textContent = "▶ Play";
  $("play").setAttribute("aria-pressed", "false");
}

$("play").addEventListener("click", () => (playing ? pause() : play()));

async function rate(kind) {
  let result;
  try {
    const response = await fetch("/api/" + kind, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    result = await response.json();
  } catch (err) {
    result = { ok: false, error: "station unreachable" };
  }
  if (!result.ok) {
    $("message").textContent = result.error || "not recorded";
  } else if (kind === "like") {
    $("message").textContent = "liked track " + result.number + " at " + result.position_s.toFixed(0) + " s";
    setText("likes", result.likes);
  } else {
    $("message").textContent = result.advancing
      ? "skipping track " + result.number + " at the next bar"
      : "skip noted for track " + result.number;
  }
  document.body.dataset.lastRating = kind + ":" + (result.number ?? "");
}

$("like").addEventListener("click", () => rate("like"));
$("skip").addEventListener("click", () => rate("skip"));

function render(state) {
  setText("station", state.station);
  document.title = state.station + " — lofictl radio";
  const now = state.now;
  if (now && now.number !== null && now.number !== undefined) {
    setText("title", now.title);
    setText("key", now.key + (now.camelot ? " (" + now.camelot + ")" : ""));
    setText("bpm", now.tempo);
    setText("recipe", now.recipe);
    setText("number", now.number);
    setText("seed", now.seed);
    setText("likes", now.likes);
    $("kind").textContent = now.kind === "replay" ? "· replay (nothing new was ready)" : "";
    $("progress").style.width = Math.min(100, (100 * now.position_s) / now.duration_s).toFixed(1) + "%";
    $("keep").textContent = "lofictl radio keep " + state.station_file + " " + now.number;
    if (shownNumber !== now.number) {
      shownNumber = now.number;
      $("roll").src = "/api/track/" + now.number + "/pianoroll.png";
      $("roll").hidden = false;
      $("roll-note").textContent = now.title;
      document.body.dataset.number = String(now.number);
    }
    $("like").disabled = false;
    $("skip").disabled = false;
  } else {
    setText("title", "Warming up: the first track is being made");
  }
  const queue = $("queue");
  queue.replaceChildren(...state.queue.map((t) => {
    const li = document.createElement("li");
    li.textContent = "#" + t.number + " " + t.title + " · " + t.key + " · " + t.tempo + " BPM";
    return li;
  }));
  if (state.building !== null && state.building !== undefined) {
    const li = document.createElement("li");
    li.className = "building";
    li.textContent = "#" + state.building + " being made…";
    queue.append(li);
  }
  const body = $("history").querySelector("tbody");
  body.replaceChildren(...state.history.map((t) => {
    const tr = document.createElement("tr");
    for (const value of [t.number, t.title, t.key, t.tempo, t.likes, t.ended_by === "skip" ? "skipped" : ""]) {
      const td = document.createElement("td");
      td.textContent = value;
      tr.append(td);
    }
    return tr;
  }));
  const rtf = state.rtf ? state.rtf.toFixed(1) + "× real time" : "measuring";
  setText("status", (playing ? "on air" : "paused") + " · " + state.listeners + " listening");
  setText("footer", "made by lofictl: every track is a recipe and a seed · generation " + rtf +
    " · " + state.built + " made, " + state.failed + " failed");
}

async function poll() {
  try {
    const response = await fetch("/api/now", { cache: "no-store" });
    render(await response.json());
  } catch (err) {
    setText("status", "station unreachable");
  }
  setTimeout(poll, 1000);
}

audio.addEventListener("error", () => { if (playing) $("message").textContent = "stream interrupted"; });
poll();
