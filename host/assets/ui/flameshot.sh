#!/bin/sh
# imgbed uploader: takes a screenshot with Flameshot (or uploads the file named as the
# first argument), then prints the link and the deletion link, and copies the link to
# the clipboard (wl-copy, xclip or xsel, whichever is there).
#   sh imgbed-upload.sh            # screenshot: flameshot gui --raw
#   sh imgbed-upload.sh cat.png    # a file
# Needs curl. Keep this file private: it holds your token.
set -eu
IMGBED_SITE=@SITE@
IMGBED_TOKEN=@TOKEN@

if [ "$#" -ge 1 ]; then
  file="$1"
  name="$(basename "$file")"
else
  file="$(mktemp)"
  trap 'rm -f "$file"' EXIT
  flameshot gui --raw >"$file"
  # Cancelled: nothing to upload.
  [ -s "$file" ] || exit 0
  name="screenshot-$(date +%Y%m%d-%H%M%S).png"
fi

if [ -n "$IMGBED_TOKEN" ]; then
  answer="$(curl -sS -H "Authorization: Bearer $IMGBED_TOKEN" -F "file=@$file;filename=$name" "$IMGBED_SITE/api/image_upload")"
else
  answer="$(curl -sS -F "file=@$file;filename=$name" "$IMGBED_SITE/api/image_upload")"
fi

# The first file's "url" and "delete_url" (the answer is compact JSON).
url="$(printf '%s' "$answer" | sed -n 's/.*"url":"\([^"]*\)".*/\1/p')"
delete_url="$(printf '%s' "$answer" | sed -n 's/.*"delete_url":"\([^"]*\)".*/\1/p')"
if [ -z "$url" ]; then
  echo "imgbed: upload refused: $answer" >&2
  exit 1
fi
echo "$url"
[ -z "$delete_url" ] || echo "$delete_url"

if command -v wl-copy >/dev/null 2>&1; then
  printf '%s' "$url" | wl-copy
elif command -v xclip >/dev/null 2>&1; then
  printf '%s' "$url" | xclip -selection clipboard
elif command -v xsel >/dev/null 2>&1; then
  printf '%s' "$url" | xsel --clipboard --input
fi
if command -v notify-send >/dev/null 2>&1; then
  notify-send "imgbed" "$url" || true
fi
