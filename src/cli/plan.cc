// allot plan PATH... [--env NAME] [--node-shape SHAPE]... [--format table|json|markdown]
//                    [--emit patch|quota|hpa|override] [--targets FILE] [--scaling FILE] [--compose FILE]...
// module: plan
#include <iostream>

#include "allot/plan.h"
#include "cli/command.h"

namespace allot::cli {
namespace {

Result<double> ParseFraction(const std::string& text, const std::string& what) {
  std::string t = text;
  bool percent = !t.empty() && t.back() == '%';
  if (percent) t.pop_back();
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (t.empty() || *end != '\0' || !(v >= 0)) return InvalidArgument(what + " \"" + text + "\" is not a number like 0.2 or 20%");
  if (percent) v /= 100;
  return v;
}

// Why there is nothing to plan: what the inputs held instead (a CI workflow is "1 document with no kind").
std::string NoWorkloads(const plan::Manifests& m) {
  std::string held;
  for (const auto& [kind, n] : m.ignored_kinds) {
    held += (held.empty() ? "" : ", ") + std::to_string(n) + " " + kind;
  }
  return "no workloads found (no Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, "
         "CronJob or compose service) in " + std::to_string(m.documents) + " document" + (m.documents == 1 ? "" : "s") +
         (held.empty() ? "" : "; the inputs hold " + held);
}

int RunPlan(const Argv& argv) {
  ArgParser p("plan", "PATH... [options]",
              "Plans resources for Kubernetes manifests and docker-compose files: per-workload requests/limits,\n"
              "QoS, replica ranges (HPA), totals per namespace at min and max replicas, environment multipliers,\n"
              "quota fit, node sizing and lint findings. PATH is a file, a directory (its *.yaml/*.yml/*.json)\n"
              "or - for stdin. Exit 0 ok, 1 when a finding at or above --fail-on exists, 2 on bad input (also\n"
              "when the inputs hold no workload, and for unknown keys under a container's resources).");
  p.Option("format", "FMT", "table (default), markdown or json");
  p.Flag("json", "print JSON (--format json; the shape is in docs/cli.md)");
  p.Option("env", "NAME", "apply an environment's multipliers (dev 0.5x, staging 1x, prod 1.5x cpu/memory)");
  p.Option("config", "FILE", "YAML with environments: {NAME: {cpu: 0.5, memory: 0.5, gpu: 1}}, lint: {...}, autoscaling: {...}");
  p.Option("namespace", "NS", "namespace for objects that carry none (default: default)");
  p.Option("node-shape", "SHAPE", "cpu=8,memory=16Gi[,gpu=1][,pods=110][,count=N][,cost=C][,name=N]; repeatable");
  p.Option("headroom", "F", "fraction of each node kept free when sizing (0.2 or 20%)");
  p.Flag("ha", "spread replicas of workloads with 2+ replicas over at least 2 nodes");
  p.Flag("gpu-nodes-shared", "let pods without GPUs run on GPU nodes");
  p.Option("daemonset-nodes", "N", "node count for DaemonSets (default: sizing's node count, else 1)");
  p.Option("fail-on", "SEVERITY", "exit 1 when a finding at or above info|warning|error exists");
  p.Option("emit", "WHAT",
           "patch: kubectl patch JSON per fix, or per --targets; quota: ResourceQuota + LimitRange; hpa: HPAs;\n"
           "override: docker-compose.override.yml per --targets");
  p.Option("targets", "FILE", "for --emit patch|override: resources per container (YAML targets: [...] or a markdown table)");
  p.Option("scaling", "FILE", "for --emit hpa: min, max, cpu/memory targets, behavior (YAML or a markdown table)");
  p.Option("quota-headroom", "F", "headroom for --emit quota (default 0.2)");
  p.Option("compose", "FILE", "docker compose -f: compose files merged in order into one project (repeatable)");
  int code = 0;
  auto args = p.Parse(argv, &code);
  if (!args) return code;
  if (args->positionals.empty() && !args->Has("compose")) {
    return Fail("plan", "no input given (usage: allot plan PATH... [--compose FILE]... [options])");
  }

  auto output = OutputFormat(*args, "table", {"table", "markdown", "json"});
  if (!output.ok()) return Fail("plan", output.error());
  const std::string format = *output;
  std::string emit = args->Get("emit");
  if (!emit.empty() && emit != "patch" && emit != "quota" && emit != "hpa" && emit != "override") {
    return Fail("plan", "unknown --emit \"" + emit + "\" (use patch, quota, hpa or override)");
  }
  if (args->Has("targets") && emit != "patch" && emit != "override") {
    return Fail("plan", "--targets goes with --emit patch or --emit override");
  }
  if (emit == "override" && !args->Has("targets")) return Fail("plan", "--emit override needs --targets FILE");
  if (args->Has("scaling") && emit != "hpa") return Fail("plan", "--scaling goes with --emit hpa");
  std::string config_text;
  if (args->Has("config")) {
    auto text = ReadFileOrStdin(args->Get("config"));
    if (!text.ok()) return Fail("plan", text.error());
    config_text = *text;
  }
  // The tables are read (and checked) before the manifests, so bad input stops before any work.
  plan::TargetTable targets;
  if (args->Has("targets")) {
    auto text = ReadFileOrStdin(args->Get("targets"));
    if (!text.ok()) return Fail("plan", text.error());
    if (auto s = plan::ParseTargets(*text, args->Get("targets"), &targets); !s.ok()) return Fail("plan", s.error());
  }
  plan::ScalingTable scaling;
  if (emit == "hpa") {
    if (args->Has("scaling")) {
      auto text = ReadFileOrStdin(args->Get("scaling"));
      if (!text.ok()) return Fail("plan", text.error());
      if (auto s = plan::ParseScalingTable(*text, args->Get("scaling"), false, &scaling); !s.ok()) {
        return Fail("plan", s.error());
      }
    } else if (args->Has("config")) {
      if (auto s = plan::ParseScalingTable(config_text, args->Get("config"), true, &scaling); !s.ok()) {
        return Fail("plan", s.error());
      }
    }
    if (scaling.rows.empty()) {
      return Fail("plan", "--emit hpa needs --scaling FILE or an autoscaling: section in --config");
    }
  }
  plan::PlanOptions options;
  options.env = args->Get("env");
  if (args->Has("config")) {
    if (auto s = plan::ParseConfig(config_text, args->Get("config"), &options.env_config, &options.lint); !s.ok()) {
      return Fail("plan", s.error());
    }
  }
  for (const auto& shape : args->GetAll("node-shape")) {
    auto s = plan::ParseNodeShape(shape);
    if (!s.ok()) return Fail("plan", s.error());
    options.sizing.shapes.push_back(*s);
  }
  if (args->Has("headroom")) {
    auto h = ParseFraction(args->Get("headroom"), "--headroom");
    if (!h.ok() || *h >= 1) return Fail("plan", "--headroom must be a fraction below 1 (0.2 or 20%)");
    options.sizing.headroom = *h;
  }
  options.sizing.ha = args->Has("ha");
  options.sizing.gpu_nodes_shared = args->Has("gpu-nodes-shared");
  if (args->Has("daemonset-nodes")) {
    const std::string v = args->Get("daemonset-nodes");
    char* end = nullptr;
    long long n = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || n < 0) return Fail("plan", "--daemonset-nodes must be a non-negative integer");
    options.daemonset_nodes = n;
  }
  std::optional<plan::Severity> fail_on;
  if (args->Has("fail-on")) {
    auto s = plan::ParseSeverity(args->Get("fail-on"));
    if (!s.ok()) return Fail("plan", s.error());
    fail_on = *s;
  }
  double quota_headroom = 0.2;
  if (args->Has("quota-headroom")) {
    auto h = ParseFraction(args->Get("quota-headroom"), "--quota-headroom");
    if (!h.ok()) return Fail("plan", h.error());
    quota_headroom = *h;
  }

  plan::LoadOptions load;
  if (args->Has("namespace")) load.default_namespace = args->Get("namespace");
  if (args->Has("compose")) load.compose_files = args->GetAll("compose");
  auto manifests = plan::Load(args->positionals, load);
  if (!manifests.ok()) return Fail("plan", manifests.error());
  if (manifests->workloads.empty() && manifests->pvc_objects.empty()) return Fail("plan", NoWorkloads(*manifests));
  auto result = plan::MakePlan(*manifests, options);
  if (!result.ok()) return Fail("plan", result.error());

  if (emit == "override") {
    auto text = plan::RenderComposeOverride(*result, targets);
    if (!text.ok()) return Fail("plan", text.error());
    std::cout << *text;
  } else if (emit == "patch" && args->Has("targets")) {
    auto text = plan::RenderTargetPatches(*result, targets, load);
    if (!text.ok()) return Fail("plan", text.error());
    std::cout << *text;
  } else if (emit == "hpa") {
    std::vector<std::string> warnings;
    auto text = plan::RenderHpas(*result, scaling, &warnings);
    if (!text.ok()) return Fail("plan", text.error());
    for (const auto& w : warnings) std::cerr << "allot: plan: warning: " << w << "\n";
    std::cout << *text;
  } else if (emit == "patch") {
    std::cout << plan::RenderPatches(*result);
  } else if (emit == "quota") {
    std::cout << plan::RenderQuotas(*result, quota_headroom);
  } else if (format == "json") {
    std::cout << plan::RenderJson(*result);
  } else if (format == "markdown") {
    std::cout << plan::RenderMarkdown(*result);
  } else {
    std::cout << plan::RenderTable(*result);
  }
  if (fail_on && plan::HasFindingAtOrAbove(*result, *fail_on)) return 1;
  return 0;
}

}  // namespace
ALLOT_COMMAND("plan", "plan requests, limits, QoS, totals, quotas and node sizing for manifests and compose files",
              RunPlan);
}  // namespace allot::cli
