# Completes a command line in a real interactive zsh, as a user pressing TAB would: zsh runs in a pty
# (zsh/zpty) with compinit and DIR/_allot loaded, WORDS and a TAB are typed, and the command line that
# completion left is printed. Usage: zsh -f zsh_complete.zsh DIR WORDS
zmodload zsh/zpty
zpty -b z zsh -f -i
zpty -w z 'PS1="> "; autoload -Uz compinit; compinit -u -d '$1'/zcompdump; source '$1'/_allot; bindkey "^I" complete-word'
# TAB completes, then ^A and ^E wrap the line into a print of itself.
zpty -w -n z "$2"$'\t\x01print -r -- LINE:\x05\n'
local all="" out
for i in {1..100}; do
  while zpty -r -t z out 2>/dev/null; do all+=$out; done
  [[ ${all//$'\r'/} == *$'\n'LINE:*$'\n'* ]] && break
  sleep 0.1
done
zpty -d z
print -r -- "${all//$'\r'/}" | grep -a '^LINE:' | tail -1 | sed 's/^LINE://'
