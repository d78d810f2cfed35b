#!/usr/bin/env bash
# Regenerates fixtures/audio/input/: the audio people actually have, for the tests of the audio
# input path (src/audio/input.ts). One short phrase spoken by espeak-ng, converted by sox:
#   sing-44k1-stereo.wav   44.1 kHz, 2 channels, 16-bit (left: the voice, right: the voice at half gain)
#   sing-48k-mono.wav      48 kHz, 1 channel, 16-bit
#   sing-48k-stereo.opus   Ogg Opus made by opusenc from the 44.1 kHz stereo file (stereo, 48 kbit/s)
#   sing-16k-mono.wav      the reference: sox's own conversion of the same voice to 16 kHz mono
# The generated files are committed, so the tests need none of these tools:
#   apt-get install espeak-ng sox opus-tools && bash scripts/make-input-fixtures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in espeak-ng sox opusenc; do
  command -v "$tool" >/dev/null || { echo "make-input-fixtures: $tool is missing (apt-get install espeak-ng sox opus-tools)" >&2; exit 1; }
done

OUT=fixtures/audio/input
TEXT="Shall we sing a song?"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$OUT"

espeak-ng -v en-us -s 150 -w "$tmp/raw.wav" "$TEXT"
# -D: no dither, so every run gives the same bytes
sox -D "$tmp/raw.wav" -r 44100 -b 16 -e signed-integer "$tmp/mono44.wav"
sox -D "$tmp/mono44.wav" -c 2 "$OUT/sing-44k1-stereo.wav" remix 1 1v0.5
sox -D "$tmp/raw.wav" -r 48000 -c 1 -b 16 -e signed-integer "$OUT/sing-48k-mono.wav"
sox -D "$tmp/raw.wav" -r 16000 -c 1 -b 16 -e signed-integer "$OUT/sing-16k-mono.wav"
opusenc --quiet --bitrate 48 --serial 7 "$OUT/sing-44k1-stereo.wav" "$OUT/sing-48k-stereo.opus"

{
  echo '{'
  echo '  "generatedBy": "scripts/make-input-fixtures.sh",'
  echo "  \"text\": \"$TEXT\","
  echo "  \"tools\": [\"$(espeak-ng --version | head -1 | sed "s/ *Data at.*//")\", \"$(sox --version | head -1)\", \"$(opusenc --version | head -1)\"],"
  echo '  "files": {'
  first=1
  for f in sing-44k1-stereo.wav sing-48k-mono.wav sing-48k-stereo.opus sing-16k-mono.wav; do
    [ $first -eq 1 ] || echo ','
    first=0
    printf '    "%s": "%s"' "$f" "$(sha256sum "$OUT/$f" | cut -d' ' -f1)"
  done
  echo
  echo '  }'
  echo '}'
} > "$OUT/manifest.json"
ls -l "$OUT"
