// The installer's JSON (json.hpp: the exact bytes of its event data and records) and its local
// backend (local_backend.hpp: locks, records, the memory copy of running jobs, orphans once).
#include "installer/json.hpp"
#include "installer/local_backend.hpp"

#include <doctest/doctest.h>

#include "../support/process.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_backend_cases {

using installer::job_row;

TEST_SUITE("installer.json") {
  TEST_CASE("event data and records: compact, fields in order, null for what is absent") {
    CHECK(installer::log_data(3, "2026-11-27T10:00:00.123Z", "warn", "a \"quoted\" \\ line") ==
          R"({"seq":3,"ts":"2026-11-27T10:00:00.123Z","level":"warn","line":"a \"quoted\" \\ line"})");
    CHECK(installer::progress_data(50, "copy files") == R"({"percent":50,"step":"copy files"})");
    CHECK(installer::status_data("running", "core-runtime") == R"({"state":"running","component":"core-runtime"})");
    CHECK(installer::done_data("failed", -1, 7) == R"({"state":"failed","exit_code":-1,"lines":7})");
    job_row j;
    j.id = "20261127-100000-abcd01";
    j.component = "docs-bundle";
    j.started = "2026-11-27T10:00:00.000Z";
    j.last_id = "e-1";
    CHECK(installer::dump(installer::job_json(j)) ==
          R"({"id":"20261127-100000-abcd01","component":"docs-bundle","state":"running","started":"2026-11-27T10:00:00.000Z",)"
          R"("finished":null,"exit_code":null,"lines":0,"last_id":"e-1"})");
    CHECK(installer::json_error(409, "busy", std::string("j1")).body == R"({"error":"busy","job":"j1"})");
  }

  TEST_CASE("untrusted text: control characters escaped, bytes that are not UTF-8 replaced, never an invalid document") {
    const std::string data = installer::log_data(1, "t", "info", std::string("tab\there \x01 \xff\xfe end", 17));
    CHECK(data == "{\"seq\":1,\"ts\":\"t\",\"level\":\"info\",\"line\":\"tab\\there \\u0001 \xEF\xBF\xBD\xEF\xBF\xBD end\"}");
    CHECK(nlohmann::json::parse(data)["line"] == "tab\there \x01 \xEF\xBF\xBD\xEF\xBF\xBD end");
  }

  TEST_CASE("a stored done event gives the job's end; stored data goes back out as JSON") {
    CHECK(installer::parse_done(R"({"state":"succeeded","exit_code":0,"lines":4})").state == "succeeded");
    CHECK(installer::parse_done(R"({"state":"succeeded","exit_code":0,"lines":4})").exit_code == 0);
    CHECK(installer::parse_done(R"({"state":"failed","exit_code":-1})").exit_code == -1);
    CHECK(installer::parse_done("not json").state == "failed");
    CHECK_FALSE(installer::parse_done("not json").exit_code.has_value());
    CHECK(installer::dump(installer::event_data(R"({"percent":100,"step":"done"})")) == R"({"percent":100,"step":"done"})");
    CHECK(installer::event_data("").is_null());
    CHECK(installer::event_data("plain text") == "plain text");
  }
}

TEST_SUITE("installer.local_backend") {
  TEST_CASE("one job per component; running jobs are read from memory, ended ones from installer.db") {
    sse_test::temp_dir dir;
    installer::local_backend b(dir.path());
    sse::hub_options ho;
    b.configure(ho, {});
    CHECK(ho.store != nullptr);
    CHECK_FALSE(b.instance().has_value());

    CHECK_FALSE(b.claim("core-runtime", "j1").has_value());
    CHECK(b.claim("core-runtime", "j2") == std::optional<std::string>("j1"));
    CHECK(b.running({}) == std::map<std::string, std::string>{{"core-runtime", "j1"}});
    b.release("core-runtime", "j2");  // not its holder: nothing changes
    CHECK(b.claim("core-runtime", "j2") == std::optional<std::string>("j1"));

    job_row j;
    j.id = "j1";
    j.component = "core-runtime";
    j.topic = "job/j1";
    j.epoch = "e";
    j.started = "2026-11-27T10:00:00.000Z";
    j.started_ms = 1;
    j.last_id = "e-1";
    b.insert(j);
    j.lines = 5;
    j.last_id = "e-9";
    b.progress(j);  // memory only
    CHECK(b.get("j1")->lines == 5);
    CHECK(b.newest(10).at(0).last_id == "e-9");
    CHECK(b.orphans().size() == 1);  // installer.db says running: what a restart would end
    CHECK(b.orphans().empty());      // asked once

    j.state = "succeeded";
    j.exit_code = 0;
    j.finished = "2026-11-27T10:00:05.000Z";
    b.finish(j);
    b.release("core-runtime", "j1");
    CHECK(b.running({}).empty());
    CHECK_FALSE(b.get("nope").has_value());

    b.close();
    installer::local_backend again(dir.path());  // a new process: installer.db only
    sse::hub_options ho2;
    again.configure(ho2, {});
    const auto row = again.get("j1");
    REQUIRE(row.has_value());
    CHECK(row->state == "succeeded");
    CHECK(row->lines == 5);
    CHECK(row->last_id == "e-9");
    CHECK(row->exit_code == 0);
    CHECK(again.orphans().empty());
    CHECK(again.start_id(*row) == "e-0");
    CHECK(again.is_event_id(*row, "e-12"));
    CHECK_FALSE(again.is_event_id(*row, "e-012"));
    CHECK_FALSE(again.is_event_id(*row, "f-1"));
    again.close();
  }
}

}  // namespace test_backend_cases
