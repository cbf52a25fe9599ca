#!/usr/bin/env bash
# One entry point for a fresh Debian machine (as root) or a Mac:
#   bash scripts/dev.sh demo    set up, then build recipes/rainy_night.yaml
#   bash scripts/dev.sh test    set up, then run the test suite as CI does (the fast and the live tier)
#   bash scripts/dev.sh test-fast   set up, then the fast tier only (the inner loop: no live tests)
#   bash scripts/dev.sh lint    set up, then ruff (lint and format) and mypy against its baseline
#   bash scripts/dev.sh setup   only set up
#   bash scripts/dev.sh bench   set up (plus the fluidsynth command), then run benchmarks/
# Set-up is idempotent: a second run checks and changes nothing in a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${LOFICTL_VENV:-.venv}
PYTHON=${PYTHON:-python3}

have_lib() { ldconfig -p 2>/dev/null | grep -q "libfluidsynth.so.3"; }

apt_install() {
  # apt-get update once per run, only when something is missing.
  if [ -z "${APT_UPDATED:-}" ]; then
    echo "setup: apt-get update" >&2
    apt-get update -qq
    APT_UPDATED=1
  fi
  echo "setup: apt-get install $*" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

system_packages() {
  if [ "$(uname -s)" = "Darwin" ]; then
    if ! command -v fluidsynth >/dev/null 2>&1 || ! command -v ffmpeg >/dev/null 2>&1; then
      echo "setup: on macOS install FluidSynth, ffmpeg and a GM SoundFont first:" >&2
      echo "    brew install fluid-synth ffmpeg" >&2
      echo "    and put a General MIDI .sf2 (e.g. FluidR3_GM.sf2) in sf2/ or set LOFICTL_SF2_PATH" >&2
      echo "    (the example recipes also play Black_Pearl_4_LV2.sf2, Red_Zeppelin_4_LV2.sf2 from AVL drums" >&2
      echo "    and MuseScore_General_Full.sf3; see README, SoundFonts)" >&2
    fi
    return
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: not a Debian-like system; install libfluidsynth 2.x and a GM SoundFont yourself" >&2
    return
  fi
  local need=()
  have_lib || need+=(libfluidsynth3)
  [ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || need+=(fluid-soundfont-gm)
  # The example recipes' drum kits and piano: AVL drums (CC-BY-SA 3.0), MuseScore General (MIT).
  [ -f /usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2 ] || need+=(avldrums.lv2-soundfont)
  [ -f /usr/share/sounds/sf3/MuseScore_General_Full.sf3 ] || need+=(musescore-general-soundfont)
  "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
  if [ "${1:-}" = bench ] && ! command -v fluidsynth >/dev/null 2>&1; then need+=(fluidsynth); fi
  # lofictl radio encodes its stream with ffmpeg, lofictl album makes its MP4 with it (and the
  # tests read tags and chapters back with ffprobe); the radio's tests also drive chromium and icecast2.
  command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
  if [ "${1:-}" = test ]; then
    command -v chromium >/dev/null 2>&1 || need+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
    command -v icecast2 >/dev/null 2>&1 || need+=(icecast2)
  fi
  if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "setup: missing ${need[*]}; run as root or: sudo apt-get install --no-install-recommends ${need[*]}" >&2
      exit 1
    fi
    apt_install "${need[@]}"
  fi
}

python_env() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating virtual environment $VENV" >&2
    "$PYTHON" -m venv "$VENV"
  fi
  # Reinstall only when the declared dependencies change.
  local stamp="$VENV/.lofictl-installed" want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing lofictl and its dependencies into $VENV" >&2
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install -q -e '.[test]'
    echo "$want" > "$stamp"
  fi
}

setup() {
  system_packages "${1:-}"
  python_env
}

case "${1:-}" in
  setup) setup ;;
  demo)
    setup
    "$VENV/bin/lofictl" build recipes/rainy_night.yaml
    ;;
  test)
    setup test
    shift
    # -m 'not slow': the full-size training runs are left to `bash scripts/dev.sh test-all`.
    # Both tiers: the fast tests and the `live` ones (a live station, chromium, icecast2, Dask ...).
    # --dist loadgroup: the tests sharing one live radio station run on one worker, in order.
    "$VENV/bin/python" -m pytest -m "not slow" -n 2 --dist loadgroup -q "$@"
    ;;
  test-fast)
    setup
    shift
    # The inner loop: no `live` tests, so neither chromium nor icecast2 is needed.
    "$VENV/bin/python" -m pytest -m "not slow and not live" -n 2 --dist loadgroup -q "$@"
    ;;
  test-all)
    setup test
    shift
    "$VENV/bin/python" -m pytest -n 2 --dist loadgroup -q "$@"
    ;;
  lint)
    setup
    "$VENV/bin/ruff" check .
    "$VENV/bin/ruff" format --check .
    "$VENV/bin/python" scripts/mypy_baseline.py
    ;;
  bench)
    setup bench
    for script in benchmarks/bench_*.py; do
      echo "== $script"
      "$VENV/bin/python" "$script"
    done
    ;;
  *)
    echo "usage: bash scripts/dev.sh demo|test|test-fast|test-all|lint|setup|bench" >&2
    exit 2
    ;;
esac
