# The man pages `allot man --dir` writes: one per command and allot(1); each renders without a warning
# (groff -ww), has a NAME line lexgrog reads, and shows every option its command's --help lists.
# Usage: man_test.sh ALLOT
source "$(dirname "$0")/lib.sh"
allot=$1
make_tmp
"$allot" man --dir "$TMP/man" >"$TMP/written"
mapfile -t commands < <(allot_commands "$allot")
[[ ${#commands[@]} -gt 10 ]] || fail "allot --help lists only ${#commands[@]} commands"
[[ $(wc -l <"$TMP/written") -eq $((${#commands[@]} + 1)) ]] || fail "allot man --dir wrote $(cat "$TMP/written")"

check_page() {  # PAGE NAME
  local page=$1 name=$2 warnings out
  warnings=$(groff -ww -man -Tutf8 -z "$page" 2>&1) || fail "$page: groff failed: $warnings"
  [[ -z $warnings ]] || fail "$page: groff warnings: $warnings"
  out=$(lexgrog "$page") || fail "$page: lexgrog found no NAME section: $out"
  [[ $out == *"\"$name - "* ]] || fail "$page: lexgrog read: $out"
  warnings=$(MANWIDTH=100 man -l "$page" 2>&1 >/dev/null) || fail "$page: man -l failed"
  [[ -z $warnings ]] || fail "$page: man -l warnings: $warnings"
}

check_page "$TMP/man/allot.1" allot
main=$(MANWIDTH=200 man -l "$TMP/man/allot.1" 2>/dev/null)
for c in "${commands[@]}"; do
  page=$TMP/man/allot-$c.1
  [[ -f $page ]] || fail "no page for allot $c"
  check_page "$page" "allot-$c"
  [[ $main == *"allot-$c(1)"* ]] || fail "allot(1) does not list allot-$c(1)"
  text=$(MANWIDTH=200 man -l "$page" 2>/dev/null)
  # Every option of `allot C --help` (and of `allot C SUB --help` for the subcommands the page lists).
  helps=$("$allot" "$c" --help 2>&1 || true)
  for sub in $(grep -o "^ *allot $c [a-z][a-z-]*" <<<"$text" | awk '{print $3}' | sort -u); do
    helps+=$'\n'$("$allot" "$c" "$sub" --help 2>&1 || true)
  done
  for opt in $(grep -oE '^  --[a-z][a-z0-9-]*' <<<"$helps" | sort -u); do
    [[ $text == *"$opt"* ]] || fail "allot-$c(1) lacks $opt, which --help lists"
  done
done
# The pages say what --help says: the serve page has serve's description and option help.
serve=$(MANWIDTH=1000 man -l "$TMP/man/allot-serve.1" 2>/dev/null | tr -s ' ')
[[ $serve == *"address to listen on (default 127.0.0.1:7070, or the config's)"* ]] ||
  fail "allot-serve(1) lacks the --listen help of allot serve --help"
guard=$(MANWIDTH=1000 man -l "$TMP/man/allot-guard.1" 2>/dev/null)
for sub in status check wait run recommend metrics; do
  [[ $guard == *"allot guard $sub"* ]] || fail "allot-guard(1) lacks the subcommand $sub"
done
# One page to stdout; bad input is refused.
"$allot" man serve | cmp -s - "$TMP/man/allot-serve.1" || fail "allot man serve differs from the written page"
set +e
err=$("$allot" man no-such-command 2>&1); rc=$?
set -e
[[ $rc -eq 2 && $err == *'no command "no-such-command"'* ]] || fail "allot man no-such-command: exit $rc, $err"
echo "ok: ${#commands[@]} command pages and allot(1)"
