// sse::stream_writer, the stream's decisions without sockets, executors or clocks: tables of call
// sequences, each call with the exact output it must give (bytes of each write, verdicts, counters).
#include "sse/stream_writer.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using sse::stream_writer;

namespace {

/// `id: e<n>\ndata: d<n>\n\n` (17 bytes for a one-character n).
std::string e(std::string_view n) { return "id: e" + std::string(n) + "\ndata: d" + std::string(n) + "\n\n"; }
/// `data: d<n>\n\n` (an event without id; 10 bytes for a one-character n).
std::string a(std::string_view n) { return "data: d" + std::string(n) + "\n\n"; }

struct row {
  const char* name;
  sse::stream_writer_options opts;
  std::string head;
  /// Each call with its expected output. Calls:
  ///   start | ev <n> | anon <n> | ping | comment | replay <n>... | close [ms] | abort
  ///   write | done | fail <bytes> | wait <ms> | tick <idle ms> | stats | state | held
  std::vector<std::pair<std::string, std::string>> steps;
};

const char* name_of(stream_writer::enqueue_status s) {
  switch (s) {
    case stream_writer::enqueue_status::queued: return "queued";
    case stream_writer::enqueue_status::dropped: return "dropped";
    case stream_writer::enqueue_status::overflow: return "overflow";
    case stream_writer::enqueue_status::gap_overflow: return "gap_overflow";
    case stream_writer::enqueue_status::ignored: return "ignored";
  }
  return "?";
}

const char* name_of(stream_writer::after_write n) {
  switch (n) {
    case stream_writer::after_write::next: return "next";
    case stream_writer::after_write::finish: return "finish";
    case stream_writer::after_write::failed: return "failed";
    case stream_writer::after_write::ignored: return "ignored";
  }
  return "?";
}

const char* name_of(stream_writer::phase p) {
  switch (p) {
    case stream_writer::phase::idle: return "idle";
    case stream_writer::phase::open: return "open";
    case stream_writer::phase::closing: return "closing";
    case stream_writer::phase::closed: return "closed";
  }
  return "?";
}

const char* name_of(stream_writer::close_action c) {
  switch (c) {
    case stream_writer::close_action::ignored: return "ignored";
    case stream_writer::close_action::closed: return "closed";
    case stream_writer::close_action::finishing: return "finishing";
  }
  return "?";
}

const char* name_of(stream_writer::tick_action t) {
  switch (t) {
    case stream_writer::tick_action::none: return "none";
    case stream_writer::tick_action::ping: return "ping";
    case stream_writer::tick_action::write_timeout: return "write_timeout";
  }
  return "?";
}

/// Runs one row's calls against a fresh writer and returns what each call gave.
struct driver {
  using time_point = stream_writer::time_point;
  const time_point t0 = time_point{} + 1h;
  time_point now = t0;
  std::string head;
  stream_writer w;
  std::size_t in_flight = 0;  ///< size of the last planned write

  explicit driver(const row& r) : head(r.head), w(r.opts, t0) {}

  static long long ms(stream_writer::clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  }

  std::string verdict(const stream_writer::enqueue_verdict& v) {
    std::string s = name_of(v.status);
    if (v.dropped) s += " dropped=" + std::to_string(v.dropped);
    if (v.status == stream_writer::enqueue_status::overflow || v.status == stream_writer::enqueue_status::gap_overflow)
      s += " queued_before=" + std::to_string(v.queued_before);
    return s;
  }

  std::string outcome(const stream_writer::write_outcome& o) {
    std::string s = name_of(o.next);
    if (o.head_written) s += " head";
    if (o.events) s += " events=" + std::to_string(o.events);
    if (o.pings) s += " pings=" + std::to_string(o.pings);
    return s;
  }

  std::string call(const std::string& line) {
    std::istringstream in(line);
    std::string op;
    in >> op;
    if (op == "start") return w.start(now, head) ? "started" : "ignored";
    if (op == "ev" || op == "anon") {
      std::string n;
      in >> n;
      const auto ev = op == "ev" ? sse::make_shared_event(e(n), "e" + n) : sse::make_shared_event(a(n));
      return verdict(w.enqueue(ev));
    }
    if (op == "ping") return verdict(w.enqueue(sse::make_shared_event(": p\n\n"), stream_writer::item_kind::ping));
    if (op == "comment")
      return verdict(w.enqueue(sse::make_shared_event(": c\n\n"), stream_writer::item_kind::comment));
    if (op == "replay") {
      std::vector<sse::shared_event> evs;
      for (std::string n; in >> n;) evs.push_back(sse::make_shared_event(e(n), "e" + n));
      return w.replay(std::move(evs)) ? "ok" : "ignored";
    }
    if (op == "close") {
      long long r = 0;
      if (in >> r) return name_of(w.close(std::chrono::milliseconds(r)));
      return name_of(w.close());
    }
    if (op == "abort") return name_of(w.abort());
    if (op == "write") {
      const auto plan = w.next_write(now);
      if (plan.action == stream_writer::write_action::none) return "none";
      if (plan.action == stream_writer::write_action::finish) return "finish";
      std::string bytes = plan.gap ? "[gap] " : "";
      for (const auto b : plan.buffers) {
        CHECK_FALSE(b.empty());  // no empty buffer in a gathered write
        bytes += b;
      }
      in_flight = plan.size();
      return bytes;
    }
    if (op == "done") return outcome(w.write_done({}, in_flight, now));
    if (op == "fail") {
      std::size_t n = 0;
      in >> n;
      return outcome(w.write_done(std::make_error_code(std::errc::broken_pipe), n, now));
    }
    if (op == "wait") {
      long long d = 0;
      in >> d;
      now += std::chrono::milliseconds(d);
      return "";
    }
    if (op == "tick") {
      long long idle = 0;
      in >> idle;
      const auto t = w.tick(now, std::chrono::milliseconds(idle));
      // tick() is needs_ping() and write_timed_out() together.
      CHECK(w.needs_ping(now, std::chrono::milliseconds(idle)) == (t == stream_writer::tick_action::ping));
      if (t == stream_writer::tick_action::write_timeout) CHECK(w.write_timed_out(now));
      return name_of(t);
    }
    if (op == "stats") {
      const auto& s = w.stats();
      return "bytes=" + std::to_string(s.bytes_written) + " writes=" + std::to_string(s.writes) +
             " events=" + std::to_string(s.events_sent) + " pings=" + std::to_string(s.pings_sent) +
             " dropped=" + std::to_string(s.events_dropped) + " gaps=" + std::to_string(s.gaps) +
             " queued=" + std::to_string(s.queued_bytes) + " max=" + std::to_string(s.max_queued_bytes_seen) +
             " last=" + std::to_string(ms(s.last_write - t0));
    }
    if (op == "state") return name_of(w.state());
    if (op == "held") return w.buffer_bytes() == 0 ? "none" : "some";
    FAIL("unknown call in a table: ", line);
    return {};
  }
};

void run(const std::vector<row>& rows) {
  std::size_t calls = 0;
  for (const auto& r : rows) {
    driver d(r);
    for (std::size_t i = 0; i < r.steps.size(); ++i) {
      const std::string& call = r.steps[i].first;  // no structured binding: clang 14 and CHECK_MESSAGE
      const std::string& want = r.steps[i].second;
      const std::string got = d.call(call);
      CHECK_MESSAGE(got == want, r.name, " / step ", i, ": ", call);
      ++calls;
    }
  }
  CHECK(calls > rows.size());  // the tables really ran
}

constexpr auto close_delimited = sse::framing::close_delimited;
constexpr auto drop = sse::overflow_policy::drop;

}  // namespace

TEST_CASE("stream_writer: head, preamble, gathered writes, chunk framing") {
  run({
      {"head then the preamble (comment, retry, padding) in one chunk",
       {.retry = 3000ms, .padding = 8},
       "HTTP/1.1 200 OK\r\n\r\n",
       {{"write", "none"},
        {"tick 0", "none"},  // not started: no ping
        {"start", "started"},
        {"start", "ignored"},
        {"state", "open"},
        {"write", "HTTP/1.1 200 OK\r\n\r\n1a\r\n: ok\nretry: 3000\n\n:      \n\r\n"},
        {"write", "none"},  // one write in flight at most
        {"done", "next head"},
        {"write", "none"},
        {"stats", "bytes=51 writes=1 events=0 pings=0 dropped=0 gaps=0 queued=0 max=0 last=0"}}},
      {"events queued during a write go out in ONE gathered write",
       {.body_framing = close_delimited, .initial_comment = std::nullopt},
       "",
       {{"start", "started"},
        {"write", "none"},  // no head, no preamble: nothing to write
        {"ev 1", "queued"},
        {"write", e("1")},
        {"ev 2", "queued"},
        {"ev 3", "queued"},
        {"write", "none"},
        {"stats", "bytes=0 writes=0 events=0 pings=0 dropped=0 gaps=0 queued=51 max=51 last=0"},
        {"wait 5", ""},
        {"done", "next events=1"},
        {"write", e("2") + e("3")},
        {"done", "next events=2"},
        {"stats", "bytes=51 writes=2 events=3 pings=0 dropped=0 gaps=0 queued=0 max=51 last=5"}}},
      {"items queued before start wait for it; one chunk for the preamble and the events",
       {},
       "",
       {{"ev 1", "queued"},
        {"ev 2", "queued"},
        {"write", "none"},
        {"start", "started"},
        {"write", "27\r\n: ok\n" + e("1") + e("2") + "\r\n"},
        {"done", "next events=2"},
        {"stats", "bytes=45 writes=1 events=2 pings=0 dropped=0 gaps=0 queued=0 max=34 last=0"}}},
  });
}

TEST_CASE("stream_writer: a drained stream holds no buffer, a busy one keeps them") {
  run({
      {"each write completed with nothing queued gives the buffers back",
       {.retry = 1000ms},
       "HTTP/1.1 200 OK\r\n\r\n",
       {{"held", "some"},  // the preamble, until the first write
        {"start", "started"},
        {"write", "HTTP/1.1 200 OK\r\n\r\n12\r\n: ok\nretry: 1000\n\n\r\n"},
        {"held", "some"},  // the write's buffer list, until it completes
        {"done", "next head"},
        {"held", "none"},
        {"ev 1", "queued"},
        {"held", "some"},
        {"write", "11\r\n" + e("1") + "\r\n"},
        {"done", "next events=1"},
        {"held", "none"},
        {"wait 20", ""},
        {"tick 20", "ping"},
        {"ping", "queued"},
        {"write", "5\r\n: p\n\n\r\n"},
        {"done", "next pings=1"},
        {"held", "none"}}},
      {"a backlog when a write completes: kept for the next write, given back once drained",
       {.body_framing = close_delimited, .initial_comment = std::nullopt},
       "",
       {{"start", "started"},
        {"ev 1", "queued"},
        {"write", e("1")},
        {"ev 2", "queued"},
        {"done", "next events=1"},
        {"held", "some"},
        {"write", e("2")},
        {"done", "next events=1"},
        {"held", "none"}}},
      {"a replay drained the same way",
       {.body_framing = close_delimited, .initial_comment = std::nullopt, .max_replay_batch_bytes = 17},
       "",
       {{"replay 1 2", "ok"},
        {"start", "started"},
        {"write", e("1")},
        {"done", "next events=1"},
        {"held", "some"},  // the rest of the replay
        {"write", e("2")},
        {"done", "next events=1"},
        {"held", "none"}}},
      {"more items than the write's lists hold in place: one write, in order, then nothing held",
       {.initial_comment = std::nullopt},
       "",
       {{"start", "started"},
        {"ev 1", "queued"},
        {"ev 2", "queued"},
        {"ping", "queued"},
        {"ev 3", "queued"},
        {"ev 4", "queued"},
        {"write", "49\r\n" + e("1") + e("2") + ": p\n\n" + e("3") + e("4") + "\r\n"},
        {"held", "some"},
        {"done", "next events=4 pings=1"},
        {"held", "none"},
        {"ev 5", "queued"},  // the lists after a spill: in place again
        {"write", "11\r\n" + e("5") + "\r\n"},
        {"done", "next events=1"},
        {"held", "none"}}},
      {"an abort while a write is in flight: its buffers are held until it completes, then none",
       {.body_framing = close_delimited, .initial_comment = std::nullopt},
       "",
       {{"start", "started"},
        {"ev 1", "queued"},
        {"write", e("1")},
        {"ev 2", "queued"},
        {"abort", "open"},
        {"held", "some"},
        {"done", "ignored"},
        {"held", "none"}}},
      {"a failed write: nothing held",
       {.body_framing = close_delimited, .initial_comment = std::nullopt},
       "",
       {{"start", "started"},
        {"ev 1", "queued"},
        {"write", e("1")},
        {"ev 2", "queued"},
        {"fail 3", "failed"},
        {"state", "closed"},
        {"held", "none"}}},
      {"a graceful close of an idle chunked stream: the last chunk, then nothing held",
       {.initial_comment = std::nullopt},
       "",
       {{"start", "started"},
        {"held", "none"},
        {"close", "finishing"},
        {"write", "0\r\n\r\n"},
        {"done", "finish"},
        {"state", "closed"},
        {"held", "none"}}},
      {"closed before it started: nothing held",
       {.retry = 1000ms},
       "HTTP/1.1 200 OK\r\n\r\n",
       {{"ev 1", "queued"},
        {"held", "some"},
        {"close", "closed"},
        {"held", "none"}}},
  });
}

TEST_CASE("stream_writer: the bound with the disconnect policy") {
  run({
      {"reaching the bound exactly is allowed; one byte past it closes",
       {.body_framing = close_delimited, .initial_comment = std::nullopt, .max_queued_bytes = 51},
       "",
       {{"start", "started"},
        {"ev 1", "queued"},
        {"write", e("1")},
        {"ev 2", "queued"},
        {"ev 3", "queued"},  // 17 in flight + 34 queued = 51: at the bound
        {"ev 4", "overflow queued_before=51"},
        {"state", "closed"},
        {"ev 5", "ignored"},
        {"write", "none"},
        {"done", "ignored"},  // the write in flight completes after the close
        {"tick 0", "none"},
        {"stats", "bytes=17 writes=0 events=0 pings=0 dropped=0 gaps=0 queued=0 max=51 last=0"}}},
  });
}

TEST_CASE("stream_writer: the drop policy and its gap marker") {
  run({
      {"several overflows coalesce into one marker whose bytes count in the bound",
       {.body_framing = close_delimited, .initial_comment = std::nullopt, .max_queued_bytes = 100, .on_overflow = drop},
       "",
       {{"start", "started"},
        {"ev 1", "queued"},
        {"write", e("1")},
        {"ev 2", "queued"},
        {"ev 3", "queued"},
        {"ev 4", "queued"},
        {"ev 5", "queued"},
        {"stats", "bytes=0 writes=0 events=0 pings=0 dropped=0 gaps=0 queued=85 max=85 last=0"},
        // 85 + 17 > 100: e2..e5 dropped; 17 in flight + a 57-byte marker + e6 = 91
        {"ev 6", "queued dropped=4"},
        {"stats", "bytes=0 writes=0 events=0 pings=0 dropped=4 gaps=0 queued=91 max=91 last=0"},
        // 91 + 17 > 100: e6 dropped into the same marker (same size), e7 queued
        {"ev 7", "queued dropped=1"},
        {"stats", "bytes=0 writes=0 events=0 pings=0 dropped=5 gaps=0 queued=91 max=91 last=0"},
        {"done", "next events=1"},
        {"write",
         "[gap] event: gap\ndata: {\"skipped\":5,\"first\":\"e2\",\"last\":\"e6\"}\n\n" + e("7")},
        {"stats", "bytes=17 writes=1 events=1 pings=0 dropped=5 gaps=1 queued=74 max=91 last=0"},
        {"done", "next events=1"},
        {"write", "none"},
        {"stats", "bytes=91 writes=2 events=2 pings=0 dropped=5 gaps=1 queued=0 max=91 last=0"}}},
      {"an item that still does not fit is skipped; pings wait while the marker is pending",
       {.body_framing = close_delimited, .initial_comment = std::nullopt, .max_queued_bytes = 80, .on_overflow = drop},
       "",
       {{"start", "started"},
        {"ev 1", "queued"},
        {"write", e("1")},
        {"ev 2", "queued"},
        {"ev 3", "queued"},
        {"ev 4", "queued"},
        {"ev 5", "dropped dropped=4"},  // e2..e4 dropped, 17 + 57 = 74: no room for e5 either
        {"ev 6", "dropped dropped=1"},
        {"stats", "bytes=0 writes=0 events=0 pings=0 dropped=5 gaps=0 queued=74 max=74 last=0"},
        {"wait 20000", ""},
        {"done", "next events=1"},
        {"wait 20000", ""},
        {"tick 15000", "none"},  // idle for 20 s, but the marker is pending
        {"write", "[gap] event: gap\ndata: {\"skipped\":5,\"first\":\"e2\",\"last\":\"e6\"}\n\n"},
        {"done", "next"},
        {"tick 15000", "none"},
        {"wait 15000", ""},
        {"tick 15000", "ping"},
        {"stats", "bytes=74 writes=2 events=1 pings=0 dropped=5 gaps=1 queued=0 max=74 last=40000"}}},
      {"not even the marker fits: the writer closes (slow consumer)",
       {.body_framing = close_delimited, .initial_comment = std::nullopt, .max_queued_bytes = 60, .on_overflow = drop},
       "",
       {{"start", "started"},
        {"ev 1", "queued"},
        {"write", e("1")},
        {"ev 2", "queued"},
        {"ev 3", "queued"},
        {"ev 4", "gap_overflow dropped=3 queued_before=51"},  // 17 + a 57-byte marker > 60
        {"state", "closed"},
        {"ev 5", "ignored"},
        {"done", "ignored"},
        {"stats", "bytes=17 writes=0 events=0 pings=0 dropped=3 gaps=0 queued=0 max=74 last=0"}}},
      {"events without ids: the marker has no first/last",
       {.body_framing = close_delimited, .initial_comment = std::nullopt, .max_queued_bytes = 60, .on_overflow = drop},
       "",
       {{"start", "started"},
        {"anon 1", "queued"},
        {"write", a("1")},
        {"anon 2", "queued"},
        {"anon 3", "queued"},
        {"anon 4", "queued"},
        {"anon 5", "queued"},
        {"anon 6", "queued"},
        {"anon 7", "queued dropped=5"},  // 10 in flight + a 32-byte marker + 10
        {"done", "next events=1"},
        {"write", "[gap] event: gap\ndata: {\"skipped\":5}\n\n" + a("7")},
        {"done", "next events=1"},
        {"stats", "bytes=52 writes=2 events=2 pings=0 dropped=5 gaps=1 queued=0 max=60 last=0"}}},
      {"ids in the marker are JSON strings",
       {.body_framing = close_delimited, .initial_comment = std::nullopt, .max_queued_bytes = 100, .on_overflow = drop},
       "",
       {{"start", "started"},
        {"ev 1", "queued"},
        {"write", e("1")},
        {"ev \"a", "queued"},
        {"ev \"b", "queued"},
        {"ev 2", "queued"},
        {"ev 3", "queued"},
        {"ev 4", "queued dropped=4"},
        {"done", "next events=1"},
        {"write", "[gap] event: gap\ndata: {\"skipped\":4,\"first\":\"e\\\"a\",\"last\":\"e3\"}\n\n" + e("4")},
        {"done", "next events=1"},
        {"stats", "bytes=93 writes=2 events=2 pings=0 dropped=4 gaps=1 queued=0 max=93 last=0"}}},
      {"pings and comments are dropped with the backlog but are not skipped events",
       {.body_framing = close_delimited, .initial_comment = std::nullopt, .max_queued_bytes = 40, .on_overflow = drop},
       "",
       {{"start", "started"},
        {"ev 1", "queued"},
        {"write", e("1")},
        {"ping", "queued"},
        {"comment", "queued"},
        {"ev 2", "queued"},  // 27 + 17 > 40: the ping and the comment go, no marker
        {"done", "next events=1"},
        {"write", e("2")},
        {"done", "next events=1"},
        {"stats", "bytes=34 writes=2 events=2 pings=0 dropped=0 gaps=0 queued=0 max=34 last=0"}}},
  });
}

TEST_CASE("stream_writer: keepalive pings and the write timeout") {
  run({
      {"pings only when idle for the interval with nothing queued or in flight; then a write times out",
       {.body_framing = close_delimited, .initial_comment = std::nullopt, .write_timeout = 30s},
       "",
       {{"tick 15000", "none"},
        {"start", "started"},
        {"wait 14999", ""},
        {"tick 15000", "none"},
        {"wait 1", ""},
        {"tick 15000", "ping"},
        {"ping", "queued"},
        {"tick 15000", "none"},  // queued
        {"write", ": p\n\n"},
        {"tick 15000", "none"},  // in flight
        {"done", "next pings=1"},
        {"tick 15000", "none"},  // just written
        {"comment", "queued"},
        {"write", ": c\n\n"},
        {"done", "next"},
        {"wait 15000", ""},
        {"tick 15000", "ping"},
        {"ev 1", "queued"},
        {"write", e("1")},
        {"wait 29999", ""},
        {"tick 15000", "none"},
        {"wait 1", ""},
        {"tick 15000", "write_timeout"},
        {"abort", "open"},
        {"tick 15000", "none"},
        {"done", "ignored"},
        {"stats", "bytes=27 writes=2 events=0 pings=1 dropped=0 gaps=0 queued=0 max=17 last=15000"}}},
  });
}

TEST_CASE("stream_writer: replay in batches before live events") {
  run({
      {"replay larger than the batch bound is split; live events follow it",
       {.body_framing = close_delimited, .initial_comment = std::nullopt, .max_replay_batch_bytes = 34},
       "",
       {{"ev 9", "queued"},
        {"replay 1 2 3 4 5", "ok"},
        {"start", "started"},
        {"write", e("1") + e("2")},  // exactly the bound (34); a third would make 51
        {"stats", "bytes=0 writes=0 events=0 pings=0 dropped=0 gaps=0 queued=17 max=17 last=0"},
        {"done", "next events=2"},
        {"write", e("3") + e("4")},
        {"done", "next events=2"},
        {"write", e("5") + e("9")},
        {"done", "next events=2"},
        {"stats", "bytes=102 writes=3 events=6 pings=0 dropped=0 gaps=0 queued=0 max=17 last=0"}}},
      {"an event larger than the batch bound goes alone; a pending replay holds pings back",
       {.body_framing = close_delimited, .initial_comment = std::nullopt, .max_replay_batch_bytes = 10},
       "",
       {{"start", "started"},
        {"replay 1 2", "ok"},
        {"write", e("1")},
        {"done", "next events=1"},
        {"tick 0", "none"},
        {"write", e("2")},
        {"done", "next events=1"},
        {"tick 0", "ping"},
        {"close", "finishing"},
        {"replay 3", "ignored"},
        {"write", "finish"},
        {"state", "closed"}}},
  });
}

TEST_CASE("stream_writer: graceful close, abort, write errors") {
  run({
      {"close while a write is in flight: the queue, the final retry and the last chunk follow",
       {.initial_comment = std::nullopt},
       "H\r\n\r\n",
       {{"start", "started"},
        {"write", "H\r\n\r\n"},
        {"ev 1", "queued"},
        {"close 5000", "finishing"},
        {"state", "closing"},
        {"ev 2", "ignored"},
        {"ping", "ignored"},
        {"replay 3", "ignored"},
        {"close", "ignored"},
        {"write", "none"},
        {"tick 0", "none"},
        {"done", "next head"},
        {"write", "1e\r\n" + e("1") + "retry: 5000\n\n\r\n0\r\n\r\n"},
        {"done", "finish events=1"},
        {"state", "closed"},
        {"write", "none"},
        {"stats", "bytes=46 writes=2 events=1 pings=0 dropped=0 gaps=0 queued=0 max=17 last=0"}}},
      {"chunked close with nothing queued: the last chunk alone",
       {.initial_comment = std::nullopt},
       "",
       {{"start", "started"}, {"close", "finishing"}, {"write", "0\r\n\r\n"}, {"done", "finish"}, {"state", "closed"}}},
      {"close-delimited close with nothing left: finished without a write; a negative retry is not written",
       {.body_framing = close_delimited, .initial_comment = std::nullopt},
       "",
       {{"start", "started"}, {"close -1", "finishing"}, {"write", "finish"}, {"state", "closed"}}},
      {"close-delimited close with a retry of 0",
       {.body_framing = close_delimited, .initial_comment = std::nullopt},
       "",
       {{"start", "started"},
        {"close 0", "finishing"},
        {"write", "retry: 0\n\n"},
        {"done", "finish"},
        {"stats", "bytes=10 writes=1 events=0 pings=0 dropped=0 gaps=0 queued=0 max=0 last=0"}}},
      {"close before start: closed at once, nothing written",
       {},
       "H\r\n\r\n",
       {{"ev 1", "queued"},
        {"close 1000", "closed"},
        {"state", "closed"},
        {"start", "ignored"},
        {"write", "none"},
        {"abort", "closed"}}},
      {"abort while a write is in flight: its completion is ignored",
       {.body_framing = close_delimited, .initial_comment = std::nullopt},
       "",
       {{"start", "started"},
        {"ev 1", "queued"},
        {"write", e("1")},
        {"ev 2", "queued"},
        {"abort", "open"},
        {"state", "closed"},
        {"write", "none"},
        {"done", "ignored"},
        {"abort", "closed"},
        {"close", "ignored"},
        {"stats", "bytes=17 writes=0 events=0 pings=0 dropped=0 gaps=0 queued=0 max=34 last=0"}}},
      {"the head write fails after 3 bytes: the writer closes and releases the head",
       {},
       "HEAD\r\n\r\n",
       {{"start", "started"},
        {"write", "HEAD\r\n\r\n5\r\n: ok\n\r\n"},
        {"ev 1", "queued"},
        {"fail 3", "failed head"},
        {"state", "closed"},
        {"ev 2", "ignored"},
        {"write", "none"},
        {"stats", "bytes=3 writes=0 events=0 pings=0 dropped=0 gaps=0 queued=0 max=17 last=0"}}},
      {"a later write fails: nothing counted as sent",
       {.body_framing = close_delimited, .initial_comment = std::nullopt},
       "",
       {{"start", "started"},
        {"ev 1", "queued"},
        {"write", e("1")},
        {"fail 0", "failed"},
        {"close", "ignored"},
        {"stats", "bytes=0 writes=0 events=0 pings=0 dropped=0 gaps=0 queued=0 max=17 last=0"}}},
  });
}

TEST_CASE("stream_writer: the buffers are views of the shared events, never copies") {
  stream_writer w({.body_framing = close_delimited, .initial_comment = std::nullopt});
  const auto ev = sse::make_shared_event(e("1"), "e1");
  const auto t = stream_writer::time_point{} + 1h;
  REQUIRE(w.start(t));
  REQUIRE(w.enqueue(ev).status == stream_writer::enqueue_status::queued);
  const auto plan = w.next_write(t);
  REQUIRE(plan.action == stream_writer::write_action::write);
  REQUIRE(plan.buffers.size() == 1);
  CHECK(plan.buffers[0].data() == ev->bytes.data());
  CHECK(plan.size() == 17);
  CHECK(w.is_writing());
  CHECK(w.write_started() == t);
  CHECK(w.write_done({}, 17, t + 1s) ==
        stream_writer::write_outcome{.next = stream_writer::after_write::next, .events = 1});
  CHECK_FALSE(w.is_writing());
  CHECK(w.stats().last_write == t + 1s);
  CHECK(w.enqueue(nullptr) == stream_writer::enqueue_verdict{});  // ignored
}
