# The completion scripts of `allot completion bash|zsh|fish`: bash's is loaded into bash and asked to
# complete words the way readline does (COMP_WORDS, COMP_CWORD, the function `complete` names); fish's
# answers `complete -C`; zsh's registers itself with compinit and completes TAB in an interactive zsh.
# Usage: completion_test.sh ALLOT
source "$(dirname "$0")/lib.sh"
allot=$1
make_tmp
"$allot" completion bash >"$TMP/allot.bash"
mkdir -p "$TMP/files/sub"
touch "$TMP/files/cluster.yaml" "$TMP/files/cluster-2.yaml" "$TMP/files/notes.txt"

# complete WORDS...: what bash offers for the last word (one per line, sorted).
complete_bash() {
  bash --norc --noprofile -c '
    source "$1"; shift
    fn=$(complete -p allot | sed -n "s/.*-F \([^ ]*\) allot$/\1/p")
    [[ -n $fn ]] || { echo "no completion function for allot" >&2; exit 3; }
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
    "$fn" allot "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$TMP/allot.bash" "$@"
}
expect_bash() {  # EXPECTED -- WORDS...: EXPECTED is the exact list, space-separated
  local expected=$1; shift 2
  local got; got=$(complete_bash "$@" | tr '\n' ' ' | sed 's/ $//')
  [[ $got == "$expected" ]] || fail "bash: allot ${*:2} -> '$got', expected '$expected'"
}
expect_bash_has() {  # WORD -- WORDS...
  local want=$1; shift 2
  complete_bash "$@" | grep -qxF -- "$want" || fail "bash: allot ${*:2} does not offer $want"
}

expect_bash "serve" -- allot ser
expect_bash "guard" -- allot gu
expect_bash "--config" -- allot serve --con
expect_bash "check" -- allot guard ch
expect_bash "status" -- allot guard st
expect_bash "add" -- allot node a
expect_bash "convert" -- allot trace con
expect_bash "bash" -- allot completion b
expect_bash_has "--json" -- allot guard status --
expect_bash_has "--hpa" -- allot autoscale simulate --
expect_bash_has "--etcd-endpoints" -- allot serve --
expect_bash_has "--version" -- allot --
# File arguments: an option whose value is a FILE, a DIR, and a command that reads files.
expect_bash "$TMP/files/cluster-2.yaml $TMP/files/cluster.yaml" -- allot serve --config "$TMP/files/cl"
expect_bash "$TMP/files/sub" -- allot serve --data "$TMP/files/s"
expect_bash "$TMP/files/notes.txt" -- allot sim "$TMP/files/no"
expect_bash "$TMP/files/cluster-2.yaml $TMP/files/cluster.yaml" -- allot plan "$TMP/files/clu"
# Values that are not files get nothing, and commands without file arguments offer no files.
expect_bash "" -- allot serve --listen "$TMP/files/cl"
expect_bash "" -- allot status "$TMP/files/cl"
expect_bash "" -- allot alloc --request "$TMP/files/cl"
# Options of one subcommand are not offered for another.
complete_bash allot guard check -- | grep -qxF -- --listen && fail "bash: guard check offers guard metrics' --listen"

# zsh: parses, and registers _allot for allot.
if command -v zsh >/dev/null; then
  "$allot" completion zsh >"$TMP/_allot"
  zsh -n "$TMP/_allot" || fail "zsh: the script does not parse"
  got=$(cd "$TMP" && zsh -f -c 'autoload -Uz compinit && compinit -u -d '"$TMP"'/zcompdump && source ./_allot && print -r -- $_comps[allot]')
  [[ $got == _allot ]] || fail "zsh: allot is completed by '$got', expected _allot"
  expect_zsh() {  # WORDS RESULT: typing WORDS and TAB in an interactive zsh leaves RESULT
    local line; line=$(timeout 30 zsh -f "$(dirname "$0")/zsh_complete.zsh" "$TMP" "$1" | sed 's/ *$//')
    [[ $line == "$2" ]] || fail "zsh: '$1' TAB -> '$line', expected '$2'"
  }
  expect_zsh "allot ser" "allot serve"
  expect_zsh "allot guard sta" "allot guard status"
  expect_zsh "allot serve --con" "allot serve --config"
  expect_zsh "allot trace replay --pol" "allot trace replay --policy"
  expect_zsh "allot serve --config $TMP/files/not" "allot serve --config $TMP/files/notes.txt"
else
  fail "zsh is not installed (scripts/install-deps.sh test installs it)"
fi

# fish: complete -C gives what the shell would offer.
if command -v fish >/dev/null; then
  "$allot" completion fish >"$TMP/allot.fish"
  complete_fish() { fish --no-config -c "source $TMP/allot.fish; complete -C '$1'" | cut -f1 | sort; }
  expect_fish() {  # LINE WORD
    complete_fish "$1" | grep -qxF -- "$2" || fail "fish: '$1' does not offer $2: $(complete_fish "$1" | tr '\n' ' ')"
  }
  expect_fish "allot ser" serve
  expect_fish "allot serve --con" --config
  expect_fish "allot guard st" status
  expect_fish "allot guard status --j" --json
  expect_fish "allot trace replay --po" --policy
  expect_fish "allot serve --config $TMP/files/cl" "$TMP/files/cluster.yaml"
  complete_fish "allot status --" | grep -qxF -- --etcd-endpoints && fail "fish: allot status offers serve's options"
  complete_fish "allot guard status --" | grep -qxF -- --server && fail "fish: guard status offers status' options"
else
  fail "fish is not installed (scripts/install-deps.sh test installs it)"
fi

set +e
err=$("$allot" completion tcsh 2>&1); rc=$?
set -e
[[ $rc -eq 2 && $err == *'unknown shell "tcsh"'* ]] || fail "allot completion tcsh: exit $rc, $err"
echo "ok: bash, zsh and fish completion"
