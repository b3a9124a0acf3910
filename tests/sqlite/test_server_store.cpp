// sse::server over a real SQLite event store that cannot write for a while (another connection holds
// the write lock): publishes answer 503 with the reason and Retry-After, /healthz says 503 and why,
// /metrics carries the store's gauges; when the lock goes, everything recovers by itself and nothing
// accepted is lost.
#include "sse/server.hpp"
#include "sse/sqlite/event_store.hpp"

#include <doctest/doctest.h>

#include <thread>

#include "../support/http_client.hpp"
#include "../support/process.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_server_store_cases {

using namespace std::chrono_literals;

TEST_CASE("server + sqlite store: a locked database gives 503 with the reason on publish and /healthz, then recovers") {
  sse_test::temp_dir dir;
  const std::string path = (dir.path() / "events.db").string();
  auto store = std::make_shared<sse::sqlite::event_store>(sse::sqlite::store_options{.path = path, .busy_timeout = 300ms});
  sse::server_options o;
  o.port = 0;
  o.threads = 2;
  o.hub.keepalive = std::nullopt;
  o.hub.store = store;
  o.shutdown_grace = 1s;
  sse::server srv(o);
  srv.publish_route("/publish/{topic}");
  srv.start();

  std::vector<std::string> accepted;
  for (int i = 0; i < 5; ++i) {
    const auto id = sse_test::publish(srv.port(), "t", "before-" + std::to_string(i));
    REQUIRE(!id.empty());
    accepted.push_back("before-" + std::to_string(i));
  }
  REQUIRE(store->flush());
  CHECK(sse_test::get(srv.port(), "/healthz").status == 200);

  auto other = sse::sqlite::open_database(path, 1s);
  sse::sqlite::exec(other.get(), "BEGIN EXCLUSIVE");
  // Publishes go on being accepted until the writer meets the lock (after its busy timeout); from
  // then on they are refused with the reason.
  sse_test::http_response refused;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; std::chrono::steady_clock::now() - t0 < 10s; ++i) {
    const std::string data = "during-" + std::to_string(i);
    const auto r = sse_test::post(srv.port(), "/publish/t", data);
    if (r.status == 202) {
      accepted.push_back(data);
      std::this_thread::sleep_for(20ms);
      continue;
    }
    refused = r;
    break;
  }
  REQUIRE(refused.status == 503);
  CHECK(refused.body.starts_with("publish failed: the event store cannot write: "));
  CHECK(refused.body.find("locked") != std::string::npos);
  CHECK(refused.header("Retry-After") == "1");
  const auto health = sse_test::get(srv.port(), "/healthz");
  CHECK(health.status == 503);
  CHECK(health.body.starts_with("unhealthy: the event store cannot write: "));
  CHECK(health.header("Retry-After") == "1");
  const auto metrics = sse_test::get(srv.port(), "/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.body.find("\nsse_store_up 0\n") != std::string::npos);

  sse::sqlite::exec(other.get(), "ROLLBACK");
  const auto t1 = std::chrono::steady_clock::now();
  int status = 0;
  while ((status = sse_test::get(srv.port(), "/healthz").status) != 200 && std::chrono::steady_clock::now() - t1 < 10s)
    std::this_thread::sleep_for(50ms);
  REQUIRE(status == 200);
  CHECK(sse_test::get(srv.port(), "/metrics").body.find("\nsse_store_up 1\n") != std::string::npos);
  REQUIRE(!sse_test::publish(srv.port(), "t", "after").empty());
  accepted.push_back("after");
  REQUIRE(store->flush());

  // Every accepted event is in the file, in order, and nothing else.
  auto db = sse::sqlite::open_database(path, 5s);
  auto st = sse::sqlite::prepare(db.get(), "SELECT data FROM sse_events WHERE topic = 't' ORDER BY seq");
  std::vector<std::string> rows;
  while (sqlite3_step(st.get()) == SQLITE_ROW) rows.push_back(sse::sqlite::column_text(st.get(), 0));
  CHECK(rows == accepted);
  srv.stop();
}

}  // namespace test_server_store_cases
