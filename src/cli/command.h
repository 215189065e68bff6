// The `allot` command line: a registry of subcommands and a small argument parser.
//
// Each subcommand lives in its own file in src/cli and registers itself with ALLOT_COMMAND, so adding one
// touches no central list. Conventions (DESIGN.md): every command takes --help; `--` ends the options;
// errors go to stderr as `allot: <what>: <why>`; exit 0 success, 1 "no", 2 bad input or usage.
//
// The parsers are also the one source of the generated documentation: DescribeCommands() runs every
// command with --help while parsers only record what they declare (ParserSpec), and `allot man` and
// `allot completion` render that. So a command must parse its arguments (or print its help) before it
// acts. Not thread-safe: the registry is filled by static initialisers and read by the main thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "allot/http.h"
#include "allot/result.h"

namespace allot::cli {

using Argv = std::vector<std::string>;

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const Argv& args);  // args exclude the program and command names
};

const std::vector<Command>& Commands();

// Runs the `allot` program: `allot --help`, `allot --version`, or the named command.
int Main(int argc, char** argv);
// What `allot --help` prints: the version line and the command list.
std::string TopLevelHelp();

struct Registrar {
  explicit Registrar(Command c);
};

#define ALLOT_CONCAT_INNER(a, b) a##b
#define ALLOT_CONCAT(a, b) ALLOT_CONCAT_INNER(a, b)
#define ALLOT_COMMAND(name, summary, fn) \
  static ::allot::cli::Registrar ALLOT_CONCAT(allot_registrar_, __LINE__)({name, summary, fn})

// Prints `allot: what: why` to stderr and returns `code`.
int Fail(const std::string& what, const std::string& why, int code = 2);
// Prints an Error as `allot: what: message` and returns its exit code.
int Fail(const std::string& what, const Error& e);

struct ParsedArgs {
  std::map<std::string, std::vector<std::string>> values;  // option -> values in order ("" for flags)
  std::vector<std::string> positionals;

  bool Has(const std::string& name) const { return values.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  const std::vector<std::string>& GetAll(const std::string& name) const;
};

// The output format of a command that has --format and --json: "json" with --json (an error when --format
// names another), else --format's value or `fallback`. Errors name the flag and list `formats`.
Result<std::string> OutputFormat(const ParsedArgs& a, const std::string& fallback,
                                 const std::vector<std::string>& formats);

// One option as --help, the man pages and the completions show it.
struct OptionSpec {
  std::string name;        // without the leading "--"
  std::string value_name;  // "FILE", "k=v,..."; empty for a flag
  std::string help;
  bool flag = false;
};

// What one parser declares: the command path ("serve", "guard run"), usage line, description, options.
struct ParserSpec {
  std::string command, usage, description;
  std::vector<OptionSpec> options;
};

// The --help text of a parser (what ArgParser::Help prints).
std::string HelpText(const ParserSpec& spec);

// Declares options, parses argv, prints --help. Options are `--name value`, `--name=value` or flags.
class ArgParser {
 public:
  ArgParser(std::string command, std::string usage, std::string description = "");
  ArgParser& Flag(const std::string& name, const std::string& help);
  ArgParser& Option(const std::string& name, const std::string& value_name, const std::string& help);
  // Stops option parsing at the first positional (for `guard run REQS -- CMD`, sub-subcommands).
  ArgParser& StopAtFirstPositional() {
    stop_at_positional_ = true;
    return *this;
  }
  // Returns the parsed arguments, or nullopt with *exit_code set (0 after --help, 2 on a usage error).
  std::optional<ParsedArgs> Parse(const Argv& args, int* exit_code) const;
  std::string Help() const;
  const ParserSpec& Spec() const { return spec_; }

 private:
  ParserSpec spec_;
  bool stop_at_positional_ = false;
};

// Declares --ca-cert, --client-cert and --client-key: how a client command talks to an https:// server.
ArgParser& AddTlsClientOptions(ArgParser& p);
// Their values; an unset one comes from ALLOT_CA_CERT, ALLOT_CLIENT_CERT or ALLOT_CLIENT_KEY.
net::TlsClientOptions TlsClientFromArgs(const ParsedArgs& args);

// A registered command as its documentation sees it.
struct CommandDoc {
  std::string name, summary;
  std::optional<ParserSpec> spec;       // its own parser, when `allot NAME --help` is answered by one
  std::string help;                     // what `allot NAME --help` prints
  std::vector<ParserSpec> subcommands;  // "guard status", ...: words after NAME with a parser of their own
  // Words that may follow NAME: the subcommands' names and the verbs of a single parser's usage
  // ("node add ... | list | drain NAME" gives add, list, drain).
  std::vector<std::string> verbs;
};

// Every registered command, sorted by name, found by running each with --help (and each verb of its
// usage with --help) while parsers only record their ParserSpec. Nothing is printed and nothing runs.
std::vector<CommandDoc> DescribeCommands();

// The lower-case words that start the alternatives of a usage line: "add NAME | list" gives add, list;
// "<status|check> [options]" gives status, check.
std::vector<std::string> UsageVerbs(const std::string& usage);

// For short batch commands (sim, replay, bench): a heap that grows in large steps, keeps what it was
// given, and lies in transparent huge pages where the kernel allows (madvise mode). On virtual machines a
// page fault costs 10-20 us, and a run of a few tens of milliseconds spends a third of its time in them.
// ALLOT_HUGE_HEAP=0 turns it off. Call it before the command allocates much.
void PrepareBatchHeap();

// The largest input file ReadFileOrStdin reads (about 8M scenario events).
inline constexpr size_t kMaxInputBytes = size_t{1} << 30;
// Reads a whole file ("-" is stdin), at most kMaxInputBytes. Errors name the path.
Result<std::string> ReadFileOrStdin(const std::string& path);

}  // namespace allot::cli
