"""The upload video: the cover as a still over the continuous mix, H.264/AAC in MP4, with chapters.

Debian's ffmpeg does the encoding. Its output is the same bytes for the same inputs when the
thread count is fixed and the bitexact flags keep version strings out of the file, so the
video can sit in the album lock like every other output (the lock records ffmpeg's version).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from lofictl.errors import LofictlError

X264_THREADS = 2  # fixed: x264's bytes depend on its thread count, never on the machine's
# A still picture: `veryfast` makes the same picture as `medium` at 2/3 of the cost (and a smaller
# file here); the AAC encoder's `fast` coder is 4x quicker than its default at 320 kbit/s.
X264_PRESET = "veryfast"
AAC_CODER = "fast"


def ffmpeg_path() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        raise LofictlError(
            "the album video needs ffmpeg (Debian: apt-get install ffmpeg; `bash scripts/dev.sh "
            "setup` installs it); or set output.video: false",
            field="output.video",
        )
    return path


def ffmpeg_version() -> str:
    try:
        first = subprocess.run([ffmpeg_path(), "-version"], capture_output=True, text=True, check=True).stdout
    except (LofictlError, OSError, subprocess.CalledProcessError):
        return "missing"
    match = re.match(r"ffmpeg version (\S+)", first)
    return match.group(1) if match else first.split("\n", 1)[0]


def make_video(
    frame_png: Path, audio: Path, metadata: Path, duration_s: float, out: Path, *, fps: int, audio_kbps: int
) -> None:
    """frame (a still PNG) + audio + FFMETADATA chapters → out (.mp4)."""
    command = [
        ffmpeg_path(),
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-loop",
        "1",
        "-framerate",
        str(fps),
        "-i",
        str(frame_png),
        "-i",
        str(audio),
        "-i",
        str(metadata),
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-map_metadata",
        "2",
        "-map_chapters",
        "2",
        "-t",
        f"{duration_s:.6f}",
        "-c:v",
        "libx264",
        "-threads",
        str(X264_THREADS),
        "-preset",
        X264_PRESET,
        "-tune",
        "stillimage",
        "-pix_fmt",
        "yuv420p",
        "-g",
        str(10 * fps),
        "-r",
        str(fps),
        "-c:a",
        "aac",
        "-aac_coder",
        AAC_CODER,
        "-b:a",
        f"{audio_kbps}k",
        "-fflags",
        "+bitexact",
        "-flags:v",
        "+bitexact",
        "-flags:a",
        "+bitexact",
        "-movflags",
        "+faststart",
        str(out),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True)
    except OSError as exc:
        raise LofictlError(f"cannot run ffmpeg: {exc}") from None
    if result.returncode != 0:
        out.unlink(missing_ok=True)
        detail = " ".join(result.stderr.split())[-300:]
        raise LofictlError(f"ffmpeg could not make the video: {detail}")
