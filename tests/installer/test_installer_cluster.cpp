// Two sse-installer instances sharing one redis-server (started here on a free port, without
// persistence) and one install folder, each with its own data dir: a job started on one is
// streamed, resumed and polled on the other; one job per component across both; an instance
// killed mid-job has its job ended as failed by the other; Redis down is a 503 with a reason.
#include <doctest/doctest.h>

#include <signal.h>

#include <set>

#include "../redis/redis_process.hpp"
#include "installer_client.hpp"
#include "sse/redis/streams.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_installer_cluster_cases {

using namespace sse_test;

namespace {

struct cluster {
  explicit cluster(const sse_test::temp_dir& dir, int delay_ms = 20)
      : redis(dir.path()),
        a(dir.path() / "a", args(dir), delay_ms),
        b(dir.path() / "b", args(dir), delay_ms) {}
  std::vector<std::string> args(const sse_test::temp_dir& dir) const {
    return {"--redis", redis.url(), "--redis-prefix", "t:", "--install-dir", (dir.path() / "shared").string(),
            "--quiet"};
  }
  sse_test::redis_process redis;
  installer_proc a, b;
};

/// Redis stream ids, strictly increasing, none twice.
bool strictly_increasing(const std::vector<collected_event>& evs) {
  std::optional<sse::redis::stream_id> prev;
  for (const auto& e : evs) {
    const auto id = sse::redis::stream_id::parse(e.id);
    if (!id || (prev && !(*prev < *id))) return false;
    prev = id;
  }
  return true;
}

std::vector<std::string> ids_of(const std::vector<collected_event>& evs) {
  std::vector<std::string> out;
  for (const auto& e : evs) out.push_back(e.id);
  return out;
}

}  // namespace

TEST_SUITE("installer.cluster") {
  TEST_CASE("install on A; stream, resume, poll and read the status on either instance") {
    sse_test::temp_dir dir;
    cluster c(dir);
    const json started = install(c.a.port, "core-runtime");
    const std::string job = started["job"];
    // One job per component across instances.
    const json busy = install(c.b.port, "core-runtime", 409);
    CHECK(busy["job"] == job);

    const auto evs = read_stream(c.b.port, started["events"]);  // live, from the other instance
    REQUIRE(evs.size() >= 10);
    CHECK(strictly_increasing(evs));
    CHECK(evs.front().type == "status");
    CHECK(json::parse(evs.front().data) == json{{"state", "running"}, {"component", "core-runtime"}});
    CHECK(evs.back().type == "done");
    const json done = json::parse(evs.back().data);
    CHECK(done["state"] == "succeeded");
    std::size_t logs = 0, seq_errors = 0;
    for (const auto& e : evs)
      if (e.type == "log") {
        ++logs;
        if (json::parse(e.data)["seq"] != logs) ++seq_errors;
      }
    CHECK(done["lines"] == logs);
    CHECK(seq_errors == 0);

    // Resume on A from an id received on B: exactly the rest.
    const auto rest = read_stream(c.a.port, started["events"], "Last-Event-ID: " + evs[4].id + "\r\n");
    const auto all = ids_of(evs);
    CHECK(ids_of(rest) == std::vector<std::string>(all.begin() + 5, all.end()));
    // ... and by the lastEventId query on B.
    const auto rest2 = read_stream(c.b.port, started["events"].get<std::string>() + "?lastEventId=" + evs[7].id);
    CHECK(ids_of(rest2) == std::vector<std::string>(all.begin() + 8, all.end()));
    // Seen `done`: 204 on both.
    for (auto port : {c.a.port, c.b.port})
      CHECK(sse_test::get(port, started["events"].get<std::string>(), "Last-Event-ID: " + evs.back().id + "\r\n").status == 204);

    // Polling on B: the same events with the same ids.
    const json polled = get_json(c.b.port, "/api/jobs/" + job + "/logs?limit=1000");
    std::vector<std::string> pids;
    for (const auto& e : polled["events"]) pids.push_back(e["id"]);
    CHECK(pids == all);
    CHECK(polled["done"] == true);
    CHECK(polled["last_id"] == evs.back().id);
    const json page = get_json(c.a.port, "/api/jobs/" + job + "/logs?after=" + evs[3].id + "&limit=2");
    REQUIRE(page["events"].size() == 2);
    CHECK(page["events"][0]["id"] == evs[4].id);
    CHECK(page["events"][1]["id"] == evs[5].id);
    CHECK(page["last_id"] == evs[5].id);
    CHECK(page["done"] == false);
    const json from_start = get_json(c.a.port, "/api/jobs/" + job + "/logs?after=0-0&limit=1");
    CHECK(from_start["events"][0]["id"] == evs[0].id);
    CHECK(get_json(c.b.port, "/api/jobs/" + job + "/logs?after=" + job, 400)["error"].get<std::string>().find(
              "after must be an event id") != std::string::npos);

    // The status, the job list and the components agree on both instances.
    const json sa = get_json(c.a.port, "/api/jobs/" + job), sb = get_json(c.b.port, "/api/jobs/" + job);
    CHECK(sa == sb);
    CHECK(sa["state"] == "succeeded");
    CHECK(sa["exit_code"] == 0);
    CHECK(sa["lines"] == logs);
    CHECK(sa["last_id"] == evs.back().id);
    CHECK(get_json(c.b.port, "/api/jobs")["jobs"][0]["id"] == job);
    get_json(c.b.port, "/api/jobs/nope-nope", 404);
    const json comps = get_json(c.b.port, "/api/components");  // not a temporary: the loop ranges over a member
    for (const auto& comp : comps["components"])
      if (comp["name"] == "core-runtime") {
        CHECK(comp["installed"] == true);
        CHECK(comp["running_job"].is_null());
      }
    CHECK(get_json(c.a.port, "/api/diagnostics")["instance"] != get_json(c.b.port, "/api/diagnostics")["instance"]);

    // A second job on B, streamed live on A; the component lock was released.
    const json second = install(c.b.port, "core-runtime");
    const auto evs2 = read_stream(c.a.port, second["events"]);
    CHECK(evs2.back().type == "done");
    CHECK(strictly_increasing(evs2));
    CHECK(json::parse(evs2.back().data)["lines"] == logs);
  }

  TEST_CASE("an instance killed mid-job: the other ends its job as failed, streams and polling see a real end") {
    sse_test::temp_dir dir;
    cluster c(dir, 250);
    const json started = install(c.a.port, "core-runtime");
    const std::string job = started["job"];
    sse_subscriber sub(c.b.port, started["events"].get<std::string>());
    REQUIRE_MESSAGE(sub.read_until([&] { return sub.events().size() >= 4; }, 10s), "B's stream: " << sub.body());
    c.a.proc->signal(SIGKILL);
    // The lease (6 s) expires; B's warden (every 2 s) ends the job: log line, status, done.
    REQUIRE(sub.read_until([&] { return sub.ended() || sub.closed(); }, 20s));
    std::vector<collected_event> evs;
    for (const auto& e : sub.events())
      if (e.type != "ping") evs.push_back(e);
    REQUIRE(evs.size() >= 7);
    CHECK(strictly_increasing(evs));
    const auto& last_log = evs[evs.size() - 3];
    CHECK(last_log.type == "log");
    CHECK(json::parse(last_log.data)["line"] ==
          "interrupted: the instance running this job stopped; nothing more was installed by it");
    CHECK(json::parse(evs[evs.size() - 2].data) == json{{"state", "failed"}, {"component", "core-runtime"}});
    const json done = json::parse(evs.back().data);
    CHECK(done["state"] == "failed");
    CHECK(done["exit_code"] == -1);
    const json st = get_json(c.b.port, "/api/jobs/" + job);
    CHECK(st["state"] == "failed");
    CHECK(st["last_id"] == evs.back().id);
    const json polled = get_json(c.b.port, "/api/jobs/" + job + "/logs?limit=1000");
    CHECK(polled["done"] == true);
    CHECK(polled["events"].size() == evs.size());
    const json comps = get_json(c.b.port, "/api/components");  // not a temporary: the loop ranges over a member
    for (const auto& comp : comps["components"])
      if (comp["name"] == "core-runtime") {
        CHECK(comp["installed"] == false);  // never faked: the dead job installed nothing
        CHECK(comp["running_job"].is_null());
      }
    // The component can be installed again, on B.
    const json again = install(c.b.port, "core-runtime");
    const auto evs2 = read_stream(c.b.port, again["events"], {}, 60s);
    CHECK(json::parse(evs2.back().data)["state"] == "succeeded");
  }

  TEST_CASE("Redis down: 503 with the reason on both instances; Redis back: installs work again") {
    sse_test::temp_dir dir;
    cluster c(dir);
    c.redis.kill();
    for (auto port : {c.a.port, c.b.port}) {
      const auto r = sse_test::post(port, "/api/components/docs-bundle/install", "", "X-Installer-Request: 1\r\n");
      CHECK(r.status == 503);
      CHECK(r.header("Retry-After") == "2");
      CHECK(json::parse(r.body)["error"].get<std::string>().find("Redis") != std::string::npos);
      CHECK(sse_test::get(port, "/api/jobs").status == 503);
      CHECK(sse_test::get(port, "/healthz").status == 200);  // the process itself is fine
    }
    c.redis.start();
    std::string job;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (job.empty() && std::chrono::steady_clock::now() < deadline) {
      const auto r = sse_test::post(c.b.port, "/api/components/docs-bundle/install", "", "X-Installer-Request: 1\r\n");
      if (r.status == 202) job = json::parse(r.body)["job"];
      else std::this_thread::sleep_for(100ms);
    }
    REQUIRE_FALSE(job.empty());
    // A reconnects on its own schedule (backoff up to 2 s): until then it answers 503, as it should.
    bool a_back = false;
    for (const auto until = std::chrono::steady_clock::now() + 10s; !a_back && std::chrono::steady_clock::now() < until;) {
      a_back = sse_test::get(c.a.port, "/api/jobs/" + job).status == 200;
      if (!a_back) std::this_thread::sleep_for(100ms);
    }
    REQUIRE(a_back);
    const auto evs = read_stream(c.a.port, "/api/jobs/" + job + "/events");
    REQUIRE_FALSE(evs.empty());
    CHECK(json::parse(evs.back().data)["state"] == "succeeded");
  }
}

}  // namespace test_installer_cluster_cases
