#include "cli/command.h"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "cli/version.h"

namespace allot::cli {
namespace {
std::vector<Command>& Mutable() {
  static std::vector<Command> commands;
  return commands;
}

// While DescribeCommands runs a command, parsers append their spec here instead of parsing.
std::vector<ParserSpec>* g_describing = nullptr;

// Runs `c` with `args` in describe mode: nothing is printed (the command's stdout is returned) and
// every parser it reaches records its spec in *specs.
std::string RunDescribing(const Command& c, const Argv& args, std::vector<ParserSpec>* specs) {
  std::ostringstream out, err;
  std::streambuf* old_out = std::cout.rdbuf(out.rdbuf());
  std::streambuf* old_err = std::cerr.rdbuf(err.rdbuf());
  g_describing = specs;
  c.run(args);
  g_describing = nullptr;
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  return out.str();
}

bool IsVerb(const std::string& w) {
  if (w.empty() || w[0] < 'a' || w[0] > 'z') return false;
  return std::all_of(w.begin(), w.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-';
  });
}

void AddUnique(std::vector<std::string>* v, const std::string& w) {
  if (std::find(v->begin(), v->end(), w) == v->end()) v->push_back(w);
}
}  // namespace

const std::vector<Command>& Commands() { return Mutable(); }
Registrar::Registrar(Command c) { Mutable().push_back(c); }

int Fail(const std::string& what, const std::string& why, int code) {
  std::cerr << "allot: " << what << ": " << why << "\n";
  return code;
}
int Fail(const std::string& what, const Error& e) { return Fail(what, e.message, ExitCodeFor(e.code)); }

std::string ParsedArgs::Get(const std::string& name, const std::string& fallback) const {
  auto it = values.find(name);
  return it == values.end() || it->second.empty() ? fallback : it->second.back();
}
const std::vector<std::string>& ParsedArgs::GetAll(const std::string& name) const {
  static const std::vector<std::string> kEmpty;
  auto it = values.find(name);
  return it == values.end() ? kEmpty : it->second;
}

Result<std::string> OutputFormat(const ParsedArgs& a, const std::string& fallback,
                                 const std::vector<std::string>& formats) {
  std::string list;
  for (size_t i = 0; i < formats.size(); i++) {
    list += (i == 0 ? "" : i + 1 == formats.size() ? " or " : ", ") + formats[i];
  }
  std::string f = a.Get("format", fallback);
  if (std::find(formats.begin(), formats.end(), f) == formats.end()) {
    return InvalidArgument("--format \"" + f + "\": use " + list);
  }
  if (a.Has("json")) {
    if (a.Has("format") && f != "json")
      return InvalidArgument("--json and --format " + f + " contradict each other");
    return std::string("json");
  }
  return f;
}

ArgParser::ArgParser(std::string command, std::string usage, std::string description) {
  spec_.command = std::move(command);
  spec_.usage = std::move(usage);
  spec_.description = std::move(description);
}

ArgParser& ArgParser::Flag(const std::string& name, const std::string& help) {
  spec_.options.push_back({name, "", help, true});
  return *this;
}
ArgParser& ArgParser::Option(const std::string& name, const std::string& value_name,
                             const std::string& help) {
  spec_.options.push_back({name, value_name, help, false});
  return *this;
}

std::string ArgParser::Help() const { return HelpText(spec_); }

ArgParser& AddTlsClientOptions(ArgParser& p) {
  return p
      .Option("ca-cert", "FILE",
              "CA certificate(s) an https:// server's certificate must chain to (default $ALLOT_CA_CERT, "
              "else the system's CAs)")
      .Option("client-cert", "FILE",
              "TLS client certificate, for servers that map them to roles (default $ALLOT_CLIENT_CERT)")
      .Option("client-key", "FILE", "the private key of --client-cert (default $ALLOT_CLIENT_KEY)");
}

net::TlsClientOptions TlsClientFromArgs(const ParsedArgs& args) {
  auto value = [&](const char* flag, const char* env) {
    if (args.Has(flag)) return args.Get(flag);
    const char* e = std::getenv(env);
    return std::string(e != nullptr ? e : "");
  };
  return {value("ca-cert", "ALLOT_CA_CERT"), value("client-cert", "ALLOT_CLIENT_CERT"),
          value("client-key", "ALLOT_CLIENT_KEY")};
}

std::string HelpText(const ParserSpec& spec) {
  std::ostringstream o;
  o << "usage: allot " << spec.command << " " << spec.usage << "\n";
  if (!spec.description.empty()) o << "\n" << spec.description << "\n";
  o << "\noptions:\n";
  for (const auto& opt : spec.options) {
    std::string left = "  --" + opt.name + (opt.flag ? "" : " " + opt.value_name);
    o << left;
    if (left.size() < 28)
      o << std::string(28 - left.size(), ' ');
    else
      o << "\n" << std::string(28, ' ');
    o << opt.help << "\n";
  }
  o << "  --help                    show this help\n";
  return o.str();
}

std::optional<ParsedArgs> ArgParser::Parse(const Argv& args, int* exit_code) const {
  if (g_describing != nullptr) {
    g_describing->push_back(spec_);
    *exit_code = 0;
    return std::nullopt;
  }
  const std::string& command = spec_.command;
  const std::vector<OptionSpec>& opts = spec_.options;
  ParsedArgs out;
  bool options_done = false;
  for (size_t i = 0; i < args.size(); i++) {
    const std::string& a = args[i];
    if (options_done || a.size() < 2 || a[0] != '-' ||
        (a[1] != '-' && a.size() >= 2 && !std::isalpha(static_cast<unsigned char>(a[1])))) {
      out.positionals.push_back(a);
      if (stop_at_positional_ && !options_done) {
        for (size_t j = i + 1; j < args.size(); j++) out.positionals.push_back(args[j]);
        break;
      }
      continue;
    }
    if (a == "--") {
      options_done = true;
      if (stop_at_positional_) {
        out.positionals.push_back("--");
        for (size_t j = i + 1; j < args.size(); j++) out.positionals.push_back(args[j]);
        break;
      }
      continue;
    }
    if (a == "--help" || a == "-h") {
      std::cout << Help();
      *exit_code = 0;
      return std::nullopt;
    }
    if (a[1] != '-') {
      *exit_code = Fail(command, "unknown option " + a + " (see --help)");
      return std::nullopt;
    }
    std::string name = a.substr(2), value;
    bool has_inline = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_inline = true;
    }
    const OptionSpec* opt = nullptr;
    for (const auto& o : opts)
      if (o.name == name) opt = &o;
    if (opt == nullptr) {
      *exit_code = Fail(command, "unknown option --" + name + " (see --help)");
      return std::nullopt;
    }
    if (opt->flag) {
      if (has_inline) {
        *exit_code = Fail(command, "--" + name + " takes no value");
        return std::nullopt;
      }
      out.values[name].push_back("");
      continue;
    }
    if (!has_inline) {
      if (i + 1 >= args.size()) {
        *exit_code = Fail(command, "--" + name + " needs a value (" + opt->value_name + ")");
        return std::nullopt;
      }
      value = args[++i];
    }
    out.values[name].push_back(value);
  }
  *exit_code = 0;
  return out;
}

std::vector<std::string> UsageVerbs(const std::string& usage) {
  // Split at the top-level '|' ([...] and (...) nest); '<' and '>' only group.
  std::vector<std::string> alternatives(1);
  int depth = 0;
  for (char ch : usage) {
    if (ch == '[' || ch == '(') depth++;
    if ((ch == ']' || ch == ')') && depth > 0) depth--;
    if (ch == '|' && depth == 0) {
      alternatives.emplace_back();
    } else {
      alternatives.back() += ch;
    }
  }
  std::vector<std::string> verbs;
  for (const auto& alt : alternatives) {
    std::istringstream in(alt);
    std::string word;
    if (!(in >> word)) continue;
    word.erase(std::remove(word.begin(), word.end(), '<'), word.end());
    word.erase(std::remove(word.begin(), word.end(), '>'), word.end());
    if (IsVerb(word)) AddUnique(&verbs, word);
  }
  return verbs;
}

std::vector<CommandDoc> DescribeCommands() {
  std::vector<Command> cmds = Commands();
  std::sort(cmds.begin(), cmds.end(),
            [](const Command& a, const Command& b) { return std::strcmp(a.name, b.name) < 0; });
  std::vector<CommandDoc> docs;
  for (const Command& c : cmds) {
    CommandDoc d;
    d.name = c.name;
    d.summary = c.summary;
    std::vector<ParserSpec> specs;
    std::string printed = RunDescribing(c, {"--help"}, &specs);
    std::vector<std::string> candidates;
    if (!specs.empty() && specs.front().command == d.name) {
      d.spec = specs.front();
      d.help = HelpText(*d.spec);
      candidates = UsageVerbs(d.spec->usage);
      d.verbs = candidates;
    } else {
      // A hand-written usage text: the words after `allot NAME` on each of its lines.
      d.help = printed;
      std::istringstream lines(printed);
      std::string line;
      const std::string prefix = "allot " + d.name + " ";
      while (std::getline(lines, line)) {
        size_t at = line.find(prefix);
        if (at == std::string::npos) continue;
        std::string rest = line.substr(at + prefix.size());
        rest = rest.substr(0, rest.find('`'));
        for (const auto& v : UsageVerbs(rest)) AddUnique(&candidates, v);
      }
    }
    for (const auto& verb : candidates) {
      std::vector<ParserSpec> sub;
      RunDescribing(c, {verb, "--help"}, &sub);
      if (!sub.empty() && sub.front().command == d.name + " " + verb) {
        d.subcommands.push_back(sub.front());
        AddUnique(&d.verbs, verb);
      }
    }
    docs.push_back(std::move(d));
  }
  return docs;
}

std::string TopLevelHelp() {
  std::ostringstream o;
  o << "allot: resource allocation for fleets of agents and services\n"
    << VersionLine() << "\n\n"
    << "usage: allot <command> [options]\n       allot --version | --help\n\ncommands:\n";
  std::vector<Command> cmds = Commands();
  std::sort(cmds.begin(), cmds.end(),
            [](const Command& a, const Command& b) { return std::strcmp(a.name, b.name) < 0; });
  for (const auto& c : cmds) {
    std::string n = c.name;
    o << "  " << n << std::string(n.size() < 12 ? 12 - n.size() : 1, ' ') << c.summary << "\n";
  }
  o << "\nRun `allot <command> --help` for a command's options.\n";
  return o.str();
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << TopLevelHelp();
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "help" && argc == 3) {  // `allot help alloc` is `allot alloc --help`
    for (const auto& c : Commands()) {
      if (argv[2] == std::string_view(c.name)) return c.run({"--help"});
    }
    return Fail("help", std::string("no command \"") + argv[2] + "\" (run `allot --help` for the list)");
  }
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::cout << TopLevelHelp();
    return 0;
  }
  if (cmd == "--version") {
    if (argc > 2) return Fail("--version", "takes no arguments (see `allot version --help`)");
    std::cout << VersionLine() << "\n";
    return 0;
  }
  for (const auto& c : Commands()) {
    if (cmd == c.name) return c.run(Argv(argv + 2, argv + argc));
  }
  return Fail(cmd, "unknown command (run `allot --help` for the list)");
}

Result<std::string> ReadFileOrStdin(const std::string& path) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
      return InvalidArgument(path + ": is a directory, not a file");
    file.open(path, std::ios::binary);
    if (!file) return InvalidArgument(path + ": cannot open file");
    in = &file;
  }
  std::string text;
  char buf[1 << 16];
  while (in->read(buf, sizeof buf) || in->gcount() > 0) {
    text.append(buf, static_cast<size_t>(in->gcount()));
    if (text.size() > kMaxInputBytes) {
      return InvalidArgument(path + ": larger than " + std::to_string(kMaxInputBytes >> 20) + " MiB");
    }
  }
  if (in->bad()) return InvalidArgument(path + ": read error");
  return text;
}

void PrepareBatchHeap() {
  if (const char* v = std::getenv("ALLOT_HUGE_HEAP"); v && std::string_view(v) == "0") return;
  constexpr size_t kPad = size_t{64} << 20, kHuge = size_t{2} << 20;
  ::mallopt(M_MMAP_THRESHOLD, 64 << 20);  // large buffers from the heap, reused after they are freed
  ::mallopt(M_TRIM_THRESHOLD, 256 << 20);  // do not hand pages back (and fault them in again) mid-run
  ::mallopt(M_TOP_PAD, static_cast<int>(kPad));  // each heap extension adds this much beyond the request
  void* probe = std::malloc(kPad / 2);  // more than the heap has free: it grows by this and the pad
  auto lo = (reinterpret_cast<uintptr_t>(probe) + kHuge - 1) & ~(kHuge - 1);
  auto hi = reinterpret_cast<uintptr_t>(::sbrk(0)) & ~(kHuge - 1);
  // Advice only: where THP is off (or the heap is not sbrk-based) this fails and nothing changes.
  if (hi > lo) (void)::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
  std::free(probe);
}

}  // namespace allot::cli
