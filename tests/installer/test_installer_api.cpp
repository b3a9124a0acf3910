// sse-installer's HTTP API over real sockets, against the binary started as a child process with a
// temporary data dir: install + stream, resume, polling, 204 after done, restart in the middle of a
// job (SIGKILL), concurrent installs, 409/404/401/400/413, the components' real installed state,
// diagnostics, pings and the daily log file.
#include <doctest/doctest.h>

#include <set>

#include "installer_client.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_installer_api_cases {

using namespace sse_test;

namespace {

std::string epoch_of(const std::string& id) { return id.substr(0, id.rfind('-')); }

/// Every job event has an id; ids are <epoch>-1, -2, ... without a gap.
void check_ids_consecutive(const std::vector<collected_event>& evs, std::uint64_t first = 1) {
  REQUIRE_FALSE(evs.empty());
  const std::string ep = epoch_of(evs.front().id);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < evs.size(); ++i)
    if (evs[i].id != ep + "-" + std::to_string(first + i)) ++bad;
  CHECK(bad == 0);
}

}  // namespace

TEST_SUITE("installer.api") {
  TEST_CASE("install: 202 with URLs, the stream carries every event in order and ends with done") {
    sse_test::temp_dir dir;
    installer_proc srv(dir.path() / "data");
    const json started = install(srv.port, "core-runtime");
    const std::string job = started["job"];
    CHECK(started == json{{"job", job},
                          {"component", "core-runtime"},
                          {"events", "/api/jobs/" + job + "/events"},
                          {"logs", "/api/jobs/" + job + "/logs"},
                          {"status", "/api/jobs/" + job}});
    const auto evs = read_stream(srv.port, started["events"]);
    check_ids_consecutive(evs);
    REQUIRE(evs.size() >= 10);
    CHECK(evs.front().type == "status");
    CHECK(json::parse(evs.front().data) == json{{"state", "running"}, {"component", "core-runtime"}});
    CHECK(evs[evs.size() - 2].type == "status");
    CHECK(json::parse(evs[evs.size() - 2].data) == json{{"state", "succeeded"}, {"component", "core-runtime"}});
    CHECK(evs.back().type == "done");
    std::uint64_t lines = 0;
    std::vector<std::string> texts;
    std::vector<int> percents;
    for (const auto& e : evs) {
      const json d = json::parse(e.data);
      if (e.type == "log") {
        ++lines;
        CHECK(d["seq"] == lines);
        CHECK(d["level"] == "info");
        CHECK(d["ts"].get<std::string>().size() == 24);
        texts.push_back(d["line"]);
      } else if (e.type == "progress") {
        percents.push_back(d["percent"]);
      } else {
        CHECK((e.type == "status" || e.type == "done"));
      }
    }
    CHECK(json::parse(evs.back().data) == json{{"state", "succeeded"}, {"exit_code", 0}, {"lines", lines}});
    CHECK(percents == std::vector<int>{0, 50, 100});
    CHECK(std::find(texts.begin(), texts.end(), "step 1/2: copy files") != texts.end());
    CHECK(std::find(texts.begin(), texts.end(), "copied lib/libcore.so.3 (25 bytes)") != texts.end());
    CHECK(std::find(texts.begin(), texts.end(), "core-runtime 3.2.1 ready") != texts.end());  // the script's output

    // Status, components (really installed: files in place), history.
    const json st = get_json(srv.port, "/api/jobs/" + job);
    CHECK(st["state"] == "succeeded");
    CHECK(st["exit_code"] == 0);
    CHECK(st["lines"] == lines);
    CHECK(st["last_id"] == evs.back().id);
    CHECK(st["finished"].is_string());
    const auto installed = dir.path() / "data" / "installed" / "core-runtime";
    CHECK(read_file(installed / "lib" / "libcore.so.3") == "libcore.so.3 placeholder\n");
    CHECK(read_file(installed / "MANIFEST").find("./etc/core.conf") != std::string::npos);
    const json comps = get_json(srv.port, "/api/components")["components"];
    REQUIRE(comps.size() == 5);
    CHECK(comps[0]["name"] == "core-runtime");
    CHECK(comps[0]["installed"] == true);
    CHECK(comps[0]["installed_version"] == "3.2.1");
    CHECK(comps[0]["running_job"].is_null());
    CHECK(comps[1]["installed"] == false);
    CHECK(comps[1]["installed_at"].is_null());
    const json hist = get_json(srv.port, "/api/jobs")["jobs"];
    REQUIRE(hist.size() == 1);
    CHECK(hist[0] == st);

    // A finished job replays everything and ends; after `done`, 204 (header or query).
    CHECK(read_stream(srv.port, started["events"]) == evs);
    const auto r204 = sse_test::request_raw(srv.port, "GET /api/jobs/" + job + "/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                                          "Connection: close\r\nLast-Event-ID: " + evs.back().id + "\r\n\r\n");
    CHECK(r204.status == 204);
    CHECK(sse_test::get(srv.port, "/api/jobs/" + job + "/events?lastEventId=" + evs.back().id).status == 204);
    // One before done: just the done event, then the end.
    const auto tail = read_stream(srv.port, started["events"], "Last-Event-ID: " + evs[evs.size() - 2].id + "\r\n");
    CHECK(tail == std::vector<collected_event>{evs.back()});
  }

  TEST_CASE("resume in the middle with Last-Event-ID: no gap, no duplicate") {
    sse_test::temp_dir dir;
    installer_proc srv(dir.path() / "data", {}, 40);
    const std::string job = install(srv.port, "sample-data")["job"];
    std::vector<collected_event> first;
    {
      sse_subscriber sub(srv.port, "/api/jobs/" + job + "/events");
      REQUIRE(sub.wait_events(5, 10s));
      first.assign(sub.events().begin(), sub.events().begin() + 5);
    }  // disconnect mid-job
    CHECK(get_json(srv.port, "/api/jobs/" + job)["state"] == "running");
    const auto rest = read_stream(srv.port, "/api/jobs/" + job + "/events", "Last-Event-ID: " + first.back().id + "\r\n");
    std::vector<collected_event> joined = first;
    joined.insert(joined.end(), rest.begin(), rest.end());
    check_ids_consecutive(joined);
    CHECK(joined.back().type == "done");
    CHECK(joined == read_stream(srv.port, "/api/jobs/" + job + "/events"));  // the full replay agrees
    // The lastEventId query parameter does the same (browsers' manual reconnect).
    const auto rest_q = read_stream(srv.port, "/api/jobs/" + job + "/events?lastEventId=" + first.back().id);
    CHECK(rest_q == rest);
  }

  TEST_CASE("polling with after= gives the same ids and data as the stream") {
    sse_test::temp_dir dir;
    installer_proc srv(dir.path() / "data");
    const std::string job = install(srv.port, "cli-tools")["job"];
    const auto evs = read_stream(srv.port, "/api/jobs/" + job + "/events");
    std::vector<json> polled;
    std::string after;
    bool done = false;
    for (int round = 0; round < 100 && !done; ++round) {
      const json page = get_json(srv.port, "/api/jobs/" + job + "/logs?limit=3" + (after.empty() ? "" : "&after=" + after));
      CHECK(page["job"] == job);
      CHECK(page["state"] == "succeeded");
      CHECK(page["events"].size() <= 3);
      for (const auto& e : page["events"]) polled.push_back(e);
      after = page["last_id"];
      done = page["done"];
    }
    CHECK(done);
    REQUIRE(polled.size() == evs.size());
    for (std::size_t i = 0; i < evs.size(); ++i) {
      CHECK(polled[i]["id"] == evs[i].id);
      CHECK(polled[i]["type"] == evs[i].type);
      CHECK(polled[i]["data"] == json::parse(evs[i].data));
    }
    CHECK(after == evs.back().id);
    // Defaults: from the start, up to 500.
    const json all = get_json(srv.port, "/api/jobs/" + job + "/logs");
    CHECK(all["events"].size() == evs.size());
    CHECK(all["done"] == true);
    const json mid = get_json(srv.port, "/api/jobs/" + job + "/logs?after=" + evs[2].id + "&limit=1000");
    CHECK(mid["events"].size() == evs.size() - 3);
    CHECK(mid["events"][0]["id"] == evs[3].id);
    CHECK(mid["done"] == true);
    const json end = get_json(srv.port, "/api/jobs/" + job + "/logs?after=" + evs.back().id);
    CHECK(end["events"].empty());
    CHECK(end["last_id"] == evs.back().id);
    CHECK(end["done"] == true);
    const json some = get_json(srv.port, "/api/jobs/" + job + "/logs?limit=2");
    CHECK(some["done"] == false);
    CHECK(some["last_id"] == evs[1].id);
  }

  TEST_CASE("a failing component ends failed with its exit code and is not installed") {
    sse_test::temp_dir dir;
    installer_proc srv(dir.path() / "data");
    const std::string job = install(srv.port, "broken-driver")["job"];
    const auto evs = read_stream(srv.port, "/api/jobs/" + job + "/events");
    check_ids_consecutive(evs);
    const json done = json::parse(evs.back().data);
    CHECK(done["state"] == "failed");
    CHECK(done["exit_code"] == 3);
    CHECK(json::parse(evs[evs.size() - 2].data)["state"] == "failed");
    bool saw_error = false;
    for (const auto& e : evs)
      if (e.type == "log") {
        const json d = json::parse(e.data);
        if (d["level"] == "error" && d["line"] == "error: kernel headers not found; cannot build the driver module")
          saw_error = true;
      }
    CHECK(saw_error);
    const json st = get_json(srv.port, "/api/jobs/" + job);
    CHECK(st["state"] == "failed");
    CHECK(st["exit_code"] == 3);
    const json comps = get_json(srv.port, "/api/components")["components"];
    CHECK(comps[4]["name"] == "broken-driver");
    CHECK(comps[4]["installed"] == false);
    CHECK_FALSE(std::filesystem::exists(dir.path() / "data" / "installed" / "broken-driver"));
    std::size_t leftovers = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path() / "data" / "installed")) ++leftovers;
    CHECK(leftovers == 0);  // the staging folder is gone too
  }

  TEST_CASE("a program's untrusted output: valid JSON in the events and polling, escaped in the daily log") {
    sse_test::temp_dir dir;
    const auto cat = dir.path() / "catalog";
    std::filesystem::create_directories(cat / "noisy");
    {
      std::ofstream(cat / "catalog.ini") << "[noisy]\ndescription = prints control and non-UTF-8 bytes\nversion = 1\n"
                                            "step = run sh {payload}/out.sh\n";
      std::ofstream(cat / "noisy" / "out.sh") << "printf 'tab\\there \\033[31mred\\033[0m \\377 \\303\\251 end\\n'\n";
    }
    installer_proc srv(dir.path() / "data", {"--catalog", (cat / "catalog.ini").string()});
    const std::string job = install(srv.port, "noisy")["job"];
    const auto evs = read_stream(srv.port, "/api/jobs/" + job + "/events");
    CHECK(json::parse(evs.back().data)["state"] == "succeeded");
    const std::string expected = "tab\there \x1b[31mred\x1b[0m \xEF\xBF\xBD \xC3\xA9 end";  // 0xff: U+FFFD
    std::string raw;
    for (const auto& e : evs)
      if (e.type == "log" && json::parse(e.data)["line"] == expected) raw = e.data;
    REQUIRE_FALSE(raw.empty());
    CHECK(raw.find("tab\\there \\u001b[31mred") != std::string::npos);  // escaped in the JSON
    const json page = get_json(srv.port, "/api/jobs/" + job + "/logs");
    REQUIRE(page["events"].size() == evs.size());
    for (std::size_t i = 0; i < evs.size(); ++i) CHECK(page["events"][i]["data"].dump() == json::parse(evs[i].data).dump());
    std::string daily;
    for (const auto& e : std::filesystem::directory_iterator(dir.path() / "data"))
      if (e.path().filename().string().starts_with("installer-")) daily += read_file(e.path());
    CHECK(daily.find("job " + job + " (noisy): tab\\x09here \\x1b[31mred\\x1b[0m ") != std::string::npos);
    CHECK(daily.find('\x1b') == std::string::npos);  // no raw escape sequence reaches the log
    CHECK(daily.find('\t') == std::string::npos);
  }

  TEST_CASE("concurrent installs of two components; 409 while one runs for the same component") {
    sse_test::temp_dir dir;
    installer_proc srv(dir.path() / "data", {}, 40);
    const std::string a = install(srv.port, "cli-tools")["job"];
    const std::string b = install(srv.port, "docs-bundle")["job"];
    CHECK(a != b);
    const json conflict = install(srv.port, "cli-tools", 409);
    CHECK(conflict["job"] == a);
    CHECK(conflict["error"].get<std::string>().find("being installed") != std::string::npos);
    const json comps = get_json(srv.port, "/api/components")["components"];
    CHECK(comps[1]["running_job"] == a);
    CHECK(comps[2]["running_job"] == b);
    const auto ea = read_stream(srv.port, "/api/jobs/" + a + "/events");
    const auto eb = read_stream(srv.port, "/api/jobs/" + b + "/events");
    check_ids_consecutive(ea);
    check_ids_consecutive(eb);
    CHECK(epoch_of(ea.front().id) != epoch_of(eb.front().id));
    CHECK(json::parse(ea.back().data)["state"] == "succeeded");
    CHECK(json::parse(eb.back().data)["state"] == "succeeded");
    CHECK(get_json(srv.port, "/api/jobs")["jobs"].size() == 2);
    const json after = get_json(srv.port, "/api/components")["components"];
    CHECK(after[1]["installed"] == true);
    CHECK(after[2]["installed"] == true);
    CHECK(std::filesystem::exists(dir.path() / "data" / "installed" / "docs-bundle" / "proxies.md"));
    CHECK(std::filesystem::exists(dir.path() / "data" / "installed" / "cli-tools" / "bin" / "sse-ctl"));
    // Once done, the same component installs again.
    const std::string again = install(srv.port, "cli-tools")["job"];
    CHECK(json::parse(read_stream(srv.port, "/api/jobs/" + again + "/events").back().data)["state"] == "succeeded");
  }

  TEST_CASE("bad input gets a clear 4xx") {
    sse_test::temp_dir dir;
    installer_proc srv(dir.path() / "data");
    CHECK(install(srv.port, "no-such-thing", 404)["error"] == "no component named 'no-such-thing' in the catalog");
    CHECK(get_json(srv.port, "/api/jobs/20990101-000000-abcdef", 404)["error"] == "no job '20990101-000000-abcdef'");
    CHECK(get_json(srv.port, "/api/jobs/20990101-000000-abcdef/logs", 404)["error"] == "no job '20990101-000000-abcdef'");
    CHECK(get_json(srv.port, "/api/jobs/20990101-000000-abcdef/events", 404)["error"] == "no job '20990101-000000-abcdef'");
    const std::string bad_id_msg = "malformed job id (expected 1-64 of A-Z, a-z, 0-9, '-', '_')";
    CHECK(get_json(srv.port, "/api/jobs/bad.id", 400)["error"] == bad_id_msg);
    CHECK(get_json(srv.port, "/api/jobs/a%20b/logs", 400)["error"] == bad_id_msg);
    CHECK(get_json(srv.port, "/api/jobs/" + std::string(65, 'a') + "/events", 400)["error"] == bad_id_msg);

    const std::string job = install(srv.port, "docs-bundle")["job"];
    const auto evs = read_stream(srv.port, "/api/jobs/" + job + "/events");
    const std::string ep = epoch_of(evs.front().id);
    for (const std::string& after : std::vector<std::string>{"garbage", "-1", ep + "-", ep + "--1", ep + "-01", ep + "-1x", "0123456789abcdef-1",
                                    ep + "-99999999999999999999", ep + "-9223372036854775808", ep + "-9999999999999999999",
                                    ep + "-18446744073709551615"}) {
      CAPTURE(after);
      const json e = get_json(srv.port, "/api/jobs/" + job + "/logs?after=" + after, 400);
      CHECK(e["error"].get<std::string>().starts_with("after must be an event id of this job such as '" + ep + "-12'"));
    }
    // A sequence is below INT64_MAX (the store reads "after v" as from v + 1, a signed 64-bit integer).
    CHECK(get_json(srv.port, "/api/jobs/" + job + "/logs?after=" + ep + "-9223372036854775806")["job"] == job);
    CHECK(get_json(srv.port, "/api/jobs/" + job + "/logs?after=" + ep + "-9223372036854775807", 400)["error"].is_string());
    for (const std::string& limit : std::vector<std::string>{"0", "1001", "abc", "-5", "1e3", "", "99999"}) {
      CAPTURE(limit);
      CHECK(get_json(srv.port, "/api/jobs/" + job + "/logs?limit=" + limit, 400)["error"] ==
            "limit must be a number from 1 to 1000");
    }
    const auto bad_last = sse_test::request_raw(srv.port, "GET /api/jobs/" + job + "/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                                              "Connection: close\r\nLast-Event-ID: nonsense\r\n\r\n");
    CHECK(bad_last.status == 400);
    CHECK(json::parse(bad_last.body)["error"] == "Last-Event-ID 'nonsense' is not an event id of job " + job);
    // An oversized body is refused before it is read.
    const auto big = sse_test::request_raw(srv.port, "POST /api/components/docs-bundle/install HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                                         "Content-Length: 1000000\r\n\r\n");
    CHECK(big.status == 413);
    const auto big2 = sse_test::post(srv.port, "/api/components/docs-bundle/install", std::string(20000, 'x'),
                                     "X-Installer-Request: 1\r\n");
    CHECK(big2.status == 413);
    CHECK(sse_test::get(srv.port, "/api/components/docs-bundle/install").status == 405);
    CHECK(get_json(srv.port, "/api/jobs")["jobs"].size() == 1);  // none of that started a job
  }

  TEST_CASE("with --token, installs need the bearer token (401 otherwise)") {
    sse_test::temp_dir dir;
    installer_proc srv(dir.path() / "data", {"--token", "s3cret"});
    const auto none = sse_test::post(srv.port, "/api/components/docs-bundle/install", "", "X-Installer-Request: 1\r\n");
    CHECK(none.status == 401);
    CHECK(none.header("WWW-Authenticate") == "Bearer");
    CHECK(json::parse(none.body)["error"] == "a valid bearer token is required (Authorization: Bearer <token>)");
    install(srv.port, "docs-bundle", 401, "Authorization: Bearer wrong\r\n");
    const json ok = install(srv.port, "docs-bundle", 202, "Authorization: Bearer s3cret\r\n");
    CHECK(ok["component"] == "docs-bundle");
    CHECK(get_json(srv.port, "/api/components")["components"].size() == 5);  // reads stay open
  }

  TEST_CASE("restart in the middle of a job (SIGKILL): the log is complete and readable afterwards") {
    sse_test::temp_dir dir;
    const auto data = dir.path() / "data";
    std::string job;
    std::vector<collected_event> seen;
    {
      installer_proc srv(data, {}, 120);
      job = install(srv.port, "core-runtime")["job"];
      sse_subscriber sub(srv.port, "/api/jobs/" + job + "/events");
      REQUIRE(sub.wait_events(6, 10s));
      seen.assign(sub.events().begin(), sub.events().begin() + 6);
      std::this_thread::sleep_for(300ms);  // what we saw is committed by now
      CHECK(get_json(srv.port, "/api/jobs/" + job)["state"] == "running");
      srv.proc->signal(SIGKILL);
      CHECK(srv.proc->wait(5s) != -1);
    }
    installer_proc srv(data, {}, 10);
    const json st = get_json(srv.port, "/api/jobs/" + job);
    CHECK(st["state"] == "failed");
    CHECK(st["exit_code"] == -1);
    const auto evs = read_stream(srv.port, "/api/jobs/" + job + "/events");
    REQUIRE(evs.size() > seen.size() + 3);
    // The restart was unclean: the 3 events it adds come after a reserved gap (ids never reused).
    check_ids_consecutive({evs.begin(), evs.end() - 3});
    check_ids_consecutive({evs.end() - 3, evs.end()}, std::stoull(evs[evs.size() - 3].id.substr(evs[evs.size() - 3].id.rfind('-') + 1)));
    CHECK(std::stoull(evs[evs.size() - 3].id.substr(evs[evs.size() - 3].id.rfind('-') + 1)) >
          std::stoull(evs[evs.size() - 4].id.substr(evs[evs.size() - 4].id.rfind('-') + 1)) + 1);
    for (std::size_t i = 0; i < seen.size(); ++i) CHECK(evs[i] == seen[i]);
    const json note = json::parse(evs[evs.size() - 3].data);
    CHECK(evs[evs.size() - 3].type == "log");
    CHECK(note["level"] == "error");
    CHECK(note["line"] == "interrupted by server restart: the server stopped while this job was running");
    CHECK(json::parse(evs[evs.size() - 2].data) == json{{"state", "failed"}, {"component", "core-runtime"}});
    CHECK(json::parse(evs.back().data)["state"] == "failed");
    CHECK(json::parse(evs.back().data)["lines"] == note["seq"]);
    CHECK(st["last_id"] == evs.back().id);
    // Resume from what the client saw before the restart: the rest, exactly.
    const auto rest = read_stream(srv.port, "/api/jobs/" + job + "/events", "Last-Event-ID: " + seen.back().id + "\r\n");
    CHECK(rest == std::vector<collected_event>(evs.begin() + static_cast<std::ptrdiff_t>(seen.size()), evs.end()));
    // Polling agrees.
    const json page = get_json(srv.port, "/api/jobs/" + job + "/logs");
    REQUIRE(page["events"].size() == evs.size());
    for (std::size_t i = 0; i < evs.size(); ++i) CHECK(page["events"][i]["id"] == evs[i].id);
    CHECK(page["done"] == true);
    CHECK(get_json(srv.port, "/api/components")["components"][0]["installed"] == false);
    std::size_t leftovers = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(data / "installed")) ++leftovers;
    CHECK(leftovers == 0);
    // A new job after the restart works and its ids have their own epoch.
    const std::string next = install(srv.port, "docs-bundle")["job"];
    CHECK(json::parse(read_stream(srv.port, "/api/jobs/" + next + "/events").back().data)["state"] == "succeeded");
    // The daily log says what happened.
    std::string daily;
    for (const auto& e : std::filesystem::directory_iterator(data))
      if (e.path().filename().string().starts_with("installer-")) daily += read_file(e.path());
    CHECK(daily.find("job " + job + " (core-runtime) was interrupted by a server restart") != std::string::npos);
  }

  TEST_CASE("diagnostics report forwarding headers and the HTTP version") {
    sse_test::temp_dir dir;
    installer_proc srv(dir.path() / "data", {"--ping-interval", "2.5", "--ping-form", "comment"});
    const json direct = get_json(srv.port, "/api/diagnostics");
    CHECK(direct["http_version"] == "1.1");
    CHECK(direct["proxied"] == false);
    CHECK(direct["via"].is_null());
    CHECK(direct["x_forwarded_for"].is_null());
    CHECK(direct["forwarded"].is_null());
    CHECK(direct["ping_interval_ms"] == 2500);
    CHECK(direct["ping_form"] == "comment");
    CHECK(direct["remote"].get<std::string>().starts_with("127.0.0.1:"));
    const auto r = sse_test::request_raw(srv.port,
                                         "GET /api/diagnostics HTTP/1.0\r\nHost: localhost\r\nVia: 1.1 nginx\r\n"
                                         "X-Forwarded-For: 203.0.113.7, 10.0.0.2\r\nX-Forwarded-Proto: https\r\n"
                                         "Forwarded: for=203.0.113.7;proto=https\r\nX-Real-IP: 203.0.113.7\r\n\r\n");
    REQUIRE(r.status == 200);
    const json p = json::parse(r.body);
    CHECK(p["http_version"] == "1.0");
    CHECK(p["proxied"] == true);
    CHECK(p["via"] == "1.1 nginx");
    CHECK(p["x_forwarded_for"] == "203.0.113.7, 10.0.0.2");
    CHECK(p["x_forwarded_proto"] == "https");
    CHECK(p["forwarded"] == "for=203.0.113.7;proto=https");
    CHECK(p["x_real_ip"] == "203.0.113.7");
  }

  TEST_CASE("pings as events, the web page, and the daily log file with job steps and ping traces") {
    sse_test::temp_dir dir;
    const auto logs = dir.path() / "logs";
    installer_proc srv(dir.path() / "data",
                       {"--ping-interval", "0.1", "--log-level", "debug", "--log-dir", logs.string()}, 400);
    const std::string job = install(srv.port, "docs-bundle")["job"];
    sse_subscriber sub(srv.port, "/api/jobs/" + job + "/events");
    REQUIRE(sub.read_until([&] { return sub.body().find("event: ping\n") != std::string::npos; }, 10s));
    // A ping is `event: ping` + `data: <id>` and has no id: line.
    const auto p = sub.body().find("event: ping\ndata: ");
    REQUIRE(p != std::string::npos);
    CHECK(sub.body().substr(0, p).ends_with("\n\n"));
    REQUIRE(sub.read_until([&] { return sub.ended(); }, 20s));

    const auto page = sse_test::get(srv.port, "/");
    CHECK(page.status == 200);
    CHECK(page.header("Content-Type") == "text/html; charset=utf-8");
    CHECK(sse_test::get(srv.port, "/static/nope.js").status == 404);
    CHECK(sse_test::get(srv.port, "/static/..%2F..%2Fetc").status >= 400);
    CHECK(sse_test::get(srv.port, "/static/.hidden").status == 400);

    std::string daily;
    std::size_t files = 0;
    for (const auto& e : std::filesystem::directory_iterator(logs)) {
      const auto name = e.path().filename().string();
      CHECK(name.starts_with("installer-"));
      CHECK(name.size() == std::string("installer-2026-11-27.log").size());
      daily += read_file(e.path());
      ++files;
    }
    CHECK(files >= 1);
    CHECK(daily.find("job " + job + " started: install docs-bundle 2024.11") != std::string::npos);
    CHECK(daily.find("job " + job + " (docs-bundle): step 1/1: copy docs") != std::string::npos);
    CHECK(daily.find("job " + job + " (docs-bundle) finished: succeeded") != std::string::npos);
    CHECK(daily.find("debug keepalive: ping ") != std::string::npos);
    CHECK(daily.find("info  listening on http://127.0.0.1:") != std::string::npos);
  }

  TEST_CASE("CSRF: a POST needs the JSON type or X-Installer-Request, and this server's Origin when it has one") {
    sse_test::temp_dir dir;
    installer_proc srv(dir.path() / "data", {"--allow-origin", "https://app.example"});
    const std::string host = "Host: 127.0.0.1:" + std::to_string(srv.port) + "\r\n";
    auto post = [&](std::string_view component, std::string headers, std::string body = {}) {
      return sse_test::request_raw(srv.port, "POST /api/components/" + std::string(component) +
                                                 "/install HTTP/1.1\r\n" + host + "Connection: close\r\n" + headers +
                                                 "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    };
    const std::string need = "this request needs the header \"Content-Type: application/json\" or \"X-Installer-Request: 1\" "
                             "(a form on another site can send neither)";
    // What a cross-site form sends: refused, whatever the Origin.
    for (const std::string& h : std::vector<std::string>{std::string("Content-Type: application/x-www-form-urlencoded\r\n"),
                                 "Content-Type: application/x-www-form-urlencoded\r\nOrigin: http://evil.example\r\n",
                                 "Content-Type: text/plain\r\nOrigin: http://127.0.0.1:" + std::to_string(srv.port) + "\r\n",
                                 "Content-Type: multipart/form-data; boundary=x\r\n", std::string(),
                                 "X-Installer-Request: 0\r\n"}) {
      CAPTURE(h);
      const auto r = post("docs-bundle", h, "a=1");
      CHECK(r.status == 403);
      CHECK(r.header("Content-Type") == "application/json");
      CHECK(json::parse(r.body)["error"] == need);
    }
    // The right header but another site's Origin (or an opaque one): refused.
    for (const std::string& origin : std::vector<std::string>{"http://evil.example", "null", "http://127.0.0.1:" + std::to_string(srv.port + 1),
                                      "https://127.0.0.1:" + std::to_string(srv.port) + "x", "http://localhost:" + std::to_string(srv.port)}) {
      CAPTURE(origin);
      const auto r = post("docs-bundle", "X-Installer-Request: 1\r\nOrigin: " + origin + "\r\n");
      CHECK(r.status == 403);
      CHECK(json::parse(r.body)["error"] == "origin '" + origin +
                                                "' may not change anything here (the page must come from this server, "
                                                "or start the server with --allow-origin)");
      const auto j = post("docs-bundle", "Content-Type: application/json\r\nOrigin: " + origin + "\r\n");
      CHECK(j.status == 403);
    }
    CHECK(get_json(srv.port, "/api/jobs")["jobs"].empty());  // none of that started a job
    // Log lines: untrusted values escaped and cut (bytes a header may carry: >= 0x80).
    const auto esc = post("docs-bundle", "X-Installer-Request: 1\r\nOrigin: http://a\xe9\xff" + std::string(5000, 'z') + "\r\n");
    CHECK(esc.status == 403);
    // The page's own requests: same origin (with the Host the request came to), JSON or the header.
    CHECK(post("docs-bundle", "X-Installer-Request: 1\r\nOrigin: http://127.0.0.1:" + std::to_string(srv.port) + "\r\n").status == 202);
    CHECK(post("cli-tools", "Content-Type: Application/JSON; charset=utf-8\r\nOrigin: http://127.0.0.1:" +
                                std::to_string(srv.port) + "\r\n").status == 202);
    CHECK(post("sample-data", "Content-Type: application/json\r\nOrigin: https://app.example\r\n").status == 202);  // --allow-origin
    CHECK(post("core-runtime", "X-Installer-Request: 1\r\n").status == 202);  // no Origin (curl, scripts)
    CHECK(get_json(srv.port, "/api/jobs")["jobs"].size() == 4);
    std::string daily;
    for (const auto& e : std::filesystem::directory_iterator(dir.path() / "data"))
      if (e.path().filename().string().starts_with("installer-")) daily += read_file(e.path());
    CHECK(daily.find(" warn  refused POST /api/components/docs-bundle/install from 127.0.0.1:") != std::string::npos);
    CHECK(daily.find(": origin 'http://a\\xe9\\xff" + std::string(190, 'z') +
                     "...(+4810 bytes)' may not change anything here (the page must come from this server, or start "
                     "the server with --allow-origin)\n") != std::string::npos);
    CHECK(daily.find('\xff') == std::string::npos);
  }

  TEST_CASE("DNS rebinding: a Host the server is not configured for gets 421, on the API and on the streams") {
    sse_test::temp_dir dir;
    installer_proc srv(dir.path() / "data", {"--allowed-host", "installer.example"});
    const std::string port = std::to_string(srv.port);
    auto get = [&](std::string_view path, std::string_view host) {
      return sse_test::request_raw(srv.port, "GET " + std::string(path) + " HTTP/1.1\r\nHost: " + std::string(host) +
                                                 "\r\nConnection: close\r\n\r\n");
    };
    const std::string job = install(srv.port, "docs-bundle")["job"];
    for (const std::string& h : std::vector<std::string>{"evil.example", "evil.example:" + port, "127.0.0.1.evil.example", "localhost.evil",
                                 "[::2]:" + port, "installer.example.evil"}) {
      CAPTURE(h);
      for (const std::string& path : {std::string("/api/components"), "/api/jobs/" + job + "/events", "/api/jobs/" + job,
                                      std::string("/")}) {
        CAPTURE(path);
        const auto r = get(path, h);
        CHECK(r.status == 421);
        CHECK(r.body == "this server does not answer for host '" + h + "'\n");
      }
    }
    for (const std::string& h : std::vector<std::string>{"127.0.0.1:" + port, "localhost:" + port, "LOCALHOST", "[::1]:" + port,
                                 "installer.example", "installer.example:" + port}) {
      CAPTURE(h);
      CHECK(get("/api/components", h).status == 200);
    }
    const auto stream = get("/api/jobs/" + job + "/events", "localhost:" + port);
    CHECK(stream.status == 200);
    CHECK(stream.body.find("event: done") != std::string::npos);
  }

  TEST_CASE("bad flag values: exit status 2 and the flag named in the message") {
    sse_test::temp_dir dir;
    const std::vector<std::pair<std::vector<std::string>, std::string>> table = {
        {{"--ping-interval", "nan"}, "--ping-interval takes a number from 0.01 to 86400, not 'nan'"},
        {{"--ping-interval", "inf"}, "--ping-interval takes a number from 0.01 to 86400, not 'inf'"},
        {{"--ping-interval", "1e300"}, "--ping-interval takes a number from 0.01 to 86400, not '1e300'"},
        {{"--ping-interval", "1e-9"}, "--ping-interval takes a number from 0.01 to 86400, not '1e-9'"},
        {{"--ping-interval", "-1"}, "--ping-interval takes a number from 0.01 to 86400, not '-1'"},
        {{"--ping-interval", "0x10"}, "--ping-interval takes a number from 0.01 to 86400, not '0x10'"},
        {{"--port", "65536"}, "--port takes a whole number from 0 to 65535, not '65536'"},
        {{"--port", "-1"}, "--port takes a whole number from 0 to 65535, not '-1'"},
        {{"--port", "80x"}, "--port takes a whole number from 0 to 65535, not '80x'"},
        {{"--threads", "0"}, "--threads takes a whole number from 1 to 1024, not '0'"},
        {{"--threads", "99999999999999999999999"}, "--threads takes a whole number from 1 to 1024, not '99999999999999999999999'"},
        {{"--step-delay", "1.5"}, "--step-delay takes a whole number from 0 to 60000, not '1.5'"},
        {{"--step-delay", "60001"}, "--step-delay takes a whole number from 0 to 60000, not '60001'"},
        {{"--token", ""}, "--token must not be empty"},
        {{"--allowed-host", ""}, "--allowed-host must not be empty"},
        {{"--redis-prefix", std::string(101, 'p')}, "--redis-prefix must be 1 to 100 bytes"},
        {{"--log-level", "loud"}, "--log-level is trace, debug, info, warn or error, not 'loud'"},
        {{"--port"}, "--port"},
        {{"--no-such-flag"}, "--no-such-flag"},
    };
    int n = 0;
    for (const auto& row : table) {
      const auto& [extra, message] = row;
      const std::string& expected = message;  // (clang 14 cannot capture a structured binding in CAPTURE)
      CAPTURE(expected);
      std::vector<std::string> argv{SSE_INSTALLER_PATH, "--data-dir", (dir.path() / "data").string()};
      argv.insert(argv.end(), extra.begin(), extra.end());
      sse_test::child_process p(argv, dir.path() / ("flag-" + std::to_string(++n) + ".txt"));
      const int st = p.wait(10s);
      CHECK((WIFEXITED(st) && WEXITSTATUS(st) == 2));
      CHECK(p.log().starts_with("sse-installer: "));
      CHECK(p.log().find(message) != std::string::npos);
    }
  }

  TEST_CASE("--help documents every flag") {
    sse_test::temp_dir dir;
    sse_test::child_process help({SSE_INSTALLER_PATH, "--help"}, dir.path() / "help.txt");
    REQUIRE(help.wait(10s) == 0);
    const std::string text = help.log();
    for (const char* flag : {"--bind", "--port", "--data-dir", "--catalog", "--web-dir", "--ping-interval", "--ping-form",
                             "--token", "--log-level", "--log-dir", "--step-delay", "--threads", "--install-dir",
                             "--redis", "--redis-prefix", "--quiet", "--allowed-host", "--allow-origin"}) {
      CAPTURE(flag);
      CHECK(text.find(std::string("  ") + flag + " ") != std::string::npos);
    }
    sse_test::child_process bad({SSE_INSTALLER_PATH, "--ping-form", "smoke"}, dir.path() / "bad.txt");
    const int st = bad.wait(10s);
    CHECK((WIFEXITED(st) && WEXITSTATUS(st) == 2));
    CHECK(bad.log().find("--ping-form is event or comment, not 'smoke'") != std::string::npos);
  }
}

}  // namespace test_installer_api_cases
