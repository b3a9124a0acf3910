// sse::add_publish_batch_route end to end over real sockets: one POST of NDJSON to three topics
// with types reaches each topic's subscriber exactly, in order, with the ids the answer gave; a
// malformed line, too many events, a bad token or a bad topic publish nothing; max_topics answers
// 503 per line; hostile bytes never reach the log raw.
#include "sse/server/publish_batch.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../support/http_client.hpp"
#include "../support/runtime.hpp"
#include "sse/server.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_publish_batch_cases {

using namespace std::chrono_literals;

namespace {

const std::string auth = "Authorization: Bearer T\r\n";

struct batch_server {
  std::mutex log_mu;
  std::string log;
  std::unique_ptr<sse::server> srv;

  explicit batch_server(sse::server_options o = {}, sse::publish_batch_options bo = {.max_events = 6}) {
    o.port = 0;
    o.threads = 2;
    o.hub.keepalive = std::nullopt;
    o.on_log = [this](sse::log_level, std::string_view line) {
      std::lock_guard lk(log_mu);
      log.append(line).push_back('\n');
    };
    srv = std::make_unique<sse::server>(o);
    srv->sse_route("/events/{topic}");
    srv->publish_route("/publish/{topic}");
    sse::add_publish_batch_route(*srv, "/publish", sse::bearer_token("T"), bo);
    srv->start();
  }
  ~batch_server() { srv->stop(300ms); }
  unsigned short port() const { return srv->port(); }
  std::string logged() {
    std::lock_guard lk(log_mu);
    return log;
  }
};

/// The answer's lines (each without its LF); the body must end with LF.
std::vector<std::string> lines_of(const std::string& body) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < body.size()) {
    const auto lf = body.find('\n', start);
    REQUIRE(lf != std::string::npos);
    out.push_back(body.substr(start, lf - start));
    start = lf + 1;
  }
  return out;
}

/// The id of an answer line `{"id":"..."}` ("" when the line is not exactly that).
std::string id_of(const std::string& line) {
  if (!line.starts_with("{\"id\":\"") || !line.ends_with("\"}")) return {};
  return line.substr(7, line.size() - 9);
}

/// A subscriber that is registered in the hub (its head arrived) before the test publishes.
std::unique_ptr<sse_test::sse_subscriber> subscribe(unsigned short port, const std::string& topic) {
  auto s = std::make_unique<sse_test::sse_subscriber>(port, "/events/" + topic);
  REQUIRE(s->read_until([&] { return s->status() == 200 && !s->body().empty(); }, 5s));
  return s;
}

/// Publishes a fence event through the single-event route and waits for it: everything the
/// subscriber got before it is then everything it will ever get from before.
void fence(unsigned short port, sse_test::sse_subscriber& s, const std::string& topic, std::size_t before) {
  REQUIRE(sse_test::post(port, "/publish/" + topic + "?event=fence", "fence").status == 202);
  REQUIRE(s.wait_events(before + 1));
  CHECK(s.events().size() == before + 1);
  CHECK(s.events().back().type == "fence");
}

}  // namespace

TEST_CASE("a batch to three topics reaches each subscriber exactly, in line order, with the answer's ids") {
  batch_server bs;
  auto a = subscribe(bs.port(), "a");
  auto b = subscribe(bs.port(), "b");
  auto c = subscribe(bs.port(), "c");
  const std::string body =
      "{\"topic\":\"a\",\"event\":\"t1\",\"data\":\"a1\"}\n"
      "{\"topic\":\"b\",\"data\":\"b1\"}\n"
      "{\"topic\":\"c\",\"event\":\"t3\",\"data\":\"c1\"}\r\n"
      "{\"topic\":\"a\",\"event\":\"t1\",\"data\":\"x\\ny\"}\n"
      "\n"
      "{\"topic\":\"c\",\"event\":\"t3\",\"data\":\"c2\"}\n"
      "{\"data\":\"a3\",\"topic\":\"a\"}";
  const auto r = sse_test::post(bs.port(), "/publish", body, auth + "Content-Type: application/x-ndjson\r\n");
  REQUIRE(r.status == 200);
  CHECK(r.header("Content-Type") == "application/x-ndjson");
  const auto lines = lines_of(r.body);
  REQUIRE(lines.size() == 6);
  std::vector<std::string> ids;
  for (const auto& l : lines) {
    CAPTURE(l);
    ids.push_back(id_of(l));
    CHECK_FALSE(ids.back().empty());
  }
  REQUIRE(a->wait_events(3));
  REQUIRE(b->wait_events(1));
  REQUIRE(c->wait_events(2));
  using ev = sse_test::collected_event;
  CHECK(a->events() == std::vector<ev>{{"t1", "a1", ids[0], {}}, {"t1", "x\ny", ids[3], {}}, {"message", "a3", ids[5], {}}});
  CHECK(b->events() == std::vector<ev>{{"message", "b1", ids[1], {}}});
  CHECK(c->events() == std::vector<ev>{{"t3", "c1", ids[2], {}}, {"t3", "c2", ids[4], {}}});
  // Nothing more was published to any of them.
  fence(bs.port(), *a, "a", 3);
  fence(bs.port(), *b, "b", 1);
  fence(bs.port(), *c, "c", 2);
  // The ids are the hub's: the last one of each topic is its last id.
  CHECK(bs.srv->hub().since("c", ids[2])->entries.size() == 2);  // c2 and the fence
}

TEST_CASE("a malformed line, too many events, a bad topic or a missing token publish nothing") {
  batch_server bs;
  auto a = subscribe(bs.port(), "a");
  const std::string good = "{\"topic\":\"a\",\"data\":\"must not be published\"}\n";

  auto r = sse_test::post(bs.port(), "/publish", good + good + "{\"topic\":\"a\",\"data\":1}\n" + good, auth);
  CHECK(r.status == 400);
  CHECK(r.body == "line 3: \"data\" must be a string, not a number\n");

  r = sse_test::post(bs.port(), "/publish", good + good + good + good + good + good + "\n" + good, auth);
  CHECK(r.status == 413);
  CHECK(r.body == "line 8: more than 6 events in one batch\n");

  r = sse_test::post(bs.port(), "/publish", good + "{\"topic\":\"" + std::string(201, 'x') + "\"}\n", auth);
  CHECK(r.status == 400);
  CHECK(r.body == "line 2: invalid topic \"" + std::string(40, 'x') + "...\n");

  r = sse_test::post(bs.port(), "/publish", good);
  CHECK(r.status == 401);
  CHECK(r.header("WWW-Authenticate") == "Bearer");
  r = sse_test::post(bs.port(), "/publish", good, "Authorization: Bearer wrong\r\n");
  CHECK(r.status == 401);

  r = sse_test::post(bs.port(), "/publish", "", auth);
  CHECK(r.status == 400);
  CHECK(r.body == "line 0: no event in the body\n");
  CHECK(sse_test::get(bs.port(), "/publish").status == 405);

  // A refused batch is logged with its reason; the body's bytes (an ESC here) never raw.
  r = sse_test::post(bs.port(), "/publish", good + "{\"topic\":\"a\",\"\\u001b[2J\":\"\"}\n", auth);
  CHECK(r.status == 400);
  CHECK(r.body == "line 2: unknown member \"\\x1b[2J\" (the members are \"topic\", \"event\" and \"data\")\n");
  const std::string log = bs.logged();
  CHECK(log.find("publish batch from 127.0.0.1") != std::string::npos);
  CHECK(log.find("line 2: unknown member") != std::string::npos);
  CHECK(log.find('\x1b') == std::string::npos);

  fence(bs.port(), *a, "a", 0);  // not one of the events above reached the topic
  CHECK(bs.srv->hub().since("a", "")->head == 1);
}

TEST_CASE("a batch body above max_body_bytes gets 413 before it is parsed") {
  sse::server_options o;
  o.max_body_bytes = 1024;
  batch_server bs(o);
  const std::string line = "{\"topic\":\"a\",\"data\":\"" + std::string(600, 'x') + "\"}\n";
  const auto r = sse_test::post(bs.port(), "/publish", line + line, auth);
  CHECK(r.status == 413);
  CHECK(bs.srv->hub().topic_count() == 0);
}

TEST_CASE("past max_topics each new topic's line answers 503; the others are published") {
  sse::server_options o;
  o.hub.max_topics = 3;
  batch_server bs(o);
  auto r = sse_test::post(bs.port(), "/publish",
                          "{\"topic\":\"t1\"}\n{\"topic\":\"t2\"}\n{\"topic\":\"t3\"}\n{\"topic\":\"t4\"}\n{\"topic\":\"t1\"}\n",
                          auth);
  CHECK(r.status == 200);
  auto lines = lines_of(r.body);
  REQUIRE(lines.size() == 5);
  for (const int i : {0, 1, 2, 4}) CHECK_FALSE(id_of(lines[static_cast<std::size_t>(i)]).empty());
  CHECK(lines[3] == "{\"status\":503,\"error\":\"too many topics\"}");
  CHECK(bs.srv->hub().since("t1", "")->head == 2);
  CHECK_FALSE(bs.srv->hub().since("t4", "").has_value());

  // Nothing published at all: the status says so (503, retry later), the lines say why.
  r = sse_test::post(bs.port(), "/publish", "{\"topic\":\"t5\"}\n{\"topic\":\"t6\",\"data\":\"x\"}\n", auth);
  CHECK(r.status == 503);
  CHECK(r.header("Retry-After") == "1");
  CHECK(r.body == "{\"status\":503,\"error\":\"too many topics\"}\n{\"status\":503,\"error\":\"too many topics\"}\n");
}

namespace {

/// A store that takes `room` events and then refuses every append (queue full), counting the calls.
class full_store : public sse::event_store {
 public:
  explicit full_store(std::size_t room) : room_(room) {}
  sse::store_topic open_topic(std::string_view, std::string_view proposed, std::error_code& ec) override {
    ec = {};
    return {std::string(proposed), 0};
  }
  void append(std::string_view, sse::stored_event, std::error_code& ec) override {
    ++appends;
    ec = appends > room_ ? make_error_code(sse::store_errc::queue_full) : std::error_code{};
  }
  std::vector<sse::stored_event> load(std::string_view, std::uint64_t, std::size_t, std::error_code& ec) override {
    ec = {};
    return {};
  }
  std::atomic<std::size_t> appends{0};

 private:
  std::size_t room_;
};

}  // namespace

TEST_CASE("when the store refuses an event, the lines after it are not attempted") {
  auto store = std::make_shared<full_store>(2);
  sse::server_options o;
  o.hub.store = store;
  batch_server bs(o);
  const auto r = sse_test::post(bs.port(), "/publish",
                                "{\"topic\":\"a\"}\n{\"topic\":\"b\"}\n\n{\"topic\":\"a\"}\n{\"topic\":\"c\"}\n", auth);
  CHECK(r.status == 200);
  const auto lines = lines_of(r.body);
  REQUIRE(lines.size() == 4);
  CHECK_FALSE(id_of(lines[0]).empty());
  CHECK_FALSE(id_of(lines[1]).empty());
  CHECK(lines[2] == "{\"status\":503,\"error\":\"publish failed: the event store cannot write: event store: write queue full\"}");
  CHECK(lines[3] == "{\"status\":503,\"error\":\"not attempted: line 4 failed: event store: write queue full\"}");
  CHECK(store->appends == 3);  // the fourth event was never handed to the store
  CHECK(bs.srv->hub().since("a", "")->head == 1);
  CHECK_FALSE(bs.srv->hub().since("c", "").has_value());
}

}  // namespace test_publish_batch_cases
