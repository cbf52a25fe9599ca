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
