#!/bin/sh
# Writes what the built allot documents about itself, for installing (see cmake/Install.cmake):
#   OUT/man/*.1 and *.1.gz     allot(1) and allot-COMMAND(1), from `allot man --dir`
#   OUT/completions/           allot (bash), _allot (zsh), allot.fish, from `allot completion SHELL`
#   OUT/changelog.gz           the Debian changelog of the package (from CHANGELOG)
# Usage: generate-docs.sh ALLOT OUT CHANGELOG
set -eu
allot=$1 out=$2 changelog=$3
# In a sanitizer build (the dev preset) a leak report at exit must not fail the build step.
export ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
rm -rf "$out/man" "$out/completions"
mkdir -p "$out/man" "$out/completions"
"$allot" man --dir "$out/man" >/dev/null
for page in "$out"/man/*.1; do
  gzip -9 -n -c "$page" >"$page.gz"
done
"$allot" completion bash >"$out/completions/allot"
"$allot" completion zsh >"$out/completions/_allot"
"$allot" completion fish >"$out/completions/allot.fish"
gzip -9 -n -c "$changelog" >"$out/changelog.gz"
