// Test support: sse-doctor as a child process (--json), its report parsed.
#pragma once

#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../support/process.hpp"

namespace sse_test {

/// A running `sse-doctor URL --json ...`; result() waits for it and parses its report.
class doctor_run {
 public:
  doctor_run(const std::filesystem::path& log, const std::string& url, std::vector<std::string> extra)
      : log_(log) {
    std::vector<std::string> argv{SSE_DOCTOR_PATH, url, "--json"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc_ = std::make_unique<child_process>(argv, log);
    started_ = std::chrono::steady_clock::now();
  }

  struct result {
    int exit_code = -1;
    nlohmann::json report;  ///< null when the output was not one JSON object
    std::string output;
    double seconds = 0;

    /// True when an advice entry for `target` has exactly `text`.
    bool advises(const std::string& target, const std::string& text) const {
      if (!report.is_object()) return false;
      for (const auto& a : report["advice"])
        if (a["target"] == target && a["text"] == text) return true;
      return false;
    }
    /// The advice lines for `target` that are configuration directives (no prose in parentheses).
    std::vector<std::string> directives(const std::string& target) const {
      std::vector<std::string> out;
      if (!report.is_object()) return out;
      for (const auto& a : report["advice"]) {
        const std::string t = a["text"];
        if (a["target"] == target && !t.starts_with("(")) out.push_back(t);
      }
      return out;
    }
  };

  result wait(std::chrono::milliseconds timeout) {
    result r;
    const int status = proc_->wait(timeout);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    if (status != -1 && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    r.output = proc_->log();
    const auto brace = r.output.find('{');
    if (brace != std::string::npos) r.report = nlohmann::json::parse(r.output.substr(brace), nullptr, false);
    if (r.report.is_discarded()) r.report = nullptr;
    return r;
  }

 private:
  std::filesystem::path log_;
  std::unique_ptr<child_process> proc_;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace sse_test
