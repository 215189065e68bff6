#include "cli/command.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace allot::cli {
namespace {
std::vector<Command>& Mutable() {
  static std::vector<Command> commands;
  return commands;
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

ArgParser::ArgParser(std::string command, std::string usage, std::string description)
    : command_(std::move(command)), usage_(std::move(usage)), description_(std::move(description)) {}

ArgParser& ArgParser::Flag(const std::string& name, const std::string& help) {
  opts_.push_back({name, "", help, true});
  return *this;
}
ArgParser& ArgParser::Option(const std::string& name, const std::string& value_name, const std::string& help) {
  opts_.push_back({name, value_name, help, false});
  return *this;
}

std::string ArgParser::Help() const {
  std::ostringstream o;
  o << "usage: allot " << command_ << " " << usage_ << "\n";
  if (!description_.empty()) o << "\n" << description_ << "\n";
  o << "\noptions:\n";
  for (const auto& opt : opts_) {
    std::string left = "  --" + opt.name + (opt.flag ? "" : " " + opt.value_name);
    o << left;
    if (left.size() < 28) o << std::string(28 - left.size(), ' ');
    else o << "\n" << std::string(28, ' ');
    o << opt.help << "\n";
  }
  o << "  --help                    show this help\n";
  return o.str();
}

std::optional<ParsedArgs> ArgParser::Parse(const Argv& args, int* exit_code) const {
  ParsedArgs out;
  bool options_done = false;
  for (size_t i = 0; i < args.size(); i++) {
    const std::string& a = args[i];
    if (options_done || a.size() < 2 || a[0] != '-' || (a[1] != '-' && a.size() >= 2 && !std::isalpha(static_cast<unsigned char>(a[1])))) {
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
      *exit_code = Fail(command_, "unknown option " + a + " (see --help)");
      return std::nullopt;
    }
    std::string name = a.substr(2), value;
    bool has_inline = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_inline = true;
    }
    const Opt* opt = nullptr;
    for (const auto& o : opts_)
      if (o.name == name) opt = &o;
    if (opt == nullptr) {
      *exit_code = Fail(command_, "unknown option --" + name + " (see --help)");
      return std::nullopt;
    }
    if (opt->flag) {
      if (has_inline) {
        *exit_code = Fail(command_, "--" + name + " takes no value");
        return std::nullopt;
      }
      out.values[name].push_back("");
      continue;
    }
    if (!has_inline) {
      if (i + 1 >= args.size()) {
        *exit_code = Fail(command_, "--" + name + " needs a value (" + opt->value_name + ")");
        return std::nullopt;
      }
      value = args[++i];
    }
    out.values[name].push_back(value);
  }
  *exit_code = 0;
  return out;
}

Result<std::string> ReadFileOrStdin(const std::string& path) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) return InvalidArgument(path + ": is a directory, not a file");
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

}  // namespace allot::cli
