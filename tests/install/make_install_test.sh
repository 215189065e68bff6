# `make install PREFIX=P DESTDIR=D` puts the whole tool under D/P: the binary (which runs from there),
# man pages, completions, examples, systemd units and /etc/allot files naming P's paths, the headers,
# libraries and CMake package; a program configured with find_package(allot) against D/P builds,
# links allot::engine and runs. The units (installed again with a real prefix, so that ExecStart
# exists) pass systemd-analyze verify.
# Usage: make_install_test.sh SOURCE_DIR BUILD_DIR CONSUMER_DIR
source "$(dirname "$0")/lib.sh"
src=$1 build=$2 consumer=$3
make_tmp
prefix=/opt/allot-test
# -o build: the build is up to date when the tests run; this checks what `make install` does with it.
make -s -C "$src" -o build install BUILD="$build" PREFIX=$prefix DESTDIR="$TMP/dest" >"$TMP/install.log" 2>&1 ||
  { cat "$TMP/install.log"; fail "make install failed"; }
root=$TMP/dest$prefix
for f in bin/allot share/man/man1/allot.1.gz share/man/man1/allot-serve.1.gz share/man/man1/allot-guard.1.gz \
         share/bash-completion/completions/allot share/zsh/vendor-completions/_allot \
         share/fish/vendor_completions.d/allot.fish share/allot/examples/server/demo.yaml \
         share/doc/allot/copyright share/doc/allot/server-config.md etc/allot/serve.yaml etc/allot/agent.env \
         lib/systemd/system/allot-serve.service lib/systemd/system/allot-agent.service \
         include/allot/engine.h include/allot/result.h lib/liballot_engine.a lib/liballot_core.a \
         lib/cmake/allot/allotConfig.cmake lib/cmake/allot/allotConfigVersion.cmake lib/cmake/allot/allotTargets.cmake; do
  [[ -e $root/$f ]] || fail "make install did not install $prefix/$f"
done
[[ -z $(find "$TMP/dest" -path "$TMP/dest$prefix" -prune -o -type f -print) ]] ||
  fail "make install wrote outside PREFIX: $(find "$TMP/dest" -path "$TMP/dest$prefix" -prune -o -type f -print)"
[[ -z $(find "$root/include" -type f ! -path "$root/include/allot/*") ]] || fail "headers outside include/allot"
"$root/bin/allot" --version | grep -q '^allot ' || fail "the installed allot does not run"
grep -qx "ExecStart=$prefix/bin/allot serve --config $prefix/etc/allot/serve.yaml --data \${STATE_DIRECTORY}" \
  "$root/lib/systemd/system/allot-serve.service" || fail "allot-serve.service: ExecStart does not name $prefix"
grep -qx "data: $prefix/var/lib/allot" "$root/etc/allot/serve.yaml" || fail "serve.yaml: data does not follow the prefix"
zcat "$root/share/man/man1/allot-serve.1.gz" | grep -q '^\.SH OPTIONS' || fail "allot-serve.1.gz is not the page"

# A build with the dashboard installs it, and the installed binary finds it (../share/allot/dashboard).
if [[ -e $build/dashboard/index.html ]]; then
  [[ -e $root/share/allot/dashboard/index.html ]] || fail "make install did not install share/allot/dashboard"
  port=$(free_port)
  "$root/bin/allot" serve --dev --quiet --listen "127.0.0.1:$port" --data "$TMP/data" 2>"$TMP/serve.log" &
  pid=$!
  for _ in $(seq 200); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
  page=$(curl -fs "http://127.0.0.1:$port/" || true)
  kill "$pid"
  wait "$pid" || true
  grep -q '/assets/app-' <<<"$page" || fail "the installed allot does not serve the installed dashboard: $page"
fi

# A program embedding the engine, built against the installed tree only.
cmake -S "$consumer" -B "$TMP/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$root" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_COMPILER_LAUNCHER= >"$TMP/consumer.log" 2>&1 || { cat "$TMP/consumer.log"; fail "consumer: configure"; }
grep -q "$root/lib/cmake/allot" "$TMP/consumer/CMakeCache.txt" || fail "consumer did not find the installed allot"
cmake --build "$TMP/consumer" >>"$TMP/consumer.log" 2>&1 || { cat "$TMP/consumer.log"; fail "consumer: build"; }
grep -q -- "-I$src/include\|$src/src" "$TMP/consumer/build.ninja" && fail "consumer compiled against the source tree"
out=$("$TMP/consumer/consumer") || fail "consumer: exit $?"
[[ $out == "1536Mi 1500 engine ok" ]] || fail "consumer printed '$out'"

# A second install over the first keeps an edited config.
echo "# edited" >>"$root/etc/allot/serve.yaml"
make -s -C "$src" -o build install BUILD="$build" PREFIX=$prefix DESTDIR="$TMP/dest" >"$TMP/install2.log" 2>&1 ||
  fail "second make install failed"
grep -qx "# edited" "$root/etc/allot/serve.yaml" || fail "a second make install overwrote etc/allot/serve.yaml"

# systemd-analyze verify needs ExecStart to exist: install once more with the real prefix TMP/real.
DESTDIR= cmake --install "$build" --prefix "$TMP/real" --component runtime >/dev/null
for unit in allot-serve.service allot-agent.service; do
  # verify also runs `man` for Documentation=man:allot-serve(1): the installed pages must be found.
  out=$(MANPATH=$TMP/real/share/man systemd-analyze verify "$TMP/real/lib/systemd/system/$unit" 2>&1) ||
    fail "systemd-analyze verify $unit: $out"
  [[ -z $out ]] || fail "systemd-analyze verify $unit: $out"
done
echo "ok: make install, find_package(allot) consumer, systemd-analyze verify"
