// sse-hub and sse-cat, the built binaries: every kind of bad flag value exits with status 2 and a
// message naming the flag (nan, inf, huge, tiny, negative, not a number, empty token); sse-hub
// writes request values with control bytes escaped into its log.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <string>
#include <utility>
#include <vector>

#include "../proxy/hub_process.hpp"

namespace {

using namespace std::chrono_literals;
using table = std::vector<std::pair<std::vector<std::string>, std::string>>;

void check_table(const char* program, std::string_view name, const table& rows) {
  sse_test::temp_dir dir;
  int n = 0;
  for (const auto& row : rows) {
    const auto& [args, message] = row;
    const std::string& expected = message;  // (clang 14 cannot capture a structured binding in CAPTURE)
    CAPTURE(expected);
    std::vector<std::string> argv{program};
    argv.insert(argv.end(), args.begin(), args.end());
    sse_test::child_process p(argv, dir.path() / ("run-" + std::to_string(++n) + ".txt"));
    const int st = p.wait(10s);
    CHECK((WIFEXITED(st) && WEXITSTATUS(st) == 2));
    CHECK(p.log().starts_with(std::string(name) + ": "));
    CHECK(p.log().find(message) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("sse-hub: bad flag values exit 2 naming the flag; an empty --publish-token is refused") {
  check_table(SSE_HUB_PATH, "sse-hub",
              {
                  {{"--ping-interval", "nan"}, "--ping-interval takes a number from 0.01 to 86400, not 'nan'"},
                  {{"--ping-interval", "inf"}, "--ping-interval takes a number from 0.01 to 86400, not 'inf'"},
                  {{"--ping-interval", "1e300"}, "--ping-interval takes a number from 0.01 to 86400, not '1e300'"},
                  {{"--ping-interval", "1e-9"}, "--ping-interval takes a number from 0.01 to 86400, not '1e-9'"},
                  {{"--ping-interval", "0"}, "--ping-interval takes a number from 0.01 to 86400, not '0'"},
                  {{"--idle-topic-ttl", "-1"}, "--idle-topic-ttl takes a number from 0 to 2592000, not '-1'"},
                  {{"--idle-topic-ttl", "NaN"}, "--idle-topic-ttl takes a number from 0 to 2592000, not 'NaN'"},
                  {{"--port", "65536"}, "--port takes a whole number from 0 to 65535, not '65536'"},
                  {{"--threads", "1025"}, "--threads takes a whole number from 0 to 1024, not '1025'"},
                  {{"--history", "0"}, "--history takes a whole number from 1 to 10000000, not '0'"},
                  {{"--history-bytes", "1e6"}, "--history-bytes takes a whole number from 1 to 1099511627776, not '1e6'"},
                  {{"--max-topics", "0"}, "--max-topics takes a whole number from 1 to 100000000, not '0'"},
                  {{"--max-queue-bytes", "100"}, "--max-queue-bytes takes a whole number from 1024 to 1099511627776, not '100'"},
                  {{"--retry", "-5"}, "--retry takes a whole number from 0 to 86400000, not '-5'"},
                  {{"--padding", "99999999999999999999999"},
                   "--padding takes a whole number from 0 to 1048576, not '99999999999999999999999'"},
                  {{"--max-connections", "+5"}, "--max-connections takes a whole number from 0 to 10000000, not '+5'"},
                  {{"--max-body-bytes", "0x10"}, "--max-body-bytes takes a whole number from 1 to 1073741824, not '0x10'"},
                  {{"--max-history-bytes", "lots"},
                   "--max-history-bytes takes a whole number from 0 to 1099511627776, not 'lots'"},
                  {{"--max-subscribed-topics", "0"}, "--max-subscribed-topics takes a whole number from 1 to 100000000, not '0'"},
                  {{"--publish-token", ""}, "--publish-token must not be empty"},
                  {{"--ping-form", "loud"}, "--ping-form is comment or event, not 'loud'"},
                  {{"--slow-policy", "wait"}, "--slow-policy is disconnect or drop, not 'wait'"},
                  {{"--port"}, "--port"},
                  {{"--bogus"}, "--bogus"},
              });
}

TEST_CASE("sse-hub --help lists every flag with its range") {
  sse_test::temp_dir dir;
  sse_test::child_process help({SSE_HUB_PATH, "--help"}, dir.path() / "help.txt");
  REQUIRE(help.wait(10s) == 0);
  const std::string text = help.log();
  CHECK(text.starts_with("usage: sse-hub [options]\n"));
  for (const char* flag : {"--bind", "--port", "--unix", "--threads", "--ping-interval", "--ping-form", "--history",
                           "--history-bytes", "--idle-topic-ttl", "--max-topics", "--max-history-bytes",
                           "--max-subscribed-topics", "--max-queue-bytes", "--slow-policy", "--retry", "--padding",
                           "--max-connections", "--max-body-bytes", "--publish-token", "--allow-origin", "--log-level",
                           "--redis", "--redis-prefix", "-h,--help"}) {
    CAPTURE(flag);
    CHECK(text.find(std::string(flag).starts_with("-h") ? std::string(flag) : "  " + std::string(flag) + " ") !=
          std::string::npos);
  }
  CHECK(text.find("(0.01 to 86400 s)") != std::string::npos);
  CHECK(text.find("(default 600; 0 = never") != std::string::npos);
}

TEST_CASE("sse-hub's log: a lastEventId with ESC, BEL and LF is escaped, never written raw") {
  sse_test::temp_dir dir;
  sse_test::hub_process hub(dir.path(), {"--log-level", "debug", "--threads", "1"});
  sse_test::sse_subscriber sub(hub.port(), "/events/t?lastEventId=a%1B%5B31m%07b%09c");
  REQUIRE(sub.read_until([&] { return sub.status() == 200; }, 5s));
  const std::string line = "subscribed to 't' (Last-Event-ID 'a\\x1b[31m\\x07b\\x09c')\n";
  REQUIRE(sse_test::eventually([&] { return hub.log().find(line) != std::string::npos; }, 5s));
  CHECK(hub.log().find('\x1b') == std::string::npos);
  CHECK(hub.log().find('\x07') == std::string::npos);
}

TEST_CASE("sse-cat: bad flag values exit 2 naming the flag") {
  check_table(SSE_CAT_PATH, "sse-cat",
              {
                  {{"http://127.0.0.1:1/", "--timeout", "nan"}, "--timeout takes a number from 0 to 1000000000, not 'nan'"},
                  {{"http://127.0.0.1:1/", "--idle-timeout", "inf"}, "--idle-timeout takes a number from 0 to 1000000000, not 'inf'"},
                  {{"http://127.0.0.1:1/", "--backoff-max", "-1"}, "--backoff-max takes a number from 0 to 1000000000, not '-1'"},
                  {{"http://127.0.0.1:1/", "--timeout", "1e300"}, "--timeout takes a number from 0 to 1000000000, not '1e300'"},
                  {{"http://127.0.0.1:1/", "--max-retries", "4294967296"},
                   "--max-retries takes a whole number from 0 to 4294967295, not '4294967296'"},
                  {{"http://127.0.0.1:1/", "--max-events", "-1"},
                   "--max-events takes a whole number from 0 to 18446744073709551615, not '-1'"},
                  {{"http://127.0.0.1:1/", "--unix", ""}, "--unix must not be empty"},
                  {{"http://127.0.0.1:1/", "-H", "novalue"}, "header must be 'Name: value', got 'novalue'"},
                  {{}, "missing URL"},
              });
}
