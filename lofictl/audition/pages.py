"""What each page serves and answers: the audition grid (and its keep button), the blind test."""

from __future__ import annotations

from pathlib import Path

from lofictl.audition import variants as va
from lofictl.errors import LofictlError
from lofictl.radio.server import RequestError


class AuditionPage:
    """The variants of one recipe's last audition (its manifest), and `keep` as a POST."""

    page = "audition"

    def __init__(self, recipe: Path):
        from lofictl.recipe.load import load_recipe

        self.recipe = recipe
        self.loaded = load_recipe(recipe)
        self.folder = va.audition_folder(self.loaded)
        self.manifest = va.read_manifest(self.folder)
        self._media: dict[str, Path] = {}
        for entry in self.manifest["variants"]:
            number = int(entry["number"])
            self._media[f"v{number}.wav"] = self.folder / entry["master"]
            if entry.get("pianoroll"):
                self._media[f"v{number}.png"] = self.folder / entry["pianoroll"]

    def media(self) -> dict[str, Path]:
        return self._media

    def _kept(self, number: int) -> str | None:
        path = va.kept_path(self.loaded, number)
        return self._shown(path) if path.is_file() else None

    def _shown(self, path: Path) -> str:
        root = self.loaded.project_root
        return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)

    def state(self, listener: str | None) -> dict:
        variants = self.manifest["variants"]
        fields: list[str] = []
        for entry in variants:
            fields += [name for name in entry.get("differs", {}) if name not in fields]
        return {
            "title": self.manifest.get("title"),
            "recipe": self.manifest.get("recipe"),
            "target_lufs": self.manifest.get("target_lufs"),
            "fields": fields,
            "variants": [
                {
                    "number": entry["number"],
                    "differs": entry.get("differs", {}),
                    "lufs": entry.get("lufs"),
                    "gain_db": entry.get("gain_db", 0.0),
                    "seconds": entry.get("seconds"),
                    "audio": f"/media/v{entry['number']}.wav",
                    "roll": f"/media/v{entry['number']}.png" if entry.get("pianoroll") else None,
                    "kept": self._kept(int(entry["number"])),
                }
                for entry in variants
            ],
        }

    def post(self, path: str, body: dict, listener: str | None) -> dict:
        if path != "/api/keep":
            raise RequestError(404, "nothing to post there")
        number = body.get("variant")
        if not isinstance(number, int) or isinstance(number, bool):
            raise RequestError(400, 'send {"variant": N}')
        try:
            kept = va.keep_variant(self.recipe, number)
        except LofictlError as exc:
            raise RequestError(409, exc.message) from None
        shown = self._shown(kept)
        return {"ok": True, "path": shown, "command": f"lofictl build {shown}"}


class ListenPage:
    """A blind test: each listener's trials (hashed names, their own seeded order), and answers."""

    page = "listen"

    def __init__(self, loaded, plan: dict, answers):
        self.loaded = loaded
        self.plan = plan
        self.answers = answers
        excerpts = loaded.folder / "excerpts"
        self._media = {f"{name}.wav": excerpts / f"{name}.wav" for name in plan["stimuli"]}
        test = loaded.test
        if test.design == "mushra":
            for item in range(test.items):
                name = plan["by_system"][f"{test.reference}/{item}/system"]
                self._media[f"ref-{item}.wav"] = excerpts / f"{name}.wav"  # the open reference, by another name

    def media(self) -> dict[str, Path]:
        return self._media

    def _trials(self, listener: str):
        from lofictl.audition.listentest import trials_for

        return trials_for(self.loaded, self.plan, listener)

    def state(self, listener: str | None) -> dict:
        test = self.loaded.test
        base = {"title": test.title, "design": test.design}
        if listener is None:
            return {**base, "total": 0, "done": 0, "trials": [], "listener": False}
        trials = self._trials(listener)
        answered = self.answers.answered(listener)
        letters = "ABCDEFGHIJKL"
        return {
            **base,
            "listener": True,
            "total": len(trials),
            "done": sum(trial.id in answered for trial in trials),
            "trials": [
                {
                    "id": trial.id,
                    "stimuli": [
                        {
                            "label": letters[i] if test.design == "ab" else str(i + 1),
                            "name": name,
                            "audio": f"/media/{name}.wav",
                        }
                        for i, name in enumerate(trial.stimuli)
                    ],
                    "reference": f"/media/ref-{trial.item}.wav" if test.design == "mushra" else None,
                }
                for trial in trials
                if trial.id not in answered
            ],
        }

    def post(self, path: str, body: dict, listener: str | None) -> dict:
        if path != "/api/answer":
            raise RequestError(404, "nothing to post there")
        if listener is None:
            raise RequestError(403, "no listener cookie: open the test's page first")
        trial_id = body.get("trial")
        trial = next((t for t in self._trials(listener) if t.id == trial_id), None)
        if trial is None:
            raise RequestError(400, "no such trial")
        stimuli = self.plan["stimuli"]
        if self.loaded.test.design == "ab":
            choice = body.get("choice")
            if choice not in ("A", "B"):
                raise RequestError(400, 'send {"trial": ID, "choice": "A" or "B"}')
            shown = (stimuli[trial.stimuli[0]]["system"], stimuli[trial.stimuli[1]]["system"])
            self.answers.vote(listener, trial.id, trial.item, shown, shown[0] if choice == "A" else shown[1])
        else:
            scores = body.get("scores")
            if not isinstance(scores, dict) or set(scores) != set(trial.stimuli):
                raise RequestError(400, "score every stimulus of the trial, 0 to 100")
            rows = []
            for name, value in scores.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
                    raise RequestError(400, "scores are numbers from 0 to 100")
                rows.append((stimuli[name]["system"], stimuli[name]["role"], float(value)))
            self.answers.scores(listener, trial.id, trial.item, rows)
        answered = self.answers.answered(listener)
        trials = self._trials(listener)
        return {"ok": True, "done": sum(t.id in answered for t in trials), "total": len(trials)}
