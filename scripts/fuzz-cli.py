#!/usr/bin/env python3
"""Mutation fuzzing of the allot CLI's file inputs.

Takes the repository's example inputs (examples/, tests/scenarios/, ../shared/data), mutates them (byte
flips, invalid UTF-8, NUL, huge and negative numbers, wrong types, deleted and duplicated lines, deep
nesting, alias bombs, truncation) and runs `allot sim`, `plan`, `autoscale eval|simulate`, `recommend` and
`trace convert` on each under a timeout and a memory limit. A run that ends by a signal (exit >= 128 or
negative), runs past the timeout, or exits with a code other than 0, 1 or 2 is a finding; each is saved
with its command line under --out. Exit status: 0 when nothing was found, 1 otherwise.

Only the standard library is used. Deterministic for a given --seed.

  scripts/fuzz-cli.py --allot build/allot --cases 3000 --seed 1 --out /tmp/fuzz-cli

With a sanitizer build (cmake --preset dev), report its errors as odd exit codes:
  ASAN_OPTIONS=exitcode=99:detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:exitcode=98 \
    scripts/fuzz-cli.py --allot build-dev/allot --memory-mb 0 --timeout 30
"""

import argparse
import concurrent.futures
import gzip
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")

INVALID_UTF8 = [b"\xff", b"\xfe", b"\xc3", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80",
                b"\x80", b"a\xe4b", b"\xf0\x9f\x98"]
NUMBERS = [b"-1", b"-5", b"0", b"-0", b"0.5", b"-0.001", b"1e308", b"-1e308", b"1e-320", b"99999999999999999999999",
           b"9223372036854775807", b"-9223372036854775808", b"9223372036854775808", b"2147483648", b"4294967296",
           b".nan", b".inf", b"-.inf", b"nan", b"inf", b"0x7fffffffffffffff", b"1e19", b"18446744073709551615",
           b"\"\"", b"\"-1\"", b"\"1e400\"", b"\"999999999999Ei\"", b"\"-5\"", b"1.5", b"\"1m\"", b"\"0.0001\"",
           b"9223372036854775807m", b"2305843009213693952m", b"9000T", b"8000Ti", b"1000000", b"1000000000"]
WRONG_TYPES = [b"[]", b"{}", b"[1, 2]", b"{a: b}", b"null", b"~", b"true", b"\"\"", b"[[[]]]", b"{x: {y: [z]}}",
               b"!!binary aGVsbG8=", b"&anc x", b"*undefined_alias", b"? complex\n", b"|\n  block\n"]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def head_lines(data, n):
    return b"\n".join(data.split(b"\n")[:n]) + b"\n"


def corpus():
    """(name, files) seeds: each file is (basename, bytes); `args` builds the command from the written paths."""
    def glob(d, exts):
        out = []
        if os.path.isdir(d):
            for f in sorted(os.listdir(d)):
                if f.endswith(exts):
                    out.append(os.path.join(d, f))
        return out

    seeds = []
    scenarios = glob(os.path.join(ROOT, "tests", "scenarios"), (".yaml",)) + \
        glob(os.path.join(ROOT, "examples", "sim"), (".yaml",)) + glob(os.path.join(ROOT, "examples", "policy"), (".yaml",))
    for p in scenarios:
        seeds.append(("sim", [("scenario.yaml", read(p))], lambda f: ["sim", f[0], "--json"]))
        seeds.append(("sim-explain", [("scenario.yaml", read(p))], lambda f: ["sim", f[0], "--json", "--explain"]))
    manifests = glob(os.path.join(ROOT, "examples", "plan", "seed"), (".yaml",)) + \
        glob(os.path.join(SHARED, "manifests"), (".yaml",)) + glob(os.path.join(SHARED, "compose"), (".yaml", ".yml"))
    for p in manifests:
        data = read(p)
        if len(data) > 60000:  # keep runs short: the first documents only
            data = data[:60000].rsplit(b"\n---", 1)[0] + b"\n"
        name = "compose.yaml" if "compose" in os.path.basename(p) else "manifests.yaml"
        seeds.append(("plan", [(name, data)], lambda f: ["plan", f[0], "--format", "json", "--node-shape",
                                                         "cpu=8,memory=16Gi", "--env", "prod"]))
        seeds.append(("plan-patch", [(name, data)], lambda f: ["plan", f[0], "--emit", "patch"]))
    env = os.path.join(ROOT, "examples", "plan", "environments.yaml")
    shop = os.path.join(ROOT, "examples", "plan", "seed", "shop.yaml")
    if os.path.exists(env) and os.path.exists(shop):
        seeds.append(("plan-config", [("config.yaml", read(env))],
                      lambda f, shop=shop: ["plan", shop, "--config", f[0], "--env", "dev", "--format", "json"]))
    auto = os.path.join(ROOT, "examples", "autoscale")
    for p in glob(auto, (".yaml",)):
        if os.path.basename(p).startswith("eval"):
            seeds.append(("autoscale-eval", [("input.yaml", read(p))], lambda f: ["autoscale", "eval", f[0]]))
    hpa, series = os.path.join(auto, "hpa.yaml"), os.path.join(auto, "usage-series.csv")
    if os.path.exists(hpa) and os.path.exists(series):
        seeds.append(("autoscale-simulate", [("hpa.yaml", read(hpa)), ("usage.csv", read(series))],
                      lambda f: ["autoscale", "simulate", "--hpa", f[0], f[1], "--format", "json"]))
    usage, web = os.path.join(auto, "usage.csv"), os.path.join(auto, "web.yaml")
    if os.path.exists(usage) and os.path.exists(web):
        seeds.append(("recommend", [("usage.csv", read(usage)), ("web.yaml", read(web))],
                      lambda f: ["recommend", f[0], "--manifests", f[1], "--format", "json"]))
        seeds.append(("recommend-patch", [("usage.csv", read(usage)), ("web.yaml", read(web))],
                      lambda f: ["recommend", f[0], "--manifests", f[1], "--emit", "patch"]))
    ali = os.path.join(SHARED, "traces", "alibaba-gpu-v2023")
    if os.path.isdir(ali):
        nodes = head_lines(read(os.path.join(ali, "openb_node_list_all_node.csv")), 40)
        for pods_file in ("openb_pod_list_default.csv", "openb_pod_list_gpuspec33.csv"):
            pods = head_lines(read(os.path.join(ali, pods_file)), 80)
            seeds.append(("trace-alibaba", [("nodes.csv", nodes), ("pods.csv", pods)],
                          lambda f: ["trace", "convert", "alibaba-gpu2023:%s,%s" % (f[0], f[1]), "-o", "-"]))
            seeds.append(("sim-trace-alibaba", [("nodes.csv", nodes), ("pods.csv", pods)],
                          lambda f: ["sim", "--trace", "alibaba-gpu2023:%s,%s" % (f[0], f[1]), "--json"]))
    goo = os.path.join(SHARED, "traces", "google-2011")
    if os.path.isdir(goo):
        events = head_lines(read(os.path.join(goo, "task_events-part-00000-first-100-jobs.csv")), 120)
        cpu = read(os.path.join(goo, "machine-capacity-marginal-cpu.csv"))
        mem = read(os.path.join(goo, "machine-capacity-marginal-memory.csv"))
        seeds.append(("trace-google", [("events.csv", events), ("cpu.csv", cpu), ("mem.csv", mem)],
                      lambda f: ["trace", "convert", "google2011:%s,%s,%s" % (f[0], f[1], f[2]), "-o", "-"]))
    swf = os.path.join(SHARED, "traces", "pwa-nasa-ipsc", "NASA-iPSC-1993-3.1-cln.swf.gz")
    if os.path.exists(swf):
        with gzip.open(swf, "rb") as g:
            data = head_lines(g.read(200000), 120)
        seeds.append(("trace-swf", [("log.swf", data)], lambda f: ["trace", "convert", "swf:%s" % f[0], "-o", "-"]))
        seeds.append(("sim-trace-swf", [("log.swf", data)], lambda f: ["sim", "--trace", "swf:%s" % f[0], "--json"]))
    return seeds


# ---- mutators: each takes (rng, data) and returns new bytes ----

def scalar_spans(data):
    """Byte spans of values after `key:` or list dashes, and of CSV fields (rough, line-based)."""
    spans = []
    for m in re.finditer(rb"(?:(?<=: )|(?<=:\")|(?<=- )|(?<=,)|(?<=\[))[^\s,\]\}\n:\"]+", data):
        spans.append((m.start(), m.end()))
    return spans


def m_byte_flip(rng, d):
    if not d:
        return d
    b = bytearray(d)
    for _ in range(rng.randint(1, 4)):
        b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


def m_invalid_utf8(rng, d):
    spans = scalar_spans(d)
    seq = rng.choice(INVALID_UTF8)
    if spans and rng.random() < 0.85:
        s, e = rng.choice(spans)
        at = rng.randint(s, e)
    else:
        at = rng.randrange(len(d) + 1)
    return d[:at] + seq + d[at:]


def m_nul(rng, d):
    spans = scalar_spans(d)
    if spans:
        s, e = rng.choice(spans)
        at = rng.randint(s, e)
    else:
        at = rng.randrange(len(d) + 1)
    return d[:at] + rng.choice([b"\x00", b"\\0", b"\x00\x00", b"\x01", b"\x1b[31m", b"\x7f"]) + d[at:]


def m_number(rng, d):
    nums = [m.span() for m in re.finditer(rb"(?<![\w.])-?\d+(?:\.\d+)?(?:[eE]\d+)?(?:[a-zA-Z]{0,2})(?![\w.])", d)]
    if not nums:
        return m_byte_flip(rng, d)
    s, e = rng.choice(nums)
    return d[:s] + rng.choice(NUMBERS) + d[e:]


def m_key_number(rng, d):
    # a number that is the value of a key (replicas, count, priority, maxReplicas, at, ...)
    spans = [m.span(2) for m in re.finditer(rb"(\b[A-Za-z_]{1,40}: *)(-?\d[\w.]{0,40})", d)]
    if not spans:
        return m_number(rng, d)
    s, e = rng.choice(spans)
    return d[:s] + rng.choice(NUMBERS) + d[e:]


def m_wrong_type(rng, d):
    spans = scalar_spans(d)
    if not spans:
        return m_byte_flip(rng, d)
    s, e = rng.choice(spans)
    return d[:s] + rng.choice(WRONG_TYPES) + d[e:]


def m_delete_line(rng, d):
    lines = d.split(b"\n")
    if len(lines) < 2:
        return d
    for _ in range(rng.randint(1, 3)):
        if len(lines) > 1:
            del lines[rng.randrange(len(lines))]
    return b"\n".join(lines)


def m_duplicate_line(rng, d):
    lines = d.split(b"\n")
    i = rng.randrange(len(lines))
    many = rng.random() < 0.1 and len(lines[i]) * 3000 < (4 << 20)  # many copies, but only of a short line
    lines[i:i] = [lines[i]] * (rng.choice([300, 3000]) if many else rng.randint(1, 3))
    return b"\n".join(lines)


def m_deep_nesting(rng, d):
    n = rng.choice([50, 500, 1999, 2001, 5000, 20000])
    kind = rng.random()
    if kind < 0.4:
        deep = b"[" * n + b"]" * n
    elif kind < 0.8:
        deep = b"{a: " * n + b"x" + b"}" * n
    else:
        deep = b"[" * n  # unterminated
    spans = scalar_spans(d)
    if not spans:
        return deep
    s, e = rng.choice(spans)
    return d[:s] + deep + d[e:]


def m_alias_bomb(rng, d):
    levels = rng.randint(4, 9)
    bomb = b"bomb0: &b0 [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, levels):
        bomb += b"bomb%d: &b%d [" % (i, i) + b", ".join([b"*b%d" % (i - 1)] * 10) + b"]\n"
    if rng.random() < 0.5:
        return bomb + d  # an unknown top-level key after the anchors
    spans = scalar_spans(d)
    if not spans:
        return bomb
    s, e = rng.choice(spans)
    # anchor a value and alias it again into itself (a cycle) or elsewhere
    return d[:s] + b"&cyc [*cyc]" + d[e:] if rng.random() < 0.3 else d[:s] + b"*b%d" % (levels - 1) + d[e:]


def m_truncate(rng, d):
    if not d:
        return d
    return d[:rng.randrange(len(d))]


def m_huge_string(rng, d):
    spans = scalar_spans(d)
    if not spans:
        return d
    s, e = rng.choice(spans)
    return d[:s] + b"x" * rng.choice([300, 70000, 1 << 20]) + d[e:]


def m_csv_field(rng, d):
    lines = d.split(b"\n")
    if len(lines) < 2:
        return d
    i = rng.randrange(1, len(lines))
    fields = lines[i].split(b",")
    j = rng.randrange(len(fields))
    fields[j] = rng.choice(NUMBERS + INVALID_UTF8 + [b"", b"x", b"1,2", b"\"", b" "])
    if rng.random() < 0.2:
        fields.append(b"extra")
    if rng.random() < 0.1 and len(fields) > 1:
        fields.pop()
    lines[i] = b",".join(fields)
    return b"\n".join(lines)


def m_json_form(rng, d):
    # a flow-style rendering of the head of the file: the scenario loaders accept JSON too
    return b"{" + d.replace(b"\n", b" ")[: rng.randint(10, 400)] + b"}"


MUTATORS = [
    (m_byte_flip, 3), (m_invalid_utf8, 5), (m_nul, 2), (m_number, 4), (m_key_number, 4), (m_wrong_type, 5), (m_delete_line, 3),
    (m_duplicate_line, 2), (m_deep_nesting, 1), (m_alias_bomb, 1), (m_truncate, 1), (m_huge_string, 1),
    (m_csv_field, 4), (m_json_form, 1),
]


def mutate(rng, data, is_csv):
    pool = [m for m, w in MUTATORS for _ in range(w) if is_csv or m is not m_csv_field]
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
        if len(data) > (8 << 20):  # big enough: further mutations would only make generation slow
            break
        data = rng.choice(pool)(rng, data)
    return data


def limit_memory(mb):
    def apply():
        if mb > 0:
            resource.setrlimit(resource.RLIMIT_AS, (mb << 20, mb << 20))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def run_case(allot, case, timeout, memory_mb, workdir):
    name, files, argv_fn, seed_index = case
    d = tempfile.mkdtemp(dir=workdir)
    paths = []
    for base, data in files:
        p = os.path.join(d, base)
        with open(p, "wb") as f:
            f.write(data)
        paths.append(p)
    argv = [allot] + argv_fn(paths)
    start = time.monotonic()
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, preexec_fn=limit_memory(memory_mb), cwd=d)
        code, err = r.returncode, r.stderr
    except subprocess.TimeoutExpired as e:
        code, err = "timeout", e.stderr or b""
    elapsed = time.monotonic() - start
    finding = None
    if code == "timeout":
        finding = "timeout"
    elif code < 0 or code >= 128:
        finding = "signal %d" % (-code if code < 0 else code - 128)
    elif code not in (0, 1, 2):
        finding = "exit %d" % code
    elif code == 2 and not err.startswith(b"allot: "):
        finding = "exit 2 without an `allot: ` message"
    return finding, argv, d, err, elapsed, code


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--allot", default=os.path.join(ROOT, "build", "allot"))
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per run")
    ap.add_argument("--memory-mb", type=int, default=4096,
                    help="address-space limit per run; 0: none (needed for an ASan build)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated seed names (sim, plan, trace-swf, ...)")
    ap.add_argument("--out", default="", help="where findings are kept (default: a temporary directory)")
    args = ap.parse_args()
    args.allot = os.path.abspath(args.allot)
    if not os.access(args.allot, os.X_OK):
        sys.exit("fuzz-cli: %s is not an executable (build it first, or pass --allot)" % args.allot)
    seeds = corpus()
    if args.only:
        keep = set(args.only.split(","))
        seeds = [s for s in seeds if s[0] in keep]
    if not seeds:
        sys.exit("fuzz-cli: no seed inputs found")
    rng = random.Random(args.seed)
    out = args.out or tempfile.mkdtemp(prefix="fuzz-cli-")
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="fuzz-cli-work-")
    # A private copy: a rebuild relinking the binary mid-run must not turn into findings.
    binary = os.path.join(work, "allot")
    shutil.copy2(args.allot, binary)
    cases = []
    names = sorted(set(s[0] for s in seeds))
    for i in range(args.cases):
        pick = rng.choice(names)  # every command as often as every other, whatever its number of seeds
        si = rng.choice([j for j, s in enumerate(seeds) if s[0] == pick])
        name, files, argv_fn = seeds[si]
        files = list(files)
        k = rng.randrange(len(files))
        base, data = files[k]
        files[k] = (base, mutate(rng, data, base.endswith((".csv", ".swf"))))
        cases.append((name, files, argv_fn, si))
    findings = {}
    counts = {}
    exits = {}
    done = 0
    slowest = 0.0
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_case, binary, c, args.timeout, args.memory_mb, work): (i, c)
                   for i, c in enumerate(cases)}
        for fut in concurrent.futures.as_completed(futures):
            i, c = futures[fut]
            finding, argv, d, err, elapsed, code = fut.result()
            exits[str(code)] = exits.get(str(code), 0) + 1
            slowest = max(slowest, elapsed)
            counts[c[0]] = counts.get(c[0], 0) + 1
            done += 1
            if finding:
                first = err.decode("utf-8", "replace").strip().split("\n")[-1][:200] if err else ""
                key = (c[0], finding, re.sub(r"\d+", "N", first))
                case_dir = os.path.join(out, "case-%05d" % i)
                shutil.copytree(d, case_dir, dirs_exist_ok=True)
                with open(os.path.join(case_dir, "command"), "w") as f:
                    command = [args.allot if a == binary else a.replace(d, case_dir) for a in argv]
                    f.write(" ".join(command) + "\n# " + finding + "\n" + first + "\n")
                if key not in findings:
                    findings[key] = case_dir
                    print("FINDING %s (%s): %s\n  %s" % (c[0], finding, first, case_dir), flush=True)
            shutil.rmtree(d, ignore_errors=True)
            if done % 500 == 0:
                print("... %d/%d cases, %d distinct findings" % (done, len(cases), len(findings)), flush=True)
    shutil.rmtree(work, ignore_errors=True)
    print("%d cases (%s); exit codes %s; slowest run %.1f s; %d distinct findings%s" % (
        len(cases), ", ".join("%s %d" % kv for kv in sorted(counts.items())),
        ", ".join("%s: %d" % kv for kv in sorted(exits.items())), slowest, len(findings),
        (" under " + out) if findings else ""))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
