# The Debian package: CPack (as `make deb` runs it) builds allot_VERSION_amd64.deb with dpkg-shlibdeps'
# dependencies, the units, man pages, completions and the conffiles; dpkg installs it into a throw-away
# root (dpkg --root, or dpkg -x when not run as root), allot --version and allot serve run from there
# (on a free port, with the packaged /etc/allot/serve.yaml), the packaged units pass systemd-analyze
# verify, and dpkg --purge removes every file again. With ALLOT_TEST_LINTIAN=1 lintian must report no error.
# Usage: deb_test.sh BUILD_DIR SOURCE_DIR
source "$(dirname "$0")/lib.sh"
build=$1 src=$2
make_tmp
# As `make deb` does, but gzip instead of xz: the contents are the same, and it takes seconds less.
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$TMP/pkg" -D CPACK_DEBIAN_COMPRESSION_TYPE=gzip \
  >"$TMP/cpack.log" 2>&1 ||
  { cat "$TMP/cpack.log"; fail "cpack failed"; }
version=$(sed -n 's/^project(allot VERSION \([0-9.]*\) .*/\1/p' "$src/CMakeLists.txt")
[[ -n $version ]] || fail "no project version in $src/CMakeLists.txt"
deb=$(ls "$TMP"/pkg/allot_*_amd64.deb) || fail "no allot_*_amd64.deb: $(ls "$TMP/pkg")"
dev=$(ls "$TMP"/pkg/allot-dev_*_amd64.deb) || fail "no allot-dev_*_amd64.deb"
for f in ./usr/include/allot/engine.h ./usr/lib/liballot_engine.a ./usr/lib/cmake/allot/allotConfig.cmake \
         ./usr/share/doc/allot-dev/copyright ./usr/share/doc/allot-dev/changelog.gz; do
  dpkg-deb -c "$dev" | awk '{print $6}' | grep -qxF "$f" || fail "allot-dev lacks $f"
done
[[ $deb == */allot_${version}_amd64.deb ]] || fail "package named $deb, version $version"

depends=$(dpkg-deb -f "$deb" Depends)
for lib in libc6 libstdc++6 libyaml-cpp libsqlite3 libssl3 zlib1g; do
  [[ $depends == *"$lib"* ]] || fail "Depends lacks $lib: $depends"
done
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$TMP/files"
for f in /usr/bin/allot /usr/share/man/man1/allot.1.gz /usr/share/man/man1/allot-serve.1.gz \
         /usr/share/bash-completion/completions/allot /usr/share/zsh/vendor-completions/_allot \
         /usr/share/fish/vendor_completions.d/allot.fish /lib/systemd/system/allot-serve.service \
         /lib/systemd/system/allot-agent.service /etc/allot/serve.yaml /etc/allot/agent.env \
         /usr/share/doc/allot/copyright /usr/share/doc/allot/changelog.gz /usr/share/allot/examples/server/demo.yaml; do
  grep -qxF "$f" "$TMP/files" || fail "the package lacks $f"
done
grep -q '^/usr/include\|\.a$' "$TMP/files" && fail "headers or static libraries in the runtime package"
dpkg-deb -e "$deb" "$TMP/control"
[[ $(sort "$TMP/control/conffiles") == $'/etc/allot/agent.env\n/etc/allot/serve.yaml' ]] ||
  fail "conffiles: $(cat "$TMP/control/conffiles")"

# Install into a throw-away root.
root=$TMP/root
if [[ $(id -u) -eq 0 ]]; then
  how="dpkg --root"
  mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
  touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
  dpkg_root() { dpkg --root="$root" --force-depends --force-script-chrootless --log=/dev/null "$@"; }
  dpkg_root -i "$deb" >"$TMP/dpkg.log" 2>&1 || { cat "$TMP/dpkg.log"; fail "dpkg -i"; }
  dpkg_root -s allot | grep -q '^Status: install ok installed' || fail "dpkg does not list allot as installed"
else
  how="dpkg -x (not root)"
  dpkg -x "$deb" "$root"
fi
allot=$root/usr/bin/allot
"$allot" --version | grep -q "^allot $version " || fail "the packaged allot --version: $("$allot" --version)"

port=$(free_port)
"$allot" serve --config "$root/etc/allot/serve.yaml" --listen 127.0.0.1:$port --data "$TMP/data" --quiet \
  >"$TMP/serve.log" 2>&1 &
pid=$!
ok=""
for _ in $(seq 100); do
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ok=1; break; fi
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
[[ -n $ok ]] || { kill $pid 2>/dev/null || true; cat "$TMP/serve.log"; fail "allot serve from the package did not get ready"; }
curl -fsS "http://127.0.0.1:$port/v1/nodes" >/dev/null || fail "GET /v1/nodes from the packaged server"
kill -TERM $pid
wait $pid || fail "allot serve exited $? after SIGTERM"
[[ -f $TMP/data/allot.db ]] || fail "the packaged server kept no store in --data"

# The packaged units, with ExecStart and EnvironmentFile pointed into the root.
mkdir -p "$TMP/units"
for unit in allot-serve.service allot-agent.service; do
  sed -e "s|/usr/bin/allot|$allot|" -e "s|/etc/allot/|$root/etc/allot/|g" "$root/lib/systemd/system/$unit" \
    >"$TMP/units/$unit"
  out=$(MANPATH=$root/usr/share/man systemd-analyze verify "$TMP/units/$unit" 2>&1) ||
    fail "systemd-analyze verify $unit: $out"
  [[ -z $out ]] || fail "systemd-analyze verify $unit: $out"
done

if [[ $how == "dpkg --root" ]]; then
  dpkg_root --purge allot >"$TMP/dpkg.log" 2>&1 || { cat "$TMP/dpkg.log"; fail "dpkg --purge"; }
  left=$(find "$root" -type f ! -path "$root/var/lib/dpkg/*")
  [[ -z $left ]] || fail "dpkg --purge left: $left"
fi

# lintian takes minutes: only with ALLOT_TEST_LINTIAN=1 (docs/install.md lists its findings).
if [[ ${ALLOT_TEST_LINTIAN:-0} == 1 ]]; then
  lintian --no-tag-display-limit "$deb" >"$TMP/lintian.log" 2>&1 || true
  grep '^E: ' "$TMP/lintian.log" && fail "lintian errors (above)"
  sed 's/^/lintian: /' "$TMP/lintian.log"
fi
echo "ok: $(basename "$deb") installed with $how, ran allot serve$([[ $how == "dpkg --root" ]] && echo ", purged")"
