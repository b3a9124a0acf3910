#include "sse/stream.hpp"

#include <doctest/doctest.h>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <fmt/format.h>

#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "../support/runtime.hpp"
#include "sse/transport/memory.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_stream_cases {

using namespace std::chrono_literals;

namespace {

const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

std::string chunk(const std::string& s) { return fmt::format("{:x}\r\n{}\r\n", s.size(), s); }

/// An event of exactly 50 encoded bytes: "id: e-NN\n" + "data: <33 x>\n" + "\n".
sse::shared_event ev50(int n) {
  auto e = sse::make_shared_event(sse::event{.data = std::string(33, 'x'), .id = fmt::format("e-{:02}", n)});
  REQUIRE(e->bytes.size() == 50);
  return e;
}

struct harness {
  asio::io_context ioc;
  sse::metrics m;
  std::vector<std::shared_ptr<sse::memory_stream>> streams;

  std::pair<std::shared_ptr<sse::memory_stream>, sse::memory_transport> make(sse::stream_options so,
                                                                            sse::memory_transport_options to = {}) {
    sse::memory_transport t(ioc.get_executor(), to);
    so.metrics = &m;
    auto s = sse::memory_stream::create(t, std::move(so));
    streams.push_back(s);
    return {s, t};
  }
  void run() {
    ioc.restart();
    ioc.run();
  }
  ~harness() {  // break the stream <-> pending-operation cycles
    for (auto& s : streams) s->abort();
    run();
  }
};

}  // namespace

TEST_SUITE("runtime.stream") {
  TEST_CASE("head, initial comment, retry and padding: exact bytes, one write, chunked") {
    harness h;
    auto [s, t] = h.make({.head = head, .retry = 3000ms, .padding = 8});
    s->start();
    h.run();
    const std::string body = ": ok\nretry: 3000\n\n:      \n";
    CHECK(t.data() == head + "1a\r\n" + body + "\r\n");
    CHECK(t.write_ops() == 1);
    CHECK(s->is_open());
    CHECK(s->stats().bytes_written == t.data().size());
    CHECK(h.m.connections_open == 1);
    CHECK(h.m.connections_total == 1);
  }

  TEST_CASE("close-delimited framing writes the body unframed") {
    harness h;
    auto [s, t] = h.make({.head = "HTTP/1.0 200 OK\r\n\r\n", .body_framing = sse::framing::close_delimited,
                          .initial_comment = "hi"});
    s->start();
    s->send(sse::event{.data = "a"});
    h.run();
    s->close(1000ms);
    h.run();
    CHECK(t.data() == "HTTP/1.0 200 OK\r\n\r\n: hi\ndata: a\n\nretry: 1000\n\n");
    CHECK_FALSE(t.is_open());
    CHECK(s->is_closed());
  }

  TEST_CASE("close listeners run once each, in the order registered; a late one runs at once") {
    harness h;
    auto [s, t] = h.make({.head = head, .initial_comment = std::nullopt});
    std::vector<std::string> ran;
    auto token = std::make_unique<int>(3);  // a move-only callable is accepted
    s->on_close([&ran, token = std::move(token)](std::error_code ec) {
      ran.push_back("first " + std::to_string(*token) + (ec ? " " + ec.message() : ""));
    });
    s->on_close([&](std::error_code ec) { ran.push_back(ec == sse::stream_errc::aborted ? "second aborted" : "second"); });
    s->on_close([&](std::error_code) { ran.push_back("third"); });
    s->start();
    h.run();
    CHECK(ran.empty());
    s->abort();
    h.run();
    CHECK(ran == std::vector<std::string>{"first 3 stream aborted by the application", "second aborted", "third"});
    s->on_close([&](std::error_code ec) { ran.push_back(ec == sse::stream_errc::aborted ? "late aborted" : "late"); });
    h.run();
    CHECK(ran.size() == 4);
    CHECK(ran.back() == "late aborted");
    s->abort();  // closed already: no listener runs again
    h.run();
    CHECK(ran.size() == 4);
  }

  TEST_CASE("chunked framing of events and a graceful close with a retry hint") {
    harness h;
    auto [s, t] = h.make({.head = head, .initial_comment = std::nullopt});
    std::vector<std::error_code> reasons;
    s->on_close([&](std::error_code ec) { reasons.push_back(ec); });
    s->start();
    h.run();
    CHECK(t.data() == head);
    s->send(sse::event{.type = "x", .data = "1", .id = "7"});
    h.run();
    s->close(5000ms);
    h.run();
    CHECK(t.data() == head + chunk("id: 7\nevent: x\ndata: 1\n\n") + "d\r\nretry: 5000\n\n\r\n" + "0\r\n\r\n");
    REQUIRE(reasons.size() == 1);
    CHECK_FALSE(reasons[0]);
    CHECK_FALSE(t.is_open());
    CHECK(s->stats().events_sent == 1);
    CHECK(h.m.connections_open == 0);
    CHECK(h.m.events_delivered == 1);
    bool complete = false;
    CHECK(sse_test::dechunk(t.data().substr(head.size()), &complete) ==
          "id: 7\nevent: x\ndata: 1\n\nretry: 5000\n\n");
    CHECK(complete);
  }

  TEST_CASE("events queued while a write is in flight go out in ONE gathered write") {
    harness h;
    auto [s, t] = h.make({.head = head}, {.stalled = true});
    s->start();
    h.run();
    CHECK(t.write_pending());  // head + preamble held
    std::string events;
    for (int i = 1; i <= 5; ++i) {
      auto e = ev50(i);
      events += e->bytes;
      s->send(e);
    }
    h.run();
    CHECK(t.write_ops() == 1);
    CHECK(s->stats().queued_bytes == 250);
    t.release();
    h.run();
    CHECK(t.write_ops() == 2);
    const std::string first = head + chunk(": ok\n");
    const std::string second = chunk(events);
    CHECK(t.write_sizes() == std::vector<std::size_t>{first.size(), second.size()});
    CHECK(t.data() == first + second);
    CHECK(s->stats().writes == 2);
    CHECK(s->stats().events_sent == 5);
    CHECK(s->stats().queued_bytes == 0);
    CHECK(s->stats().max_queued_bytes_seen == 250);
  }

  TEST_CASE("short writes deliver every byte") {
    harness h;
    auto [s, t] = h.make({.head = head}, {.max_write_size = 7});
    s->start();
    std::string events;
    for (int i = 1; i <= 4; ++i) {
      auto e = ev50(i);
      events += e->bytes;
      s->send(e);
    }
    h.run();
    const std::string first = head + chunk(": ok\n");
    const std::string second = chunk(events);
    CHECK(t.data() == first + second);
    CHECK(t.write_ops() == (first.size() + 6) / 7 + (second.size() + 6) / 7);
    for (const auto n : t.write_sizes()) CHECK(n <= 7);
    CHECK(s->stats().writes == 2);
    CHECK(s->stats().bytes_written == first.size() + second.size());
  }

  TEST_CASE("the N-th write failing closes the stream and is counted") {
    harness h;
    auto [s, t] = h.make({.head = head}, {.fail_write = 2, .fail_error = asio::error::connection_reset});
    std::error_code reason;
    int closes = 0;
    s->on_close([&](std::error_code ec) {
      reason = ec;
      ++closes;
    });
    s->start();
    h.run();
    s->send(ev50(1));
    h.run();
    CHECK(s->is_closed());
    CHECK(closes == 1);
    CHECK(reason == asio::error::connection_reset);
    CHECK(h.m.write_errors == 1);
    CHECK(h.m.connections_open == 0);
    CHECK(h.m.events_delivered == 0);
    CHECK(t.data() == head + chunk(": ok\n"));
    s->send(ev50(2));  // ignored after close
    h.run();
    CHECK(t.write_ops() == 2);
  }

  TEST_CASE("slow consumer, disconnect policy: closed at the bound, others get every event") {
    harness h;
    auto [slow, slow_t] = h.make({.head = head, .max_queued_bytes = 200}, {.stalled = true});
    auto [fast1, fast1_t] = h.make({.head = head, .max_queued_bytes = 200});
    auto [fast2, fast2_t] = h.make({.head = head, .max_queued_bytes = 200});
    std::error_code reason;
    slow->on_close([&](std::error_code ec) { reason = ec; });
    for (auto* s : {&slow, &fast1, &fast2}) (*s)->start();
    h.run();
    std::string all;
    for (int i = 1; i <= 12; ++i) {
      auto e = ev50(i);
      all += e->bytes;
      for (auto* s : {&slow, &fast1, &fast2}) (*s)->send(e);
      h.run();
      if (i <= 4) {
        CHECK(slow->is_open());
        CHECK(slow->stats().queued_bytes == 50u * static_cast<unsigned>(i));
      }
      if (i == 5) CHECK(slow->is_closed());
    }
    CHECK(reason == sse::stream_errc::slow_consumer);
    CHECK(slow->stats().max_queued_bytes_seen == 200);
    CHECK(h.m.slow_consumer_disconnects == 1);
    CHECK_FALSE(slow_t.is_open());
    CHECK(slow_t.data().empty());  // its first write never completed
    for (auto* t : {&fast1_t, &fast2_t}) {
      CHECK(sse_test::dechunk(t->data().substr(head.size())) == ": ok\n" + all);
      CHECK(sse_test::ids(t->data().substr(head.size())).size() == 12);
    }
    CHECK(h.m.events_delivered == 24);
    CHECK(h.m.connections_open == 2);
  }

  TEST_CASE("slow consumer, drop policy: backlog dropped, one gap marker, then live") {
    harness h;
    auto [s, t] = h.make({.head = head, .max_queued_bytes = 200, .on_overflow = sse::overflow_policy::drop},
                         {.stalled = true});
    s->start();
    h.run();
    for (int i = 1; i <= 7; ++i) {
      s->send(ev50(i));
      h.run();
      CHECK(s->stats().queued_bytes <= 200);
    }
    CHECK(s->is_open());
    CHECK(s->stats().events_dropped == 6);
    t.release();
    h.run();
    std::string live;
    for (int i = 8; i <= 10; ++i) {
      auto e = ev50(i);
      live += e->bytes;
      s->send(e);
      h.run();
    }
    const std::string gap = "event: gap\ndata: {\"skipped\":6,\"first\":\"e-01\",\"last\":\"e-06\"}\n\n";
    CHECK(t.data() == head + chunk(": ok\n") + chunk(gap + ev50(7)->bytes) + chunk(ev50(8)->bytes) +
                          chunk(ev50(9)->bytes) + chunk(ev50(10)->bytes));
    CHECK(s->stats().max_queued_bytes_seen <= 200);
    CHECK(s->stats().max_queued_bytes_seen == 200);  // e-01..e-04, before the first drop
    CHECK(s->stats().gaps == 1);
    CHECK(h.m.events_dropped == 6);
    CHECK(h.m.gaps == 1);
    CHECK(h.m.slow_consumer_disconnects == 0);
    CHECK(s->stats().events_sent == 4);
    (void)live;
  }

  TEST_CASE("drop policy: one event larger than the bound with nothing in flight: its gap marker is written at once") {
    harness h;
    auto [s, t] = h.make({.head = head, .max_queued_bytes = 100, .on_overflow = sse::overflow_policy::drop});
    s->start();
    h.run();
    s->send(sse::make_shared_event(sse::event{.data = std::string(120, 'x'), .id = "e-big"}));
    h.run();  // nothing else is sent: the marker must not wait for a next event (nor hold back pings)
    const std::string gap = "event: gap\ndata: {\"skipped\":1,\"first\":\"e-big\",\"last\":\"e-big\"}\n\n";
    CHECK(t.data() == head + chunk(": ok\n") + chunk(gap));
    CHECK(s->stats().gaps == 1);
    CHECK(s->stats().events_dropped == 1);
    CHECK(s->stats().queued_bytes == 0);
    s->send(ev50(1));
    h.run();
    CHECK(t.data() == head + chunk(": ok\n") + chunk(gap) + chunk(ev50(1)->bytes));
    CHECK(s->is_open());
  }

  TEST_CASE("replay is written after the preamble and before live events") {
    harness h;
    auto [s, t] = h.make({.head = head, .max_replay_batch_bytes = 100}, {.stalled = true});
    s->start();
    h.run();
    s->send(ev50(9));  // live, queued before the replay arrives
    s->replay({ev50(1), ev50(2), ev50(3)});
    h.run();
    t.release();
    h.run();
    // Replay batches are at most 100 bytes: (1,2) then (3); the live queue joins the batch that ends it.
    CHECK(t.data() == head + chunk(": ok\n") + chunk(ev50(1)->bytes + ev50(2)->bytes) +
                          chunk(ev50(3)->bytes + ev50(9)->bytes));
    CHECK(s->stats().events_sent == 4);
    CHECK(s->stats().max_queued_bytes_seen == 50);  // replay is not counted in the live bound
  }

  TEST_CASE("peer closing is noticed without a write") {
    harness h;
    auto [s, t] = h.make({.head = head});
    std::error_code reason;
    s->on_close([&](std::error_code ec) { reason = ec; });
    s->start();
    h.run();
    t.peer_close();
    h.run();
    CHECK(s->is_closed());
    CHECK(reason == asio::error::eof);
    CHECK(h.m.connections_open == 0);
  }

  TEST_CASE("abort, write timeout, close before start") {
    harness h;
    auto [a, at] = h.make({.head = head});
    std::error_code ra;
    a->on_close([&](std::error_code ec) { ra = ec; });
    a->start();
    h.run();
    a->abort();
    h.run();
    CHECK(ra == sse::stream_errc::aborted);
    CHECK_FALSE(at.is_open());

    auto [b, bt] = h.make({.head = head, .write_timeout = 2s}, {.stalled = true});
    std::error_code rb;
    b->on_close([&](std::error_code ec) { rb = ec; });
    b->start();
    h.run();
    CHECK_FALSE(b->check_timeout(std::chrono::steady_clock::now()));
    CHECK(b->check_timeout(std::chrono::steady_clock::now() + 3s));
    h.run();
    CHECK(rb == sse::stream_errc::write_timeout);
    CHECK(h.m.write_timeouts == 1);

    auto [c, ct] = h.make({.head = head});
    c->close();
    h.run();
    CHECK(c->is_closed());
    CHECK(ct.data().empty());
    CHECK(h.m.connections_total == 2);
    CHECK(h.m.connections_open == 0);
  }

  TEST_CASE("invalid events throw, comments are split") {
    harness h;
    auto [s, t] = h.make({.head = "", .body_framing = sse::framing::close_delimited, .initial_comment = ""});
    CHECK_THROWS_AS(s->send(sse::event{.data = "x", .id = "a\nb"}), sse::invalid_event);
    s->start();
    s->send_comment("a\nb");
    h.run();
    CHECK(t.data() == ":\n: a\n: b\n");
  }
  TEST_CASE("shared head: one buffer for many streams, written first, released once written") {
    harness h;
    auto shared = std::make_shared<const std::string>(head);
    auto [a, at] = h.make({.head = "ignored\r\n\r\n", .shared_head = shared, .initial_comment = std::nullopt});
    auto [b, bt] = h.make({.shared_head = shared, .initial_comment = std::nullopt});
    CHECK(shared.use_count() == 3);
    a->start();
    b->start();
    h.run();
    CHECK(at.data() == head);
    CHECK(bt.data() == head);
    CHECK(shared.use_count() == 1);  // both released it after writing it
    a->send(ev50(1));
    h.run();
    CHECK(at.data() == head + chunk(ev50(1)->bytes));

    auto [c, ct] = h.make({.head = head});  // a plain string head is released too
    c->start();
    h.run();
    CHECK(ct.data() == head + chunk(": ok\n"));
    CHECK(c->options().head.empty());

    auto [d, dt] = h.make({.shared_head = shared}, {.fail_write = 1});  // a failed head write releases it as well
    d->start();
    h.run();
    CHECK(d->is_closed());
    CHECK(shared.use_count() == 1);
  }
  TEST_CASE("shared options: one copy for many streams, each writes its head and keeps its own state") {
    harness h;
    auto opts = std::make_shared<const sse::stream_options>(sse::stream_options{
        .shared_head = std::make_shared<const std::string>(head), .retry = 2000ms, .max_queued_bytes = 120, .metrics = &h.m});
    sse::memory_transport at(h.ioc.get_executor()), bt(h.ioc.get_executor(), {.stalled = true});
    auto a = sse::memory_stream::create_sharing(at, opts);
    auto b = sse::memory_stream::create_sharing(bt, opts);
    h.streams = {a, b};
    CHECK(&a->options() == opts.get());  // no copy per stream
    CHECK(&b->options() == opts.get());
    CHECK(opts.use_count() == 3);
    CHECK(opts->shared_head.use_count() == 3);  // the options' and each stream's until written
    a->start();
    b->start();
    h.run();
    const std::string preamble = chunk(": ok\nretry: 2000\n\n");
    CHECK(at.data() == head + preamble);
    CHECK(opts->shared_head.use_count() == 2);  // a wrote it; b's write is stalled
    a->send(ev50(1));
    a->send(ev50(2));
    b->send(ev50(1));
    b->send(ev50(2));  // b: 100 queued bytes, under its bound of 120
    b->send(ev50(3));  // b: past the bound: b alone closes
    h.run();
    CHECK(at.data() == head + preamble + chunk(ev50(1)->bytes) + chunk(ev50(2)->bytes));
    CHECK(a->is_open());
    CHECK(b->is_closed());
    CHECK(h.m.slow_consumer_disconnects == 1);
    CHECK(opts->max_queued_bytes == 120);  // the shared options are never changed
  }

  TEST_CASE("deliver_local on the executor queues like send(): order kept, gathered, bound applied") {
    harness h;
    auto [s, t] = h.make({.head = head, .initial_comment = std::nullopt, .max_queued_bytes = 120}, {.stalled = true});
    s->start();
    h.run();  // the head write is held
    asio::post(h.ioc, [s = s] {
      s->deliver_local(ev50(1));
      s->deliver_local(nullptr);  // ignored, like send()
      s->deliver_local(ev50(2));
    });
    h.run();
    CHECK(s->stats().queued_bytes == 100);
    t.release();
    h.run();
    CHECK(t.data() == head + chunk(ev50(1)->bytes + ev50(2)->bytes));
    CHECK(s->stats().events_sent == 2);
    CHECK(s->stats().queued_bytes == 0);
    t.stall();
    asio::post(h.ioc, [s = s] {
      for (int i = 3; i <= 6; ++i) s->deliver_local(ev50(i));  // 3 goes out, 4 queues, 5 passes the bound
    });
    h.run();
    CHECK(s->is_closed());
    CHECK(h.m.slow_consumer_disconnects == 1);
  }
}

}  // namespace test_stream_cases
