// Test support for the installer's integration tests: the sse-installer binary as a child process
// (SSE_INSTALLER_PATH) and small JSON/HTTP helpers over tests/support/http_client.hpp.
#pragma once

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "../support/http_client.hpp"
#include "../support/process.hpp"

namespace sse_test {

using namespace std::chrono_literals;
using json = nlohmann::json;
using sse_test::collected_event;
using sse_test::sse_subscriber;

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// sse-installer on a free port with its own data dir; stopped (SIGTERM, then SIGKILL) on destruction.
struct installer_proc {
  installer_proc(const std::filesystem::path& data, std::vector<std::string> extra = {}, int delay_ms = 10) {
    static int n = 0;
    const auto log = data.parent_path() / ("installer-stdout-" + std::to_string(++n) + ".txt");
    std::vector<std::string> argv = {SSE_INSTALLER_PATH, "--port", "0", "--data-dir", data.string(),
                                     "--step-delay", std::to_string(delay_ms), "--threads", "2"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc = std::make_unique<sse_test::child_process>(argv, log);
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    const std::string marker = "sse-installer listening on http://127.0.0.1:";
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string out = proc->log();
      if (auto p = out.find(marker); p != std::string::npos && out.find('\n', p) != std::string::npos) {
        port = static_cast<unsigned short>(std::stoi(out.substr(p + marker.size())));
        break;
      }
      if (!proc->running()) break;
      std::this_thread::sleep_for(20ms);
    }
    REQUIRE_MESSAGE(port != 0, "sse-installer did not start: " << proc->log());
  }
  std::unique_ptr<sse_test::child_process> proc;
  unsigned short port = 0;
};

json get_json(unsigned short port, const std::string& path, int expect = 200) {
  const auto r = sse_test::get(port, path);
  CHECK_MESSAGE(r.status == expect, path << " -> " << r.status << " " << r.body);
  CHECK(r.header("Content-Type") == "application/json");
  return json::parse(r.body);
}

json install(unsigned short port, const std::string& component, int expect = 202, std::string_view headers = {}) {
  // The marker a cross-site form cannot send (the server refuses a POST without it or a JSON type).
  const auto r = sse_test::post(port, "/api/components/" + component + "/install", "",
                                "X-Installer-Request: 1\r\n" + std::string(headers));
  CHECK_MESSAGE(r.status == expect, component << " -> " << r.status << " " << r.body);
  CHECK(r.header("Content-Type") == "application/json");
  return json::parse(r.body);
}

/// The whole stream of a job: read until the server ends it.
std::vector<collected_event> read_stream(unsigned short port, const std::string& path, std::string_view headers = {},
                                         std::chrono::milliseconds timeout = 20s) {
  sse_subscriber sub(port, path, headers);
  const bool closed = sub.read_until([&] { return sub.ended() || sub.closed(); }, timeout);
  CHECK_MESSAGE(closed, "the stream did not end: " << sub.body());
  CHECK(sub.status() == 200);
  CHECK(sub.ended());  // a clean end of the chunked body
  std::vector<collected_event> out;
  for (const auto& e : sub.events())
    if (e.type != "ping") out.push_back(e);
  return out;
}

}  // namespace sse_test
