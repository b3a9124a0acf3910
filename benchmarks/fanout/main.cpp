// sse-bench-fanout: the fan-out load generator.
//
// Opens N SSE connections (epoll, one or more threads), waits until every one is really subscribed
// (probe events are published until each client has seen one), publishes M events at R per second
// with S-byte payloads through the server's publish endpoint (HTTP/1.1 POST on one keep-alive
// connection, or on P with --publishers P: one request in flight on each, so up to P events in
// flight), and measures for every delivery the latency from publish to receipt: the payload is
// `<seq>:<publish CLOCK_MONOTONIC ns>:<padding>`, read back on the same machine. It counts delivered,
// lost and duplicated events (per (client, seq)), events whose `id:` is not greater than the previous
// one on the same connection, connect time, delivered events per second, the publish rate achieved
// and the server's resident memory per connection (VmRSS of the server process and its descendants,
// from /proc).
//
// Subscribers can be spread over several servers (`--subscribe` given more than once, or a comma
// list of http://HOST:PORT/PATH): client k connects to the (k mod K)-th, publishing stays on --url.
// This measures several instances that share topics (sse-hub --redis) against a single one.
//
// Many topics (`--topics T`): topic j is `<topic>-<j>` (the path's {topic} replaced by it); client k
// subscribes to topic (k div K) mod T, K the number of subscribe targets, so each topic's subscribers
// are spread evenly over the servers (with k mod T, a T that K divides would put each topic on one
// server). Event k is published to a topic drawn from a seeded generator (--seed, reproducible), and
// lost and duplicated are counted per (client, event) over exactly the clients of that event's topic;
// an event on a client of another topic counts as unexpected. Readiness probes go to every topic
// that still has an unprobed client.
//
// Output: a short human summary on stderr and one JSON line per run on stdout (and appended to
// --json FILE). `--report FILE` prints the comparison table of a results file instead.
//
// The client side is deliberately minimal: a chunked decoder and an SSE line scanner that only
// looks at `data:` lines and blank lines; no allocation per event on the hot path.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

using nanos = std::int64_t;

nanos now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<nanos>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void sleep_until_ns(nanos t) noexcept {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(t / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(t % 1'000'000'000);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "sse-bench-fanout: %s\n", msg.c_str());
  std::exit(2);
}

template <class T>
T to_number(std::string_view flag, std::string_view v) {
  T out{};
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc{} || p != v.data() + v.size()) die(std::string(flag) + " takes a number, not '" + std::string(v) + "'");
  return out;
}

constexpr const char* usage = R"(usage: sse-bench-fanout [options]
       sse-bench-fanout --report RESULTS.jsonl [--baseline NAME]

Opens N SSE connections, publishes M events at R/s of S bytes, measures every delivery.
  --url http://HOST:PORT     the server (default http://127.0.0.1:8080)
  --subscribe PATH|URL       subscribe path, {topic} replaced (default /events/{topic}); a full
                             http://HOST:PORT/PATH subscribes on that server instead of --url.
                             Repeatable (or a comma list): client k uses the (k mod K)-th
  --publish PATH             publish path, {topic} replaced (default /publish/{topic})
  --topic NAME               topic (default: a fresh name per run)
  --topics T                 T topics NAME-0 .. NAME-(T-1) (default 1: the topic itself): client k
                             subscribes to topic (k div K) mod T (K: --subscribe targets), each event
                             goes to a random topic (seeded); lost/dup counted per (client, event)
  --seed S                   seed of the events' topics (default 1)
  --clients N                SSE connections (default 1000)
  --events M                 events to publish (default 200)
  --rate R                   events per second (default 50)
  --size S                   payload bytes (default 128)
  --threads T                client threads (default 1)
  --publishers P             publishing connections (default 1), one POST in flight on each: event
                             k goes out at t0 + k/R on the next free connection, so up to P events
                             are in flight (a server that answers slowly no longer caps the rate)
  --connect-concurrency K    connects in flight at once (default 256)
  --server-pid PID           server process: RSS of it and its descendants is measured (repeatable)
  --side-pid PID             a helper of the server (e.g. redis-server): its CPU and RSS are
                             measured and reported apart from the server's (repeatable)
  --side-label NAME          what the side processes are, for the report (default "side processes")
  --label NAME               server name in the output (default "server")
  --json FILE                append the JSON line to FILE as well
  --drain-timeout S          wait this long without progress for missing deliveries (default 10)
  --per-event                print each event's latency p50/max and publish time (diagnosis)
  --report FILE              print the comparison table of a results file; exit 1 if any run lost or
                             duplicated events (the table shows --baseline / peer ratios)
  --baseline NAME            server the ratios are computed for (default sse-hub)
  --free-port                print a free loopback TCP port and exit (for scripts)

Several generator processes (each holds its share of the clients; fd limits are per process):
  --shard I/K                this process is generator I of K (0-based): it holds the clients
                             [N*I/K, N*(I+1)/K) of the run (same targets and topics as one process);
                             generator 0 measures the server (--server-pid, --side-pid) and publishes.
                             Needs --shard-dir, --result and the same --topic/--seed/--clients in all
  --shard-dir DIR            rendezvous files of the K generators (an empty directory per run)
  --result FILE              write this generator's raw figures (exact counts, 1 us histograms)
  --merge FILE...            merge K result files: prints the summary and JSON line of one run
                             (exact totals, percentiles of the merged histograms); --json FILE too
)";

struct options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::vector<std::string> subscribe;  // paths or http:// URLs; empty: /events/{topic}
  std::string publish = "/publish/{topic}";
  std::string topic;
  std::size_t topics = 1;
  std::uint64_t seed = 1;
  std::size_t clients = 1000;
  std::size_t events = 200;
  double rate = 50;
  std::size_t size = 128;
  std::size_t threads = 1;
  std::size_t publishers = 1;
  std::size_t concurrency = 256;
  std::vector<int> pids;
  std::vector<int> side_pids;
  std::string side_label = "side processes";
  std::string label = "server";
  std::string json_file;
  double drain_timeout = 10;
  bool per_event = false;
  std::size_t shard = 0, shards = 1;  // --shard I/K: this process is shard I of K generators
  std::string shard_dir, result_file;  // --shard-dir (rendezvous files), --result (raw figures)
};

std::string replace_topic(std::string s, const std::string& topic) {
  const auto p = s.find("{topic}");
  if (p != std::string::npos) s.replace(p, 7, topic);
  return s;
}

struct http_url {
  std::string host;
  std::uint16_t port = 0;
  std::string path;  // empty when the URL has none
};

/// `[http://]HOST:PORT[/PATH]`.
http_url split_url(std::string_view u, std::string_view flag) {
  if (u.rfind("http://", 0) == 0) u.remove_prefix(7);
  http_url out;
  if (const auto slash = u.find('/'); slash != std::string_view::npos) {
    out.path = std::string(u.substr(slash));
    u = u.substr(0, slash);
  }
  const auto colon = u.rfind(':');
  if (colon == std::string_view::npos) die(std::string(flag) + " needs http://HOST:PORT");
  out.host = std::string(u.substr(0, colon));
  out.port = to_number<std::uint16_t>(std::string(flag) + " port", u.substr(colon + 1));
  return out;
}

sockaddr_in resolve(const std::string& host, std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addrinfo hints{};
  hints.ai_family = AF_INET;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || !res) die("cannot resolve " + host);
  addr.sin_addr = reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr;
  freeaddrinfo(res);
  return addr;
}

// ---------------------------------------------------------------- server memory (/proc)

long rss_kib_of(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return 0;
}

/// `roots` and all their descendants (nginx: master + workers), from /proc/<pid>/stat.
std::vector<int> process_tree(const std::vector<int>& roots) {
  std::multimap<int, int> children;
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      std::ifstream f(std::string("/proc/") + e->d_name + "/stat");
      std::string stat;
      std::getline(f, stat);
      const auto rp = stat.rfind(')');
      if (rp == std::string::npos) continue;
      std::istringstream rest(stat.substr(rp + 2));
      char st;
      int ppid;
      if (rest >> st >> ppid) children.emplace(ppid, std::atoi(e->d_name));
    }
    closedir(d);
  }
  std::set<int> seen;
  std::vector<int> todo(roots), out;
  while (!todo.empty()) {
    const int p = todo.back();
    todo.pop_back();
    if (!seen.insert(p).second) continue;
    out.push_back(p);
    auto [a, b] = children.equal_range(p);
    for (auto it = a; it != b; ++it) todo.push_back(it->second);
  }
  return out;
}

/// VmRSS (KiB) summed over `roots` and their descendants.
long tree_rss_kib(const std::vector<int>& roots) {
  long total = 0;
  for (const int p : process_tree(roots)) total += rss_kib_of(p);
  return total;
}

/// CPU time (user + system, seconds) of `roots` and their descendants.
double tree_cpu_s(const std::vector<int>& roots) {
  static const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  double total = 0;
  for (const int p : process_tree(roots)) {
    std::ifstream f("/proc/" + std::to_string(p) + "/stat");
    std::string stat;
    std::getline(f, stat);
    const auto rp = stat.rfind(')');
    if (rp == std::string::npos) continue;
    std::istringstream rest(stat.substr(rp + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {  // fields 14 and 15: utime, stime
      if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
      if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
    }
    total += static_cast<double>(utime + stime) / tick;
  }
  return total;
}

double self_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// ---------------------------------------------------------------- subscribers

enum class cstate : std::uint8_t { idle, connecting, head, body, closed };
enum class chunk_state : std::uint8_t { size, ext, data, crlf };

struct conn {
  int fd = -1;
  cstate state = cstate::idle;
  bool chunked = false;
  chunk_state cs = chunk_state::size;
  std::uint8_t crlf_left = 0;
  bool probed = false;
  bool pending = false;
  bool has_id = false;  // the event being read has an id: line (pend_id)
  std::uint8_t attempts = 0;
  std::uint32_t pend_seq = 0;
  nanos pend_ts = 0;
  std::uint64_t chunk_left = 0;
  nanos t_start = 0;
  std::string carry;  // a partial response head or a partial line
  std::string pend_id, last_id;  // the id of the event being read; of the previous event with one
};

/// Orders two event ids the way servers assign them: runs of digits compare as numbers, everything
/// else must be equal (`17-2` < `17-10` < `18-0`; sse-hub's `<hex>-<n>`, Redis's `<ms>-<seq>`,
/// nchan's `<time>:<tag>`, plain counters). -1, 0, 1; 2 when they have different shapes.
int compare_ids(std::string_view a, std::string_view b) noexcept {
  auto digit = [](char ch) { return ch >= '0' && ch <= '9'; };
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      while (i + 1 < a.size() && a[i] == '0' && digit(a[i + 1])) ++i;  // leading zeros
      while (j + 1 < b.size() && b[j] == '0' && digit(b[j + 1])) ++j;
      std::size_t ie = i, je = j;
      while (ie < a.size() && digit(a[ie])) ++ie;
      while (je < b.size() && digit(b[je])) ++je;
      if (ie - i != je - j) return ie - i < je - j ? -1 : 1;
      if (const int c = a.substr(i, ie - i).compare(b.substr(j, je - j)); c != 0) return c < 0 ? -1 : 1;
      i = ie;
      j = je;
    } else if (a[i] == b[j]) {
      ++i;
      ++j;
    } else {
      return 2;
    }
  }
  return i == a.size() && j == b.size() ? 0 : 2;
}

struct worker_stats {
  std::uint64_t delivered = 0, duplicated = 0, unexpected = 0, disconnects = 0, bad_status = 0, connect_errors = 0,
                connect_retries = 0, failed = 0, parse_errors = 0, id_out_of_order = 0;
};

/// A server the subscribers connect to: its address and the GET of each topic.
struct target {
  std::string url;  // for messages: http://HOST:PORT/PATH with {topic} replaced (the first topic)
  sockaddr_in addr{};
  std::vector<std::string> requests;  // by topic index
};

/// splitmix64: the events' topics, the same for a seed on every machine and library.
std::uint64_t splitmix64(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

struct worker {
  const options* opt = nullptr;
  const std::vector<target>* targets = nullptr;
  const std::vector<std::uint32_t>* event_topic = nullptr;  // by seq (--topics)
  std::vector<std::atomic<std::uint32_t>>* topic_probed = nullptr;  // clients probed, by topic
  std::size_t first = 0;  // global index of conns[0]: conns[i] subscribes on target (first + i) mod K
  std::vector<conn> conns;
  std::vector<std::uint8_t> seen;  // conns.size() * events: times each (client, seq) arrived
  std::vector<nanos> lat;          // publish-to-receipt, one per delivery
  std::vector<std::uint32_t> lat_seq;  // the seq of each delivery (--per-event only)
  std::vector<std::uint8_t> lat_tgt;   // the target of each delivery (several targets only)
  std::vector<nanos> connect_lat;  // connect() to response head
  worker_stats st;
  std::atomic<std::size_t> opened{0}, probed{0}, delivered{0}, settled{0};
  std::atomic<nanos> last_recv{0};
  std::atomic<bool>* stop = nullptr;
  std::thread th;

  int ep = -1;
  std::size_t next = 0, in_flight = 0;
  std::vector<std::size_t> retry;
  std::vector<char> buf = std::vector<char>(std::size_t{256} << 10);

  void run() {
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1 failed");
    std::vector<epoll_event> evs(1024);
    while (!stop->load(std::memory_order_relaxed)) {
      start_connects();
      const int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 5);
      for (int i = 0; i < n; ++i) handle(evs[static_cast<std::size_t>(i)]);
    }
    for (auto& c : conns)
      if (c.fd >= 0) ::close(c.fd);
    ::close(ep);
  }

  std::size_t target_index(std::size_t i) const noexcept { return (first + i) % targets->size(); }
  const target& target_of(std::size_t i) const noexcept { return (*targets)[target_index(i)]; }
  /// The topic of conns[i] (--topics): (global index div K) mod T.
  std::size_t topic_index(std::size_t i) const noexcept { return (first + i) / targets->size() % opt->topics; }

  void start_connects() {
    while (in_flight < opt->concurrency && (!retry.empty() || next < conns.size())) {
      std::size_t i;
      if (!retry.empty()) {
        i = retry.back();
        retry.pop_back();
      } else {
        i = next++;
      }
      start_connect(i);
    }
  }

  void start_connect(std::size_t i) {
    conn& c = conns[i];
    const std::uint8_t attempts = c.attempts;
    c = conn();
    c.attempts = attempts;
    c.t_start = now_ns();
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) die(std::string("socket: ") + std::strerror(errno) + " (raise the open-file limit)");
    ++in_flight;
    const sockaddr_in& addr = target_of(i).addr;
    const int r = ::connect(c.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    if (r < 0 && errno != EINPROGRESS) {
      fail(i);
      return;
    }
    c.state = cstate::connecting;
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
  }

  /// A connect or head that failed: retried a few times, then counted as failed.
  void fail(std::size_t i) {
    conn& c = conns[i];
    ::close(c.fd);
    c.fd = -1;
    c.state = cstate::closed;
    --in_flight;
    ++st.connect_errors;
    if (++c.attempts < 5) {
      ++st.connect_retries;
      retry.push_back(i);
    } else {
      ++st.failed;
      settled.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void handle(const epoll_event& ev) {
    const std::size_t i = ev.data.u64;
    conn& c = conns[i];
    if (c.state == cstate::connecting) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0 || (ev.events & (EPOLLERR | EPOLLHUP))) return fail(i);
      const std::string& request = target_of(i).requests[topic_index(i)];
      const ssize_t w = ::send(c.fd, request.data(), request.size(), MSG_NOSIGNAL);
      if (w != static_cast<ssize_t>(request.size())) return fail(i);
      c.state = cstate::head;
      epoll_event e{};
      e.events = EPOLLIN;
      e.data.u64 = i;
      epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &e);
      return;
    }
    if (c.state == cstate::closed) return;
    const ssize_t n = ::read(c.fd, buf.data(), buf.size());
    const nanos t = now_ns();
    if (n <= 0) {
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      if (c.state == cstate::head) return fail(i);
      ++st.disconnects;
      epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
      c.fd = -1;
      c.state = cstate::closed;
      return;
    }
    const std::uint64_t before = st.delivered;
    const char* p = buf.data();
    std::size_t len = static_cast<std::size_t>(n);
    if (c.state == cstate::head) {
      c.carry.append(p, len);
      const auto end = c.carry.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (c.carry.size() > 16384) return fail(i);
        return;
      }
      std::string head = c.carry.substr(0, end + 4);
      std::string rest = c.carry.substr(end + 4);
      c.carry.clear();
      if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0 || head.compare(9, 3, "200") != 0) {
        ++st.bad_status;
        return fail(i);
      }
      std::transform(head.begin(), head.end(), head.begin(), [](unsigned char ch) { return std::tolower(ch); });
      c.chunked = head.find("transfer-encoding: chunked") != std::string::npos;
      c.state = cstate::body;
      --in_flight;
      connect_lat.push_back(t - c.t_start);
      opened.fetch_add(1, std::memory_order_relaxed);
      settled.fetch_add(1, std::memory_order_relaxed);
      if (!rest.empty()) body(i, rest.data(), rest.size(), t);
    } else {
      body(i, p, len, t);
    }
    if (st.delivered != before) {
      delivered.store(st.delivered, std::memory_order_relaxed);
      last_recv.store(t, std::memory_order_relaxed);
    }
  }

  void body(std::size_t i, const char* p, std::size_t n, nanos t) {
    conn& c = conns[i];
    if (!c.chunked) return lines(i, p, n, t);
    while (n > 0) {
      switch (c.cs) {
        case chunk_state::size: {
          const char ch = *p;
          int d = -1;
          if (ch >= '0' && ch <= '9') d = ch - '0';
          else if (ch >= 'a' && ch <= 'f') d = ch - 'a' + 10;
          else if (ch >= 'A' && ch <= 'F') d = ch - 'A' + 10;
          if (d >= 0) {
            c.chunk_left = c.chunk_left * 16 + static_cast<std::uint64_t>(d);
          } else if (ch == '\n') {
            c.cs = c.chunk_left == 0 ? chunk_state::size : chunk_state::data;  // 0: the stream ended
          } else {
            c.cs = chunk_state::ext;
          }
          ++p;
          --n;
          break;
        }
        case chunk_state::ext: {
          const void* lf = std::memchr(p, '\n', n);
          if (!lf) return;
          const std::size_t k = static_cast<std::size_t>(static_cast<const char*>(lf) - p) + 1;
          p += k;
          n -= k;
          c.cs = c.chunk_left == 0 ? chunk_state::size : chunk_state::data;
          break;
        }
        case chunk_state::data: {
          const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(c.chunk_left, n));
          lines(i, p, k, t);
          p += k;
          n -= k;
          c.chunk_left -= k;
          if (c.chunk_left == 0) {
            c.cs = chunk_state::crlf;
            c.crlf_left = 2;
          }
          break;
        }
        case chunk_state::crlf:
          if (*p == '\n' || --c.crlf_left == 0) c.cs = chunk_state::size;
          ++p;
          --n;
          break;
      }
    }
  }

  void lines(std::size_t i, const char* p, std::size_t n, nanos t) {
    conn& c = conns[i];
    while (n > 0) {
      const void* lf = std::memchr(p, '\n', n);
      if (!lf) {
        c.carry.append(p, n);
        if (c.carry.size() > (std::size_t{1} << 20)) ++st.parse_errors, c.carry.clear();
        return;
      }
      const std::size_t k = static_cast<std::size_t>(static_cast<const char*>(lf) - p);
      if (c.carry.empty()) {
        line(i, std::string_view(p, k), t);
      } else {
        c.carry.append(p, k);
        line(i, c.carry, t);
        c.carry.clear();
      }
      p += k + 1;
      n -= k + 1;
    }
  }

  void line(std::size_t i, std::string_view l, nanos t) {
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    conn& c = conns[i];
    if (l.empty()) {
      if (c.has_id) {  // the server assigns ids in arrival order: each client must see them increase
        c.has_id = false;
        if (!c.last_id.empty()) {
          const int order = compare_ids(c.last_id, c.pend_id);
          if (order == 0 || order == 1) ++st.id_out_of_order;
        }
        c.last_id.swap(c.pend_id);
      }
      if (c.pending) {
        c.pending = false;
        record(i, c.pend_seq, c.pend_ts, t);
      }
      return;
    }
    if (l.size() >= 3 && std::memcmp(l.data(), "id:", 3) == 0) {
      l.remove_prefix(3);
      if (!l.empty() && l.front() == ' ') l.remove_prefix(1);
      c.pend_id.assign(l.data(), l.size());
      c.has_id = true;
      return;
    }
    if (l.size() < 5 || std::memcmp(l.data(), "data:", 5) != 0) return;  // comments, event:, retry:
    l.remove_prefix(5);
    if (!l.empty() && l.front() == ' ') l.remove_prefix(1);
    if (!l.empty() && l.front() == 'p') {  // a readiness probe
      if (!c.probed) {
        c.probed = true;
        probed.fetch_add(1, std::memory_order_relaxed);
        (*topic_probed)[topic_index(i)].fetch_add(1, std::memory_order_relaxed);
      }
      return;
    }
    std::uint32_t seq = 0;
    nanos ts = 0;
    auto r1 = std::from_chars(l.data(), l.data() + l.size(), seq);
    if (r1.ec != std::errc{} || r1.ptr == l.data() + l.size() || *r1.ptr != ':') {
      ++st.parse_errors;
      return;
    }
    auto r2 = std::from_chars(r1.ptr + 1, l.data() + l.size(), ts);
    if (r2.ec != std::errc{}) {
      ++st.parse_errors;
      return;
    }
    c.pending = true;
    c.pend_seq = seq;
    c.pend_ts = ts;
  }

  void record(std::size_t i, std::uint32_t seq, nanos ts, nanos t) {
    if (seq >= opt->events || (*event_topic)[seq] != topic_index(i)) {  // not this client's topic
      ++st.unexpected;
      return;
    }
    std::uint8_t& s = seen[i * opt->events + seq];
    if (s != 0) ++st.duplicated;
    if (s < 255) ++s;
    ++st.delivered;
    lat.push_back(t - ts);
    if (opt->per_event) lat_seq.push_back(seq);
    if (targets->size() > 1) lat_tgt.push_back(static_cast<std::uint8_t>(target_index(i)));
  }
};

// ---------------------------------------------------------------- publisher

class publisher {
 public:
  publisher(sockaddr_in addr, std::string host) : addr_(addr), host_(std::move(host)) {}
  ~publisher() {
    if (fd_ >= 0) ::close(fd_);
  }

  /// POSTs `body` to `path`; returns the HTTP status (0 on a transport error).
  int post(const std::string& path, const std::string& body) {
    ensure();
    req_.clear();
    req_ += "POST ";
    req_ += path;
    req_ += " HTTP/1.1\r\nHost: ";
    req_ += host_;
    req_ += "\r\nContent-Type: text/plain\r\nContent-Length: ";
    req_ += std::to_string(body.size());
    req_ += "\r\n\r\n";
    req_ += body;
    if (!send_all(req_)) {  // the server closed an idle keep-alive connection: one new attempt
      reconnect();
      if (!send_all(req_)) return 0;
    }
    return read_response();
  }

  /// Connects now (when not connected), so the first post() does not pay for the connect.
  void open() { ensure(); }

 private:
  void reconnect() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_) != 0)
      die(std::string("publisher: connect: ") + std::strerror(errno));
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{.tv_sec = 30, .tv_usec = 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    in_.clear();
  }

  /// Reconnects when the server closed the keep-alive connection meanwhile.
  void ensure() {
    if (fd_ >= 0) {
      char b;
      const ssize_t r = ::recv(fd_, &b, 1, MSG_PEEK | MSG_DONTWAIT);
      if (r > 0 || (r < 0 && errno == EAGAIN)) return;
    }
    reconnect();
  }

  bool send_all(const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      const ssize_t w = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (w <= 0) {
        if (w < 0 && errno == EINTR) continue;
        return false;
      }
      off += static_cast<std::size_t>(w);
    }
    return true;
  }

  bool fill() {
    char b[4096];
    const ssize_t r = ::recv(fd_, b, sizeof b, 0);
    if (r <= 0) return false;
    in_.append(b, static_cast<std::size_t>(r));
    return true;
  }

  int read_response() {
    std::size_t end;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return 0;
    std::string head = in_.substr(0, end + 4);
    in_.erase(0, end + 4);
    int status = 0;
    if (head.size() > 12) status = std::atoi(head.c_str() + 9);
    std::transform(head.begin(), head.end(), head.begin(), [](unsigned char ch) { return std::tolower(ch); });
    const bool close_after = head.find("connection: close") != std::string::npos;
    if (const auto cl = head.find("content-length:"); cl != std::string::npos) {
      const std::size_t n = std::strtoul(head.c_str() + cl + 15, nullptr, 10);
      while (in_.size() < n)
        if (!fill()) return 0;
      in_.erase(0, n);
    } else if (head.find("transfer-encoding: chunked") != std::string::npos) {
      for (;;) {
        std::size_t lf;
        while ((lf = in_.find("\r\n")) == std::string::npos)
          if (!fill()) return 0;
        const std::size_t n = std::strtoul(in_.c_str(), nullptr, 16);
        while (in_.size() < lf + 2 + n + 2)
          if (!fill()) return 0;
        in_.erase(0, lf + 2 + n + 2);
        if (n == 0) break;
      }
    }
    if (close_after) {
      ::close(fd_);
      fd_ = -1;
    }
    return status;
  }

  sockaddr_in addr_;
  std::string host_;
  int fd_ = -1;
  std::string req_, in_;
};

// ---------------------------------------------------------------- statistics and output

double pct(std::vector<nanos>& v, double p) {
  if (v.empty()) return 0;
  const double rank = std::ceil(p / 100.0 * static_cast<double>(v.size()));
  const std::size_t k = std::min(v.size() - 1, rank < 1 ? std::size_t{0} : static_cast<std::size_t>(rank) - 1);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1e6;  // ms
}

struct json_writer {
  std::string s = "{";
  void sep() {
    if (s.size() > 1) s += ',';
  }
  void str(const char* k, const std::string& v) {
    sep();
    s += '"';
    s += k;
    s += "\":\"";
    for (char ch : v)
      if (ch != '"' && ch != '\\') s += ch;
    s += '"';
  }
  void num(const char* k, double v) {
    sep();
    char b[64];
    if (std::floor(v) == v && std::fabs(v) < 1e15) std::snprintf(b, sizeof b, "\"%s\":%.0f", k, v);
    else std::snprintf(b, sizeof b, "\"%s\":%.4g", k, v);
    s += b;
  }
  void boolean(const char* k, bool v) {
    sep();
    s += '"';
    s += k;
    s += "\":";
    s += v ? "true" : "false";
  }
  std::string done() { return s + "}"; }
};

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

// ---------------------------------------------------------------- the report (--report)

using record_t = std::map<std::string, std::string>;

record_t parse_flat_json(const std::string& line) {
  record_t r;
  std::size_t i = 0;
  auto skip_ws = [&] {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  };
  auto read_string = [&]() {
    std::string out;
    ++i;  // opening quote
    while (i < line.size() && line[i] != '"') {
      if (line[i] == '\\' && i + 1 < line.size()) ++i;
      out += line[i++];
    }
    ++i;
    return out;
  };
  skip_ws();
  if (i >= line.size() || line[i] != '{') return r;
  ++i;
  for (;;) {
    skip_ws();
    if (i >= line.size() || line[i] == '}') break;
    if (line[i] == ',') {
      ++i;
      continue;
    }
    if (line[i] != '"') break;
    std::string key = read_string();
    skip_ws();
    if (i >= line.size() || line[i] != ':') break;
    ++i;
    skip_ws();
    std::string val;
    if (i < line.size() && line[i] == '"') {
      val = read_string();
    } else {
      while (i < line.size() && line[i] != ',' && line[i] != '}') val += line[i++];
    }
    r[key] = val;
  }
  return r;
}

double num(const record_t& r, const char* k) {
  auto it = r.find(k);
  return it == r.end() ? std::nan("") : std::strtod(it->second.c_str(), nullptr);
}

std::string fmt_num(double v, int prec = 2) {
  if (std::isnan(v)) return "-";
  char b[32];
  if (std::fabs(v) >= 100000) std::snprintf(b, sizeof b, "%.0f", v);
  else if (std::fabs(v) >= 100) std::snprintf(b, sizeof b, "%.0f", v);
  else std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

std::string fmt_size(double bytes) {
  if (std::isnan(bytes)) return "-";
  if (bytes >= 1024 && std::fmod(bytes, 1024) == 0) return fmt_num(bytes / 1024, 0) + "K";
  return fmt_num(bytes, 0);
}

std::string fmt_ratio(double a, double b) {
  if (std::isnan(a) || std::isnan(b) || b == 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", a / b);
  return buf;
}

int report(const std::string& file, const std::string& baseline) {
  std::ifstream f(file);
  if (!f) die("cannot read " + file);
  std::vector<record_t> recs;
  std::string line;
  while (std::getline(f, line))
    if (!line.empty() && line[0] == '{') recs.push_back(parse_flat_json(line));
  // Cells in order of first appearance. A server run several times in a cell (run.sh --repeat) is
  // shown as the median of each figure; lost and duplicated are summed over its runs.
  std::vector<std::string> cells;
  std::map<std::string, std::vector<std::vector<record_t>>> runs_by_cell;
  for (auto& r : recs) {
    std::string key = r["clients"] + "/" + r["events"] + "/" + r["rate"] + "/" + r["size"];
    if (r.count("publishers") && r["publishers"] != "1") key += "/p" + r["publishers"];  // its own cell
    if (r.count("topics")) key += "/T" + r["topics"];  // many topics (--topics): its own cell too
    if (!runs_by_cell.count(key)) cells.push_back(key);
    auto& v = runs_by_cell[key];
    auto it = std::find_if(v.begin(), v.end(), [&](const auto& o) { return o.front().at("server") == r["server"]; });
    if (it != v.end()) it->push_back(r);
    else v.push_back({r});
  }
  std::map<std::string, std::vector<record_t>> by_cell;
  for (auto& [key, servers] : runs_by_cell) {
    for (auto& runs : servers) {
      record_t m = runs.back();
      m["runs"] = std::to_string(runs.size());
      if (runs.size() > 1) {
        for (auto& [k, v] : m) {
          if (k == "server" || k == "time" || k == "valid" || k == "runs" || k == "side_label" || k == "topics" ||
              k == "seed")
            continue;
          std::vector<double> xs;
          for (auto& r : runs) xs.push_back(num(r, k.c_str()));
          if (k == "lost" || k == "duplicated" || k == "unexpected" || k == "id_out_of_order") {
            double sum = 0;
            for (double x : xs) sum += x;
            v = fmt_num(sum, 0);
            continue;
          }
          std::sort(xs.begin(), xs.end());
          const std::size_t n = xs.size();
          const double med = n % 2 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
          char b[64];
          std::snprintf(b, sizeof b, "%.6g", med);
          v = b;
        }
        bool all_valid = true;
        for (auto& r : runs) all_valid = all_valid && r["valid"] == "true";
        m["valid"] = all_valid ? "true" : "false";
      }
      by_cell[key].push_back(std::move(m));
    }
  }
  struct column {
    const char* title;
    const char* key;
    int width;
    int prec;
  };
  std::vector<column> cols = {
      {"p50 ms", "lat_p50_ms", 8, 2},        {"p90 ms", "lat_p90_ms", 8, 2},          {"p99 ms", "lat_p99_ms", 8, 2},
      {"max ms", "lat_max_ms", 8, 2},        {"deliv/s", "deliveries_per_s", 9, 0},   {"KiB/conn", "mem_per_conn_kib", 9, 2},
      {"conn s", "connect_s", 7, 2},        {"cpu us/d", "server_cpu_us_per_delivery", 9, 2},
  };
  // Results written since --publishers existed also show the publishing connections and the publish
  // rate achieved (older files print as they always did).
  bool with_pub = false;
  for (auto& r : recs) with_pub = with_pub || r.count("publishers");
  if (with_pub) {
    cols.push_back({"pubs", "publishers", 4, 0});
    cols.push_back({"pub/s", "publish_rate", 7, 1});
  }
  // A server named "<baseline>-..." (sse-hub-redis2) is a variant of the baseline: its ratio line is
  // variant / baseline ("what the variant costs"), where a peer's is baseline / peer.
  auto is_variant = [&](const std::string& server) { return server.rfind(baseline + "-", 0) == 0; };
  auto ratio_label = [&](const std::string& server) {
    return is_variant(server) ? server + "/" + baseline : baseline + "/" + server;
  };
  int lw = 13;  // the server column: wider only when a name needs it
  bool any_variant = false, any_side = false;
  for (auto& [key, v] : by_cell)
    for (auto& r : v) {
      lw = std::max(lw, static_cast<int>(r["server"].size()));
      if (r["server"] != baseline) lw = std::max(lw, static_cast<int>(ratio_label(r["server"]).size()));
      any_variant = any_variant || is_variant(r["server"]);
      any_side = any_side || r.count("side_cpu_us_per_delivery");
    }
  bool with_topics = false;  // results with --topics show a T column (topics) after S
  for (auto& r : recs) with_topics = with_topics || r.count("topics");
  const auto topics_of = [](const record_t& r) { return r.count("topics") ? r.at("topics") : std::string("1"); };
  std::printf("%6s %5s %4s %4s  ", "N", "M", "R/s", "S");
  if (with_topics) std::printf("%6s  ", "T");
  std::printf("%-*s", lw, "server");
  for (auto& c : cols) std::printf(" %*s", c.width, c.title);
  std::printf(" %7s %5s %4s %4s\n", "lost", "dup", "ok", "runs");
  int bad = 0, bad_order = 0;
  for (auto& key : cells) {
    auto& v = by_cell[key];
    const record_t* base = nullptr;
    for (auto& r : v)
      if (r.at("server") == baseline) base = &r;
    bool first = true;
    for (auto& r : v) {
      if (first)
        std::printf("%6s %5s %4s %4s  ", r["clients"].c_str(), r["events"].c_str(), fmt_num(num(r, "rate"), std::floor(num(r, "rate")) == num(r, "rate") ? 0 : 1).c_str(),
                    fmt_size(num(r, "size")).c_str());
      else
        std::printf("%6s %5s %4s %4s  ", "", "", "", "");
      if (with_topics) std::printf("%6s  ", first ? topics_of(r).c_str() : "");
      first = false;
      std::printf("%-*s", lw, r["server"].c_str());
      for (auto& c : cols) std::printf(" %*s", c.width, fmt_num(num(r, c.key), c.prec).c_str());
      const bool ok = r["valid"] == "true";
      if (num(r, "lost") > 0 || num(r, "duplicated") > 0) ++bad;
      if (num(r, "id_out_of_order") > 0) ++bad_order;
      std::printf(" %7s %5s %4s %4s\n", fmt_num(num(r, "lost"), 0).c_str(), fmt_num(num(r, "duplicated"), 0).c_str(),
                  ok ? "yes" : "NO", r["runs"].c_str());
      if (r.count("side_cpu_us_per_delivery"))
        std::printf("%6s %5s %4s %4s    + %s (not in the row above): cpu us/d %s, RSS %s MiB at the end\n", "", "",
                    "", "", r.count("side_label") ? r["side_label"].c_str() : "side processes",
                    fmt_num(num(r, "side_cpu_us_per_delivery"), 2).c_str(),
                    fmt_num(num(r, "side_rss_end_kib") / 1024, 1).c_str());
    }
    if (!base) continue;
    for (auto& r : v) {
      if (&r == base) continue;
      const bool variant = is_variant(r["server"]);
      std::printf("%6s %5s %4s %4s  %s%-*s", "", "", "", "", with_topics ? "        " : "", lw, ratio_label(r["server"]).c_str());
      for (auto& c : cols)
        std::printf(" %*s", c.width,
                    std::string_view(c.key) == "publishers" ? ""
                    : variant ? fmt_ratio(num(r, c.key), num(*base, c.key)).c_str()
                              : fmt_ratio(num(*base, c.key), num(r, c.key)).c_str());
      std::printf("\n");
    }
  }
  std::printf("cpu us/d: server CPU time (user + system) per delivery while publishing and draining.\n"
              "ratios: %s's figure divided by the peer's (deliv/s%s: higher is better; every other figure: lower "
              "is better)\n",
              baseline.c_str(), with_pub ? ", pub/s" : "");
  if (with_pub)
    std::printf("pubs: publishing connections (--publishers); pub/s: events per second the publisher achieved "
                "(R/s is what it asked for)\n");
  if (any_variant)
    std::printf("%s-*/%s: the variant's figure divided by %s's, measured in the same run (what the variant "
                "costs)\n",
                baseline.c_str(), baseline.c_str(), baseline.c_str());
  if (any_side)
    std::printf("+ lines: helper processes (--side-pid) measured apart; not included in that row's cpu us/d or "
                "KiB/conn\n");
  if (bad) std::printf("%d run(s) lost or duplicated events\n", bad);
  if (bad_order) std::printf("%d run(s) delivered event ids out of order (not increasing on a connection)\n", bad_order);
  return bad || bad_order ? 1 : 0;
}

// ---------------------------------------------------------------- several generator processes

// A run can be split over K cooperating processes (--shard I/K --shard-dir DIR --result FILE): shard
// I holds the global clients [N*I/K, N*(I+1)/K) (so each client keeps its target and topic of a
// single-process run), probes its own topics, and writes its raw figures to FILE; shard 0 alone
// measures the server, publishes and records the publish side. They meet through files in DIR:
// `start` (shard 0 measured the server's RSS before any connect), `ready.I` (shard I's clients are
// all subscribed: "opened probed"), `published` (shard 0 sent the last event), `done.I` (shard I
// drained). --merge FILE... adds the shards' exact counts and merges their latency histograms
// (1 µs buckets, exact counts) into the same summary and JSON line as one process prints.

using histogram = std::map<std::int64_t, std::uint64_t>;  // µs -> deliveries

histogram to_histogram(const std::vector<nanos>& v) {
  histogram h;
  for (const nanos x : v) ++h[x / 1000];
  return h;
}

/// The same rank as pct() (ceil(p/100 n), nearest rank), read from a histogram; ms.
double hist_pct(const histogram& h, double p) {
  std::uint64_t n = 0;
  for (const auto& [us, c] : h) n += c;
  if (n == 0) return 0;
  const double rank = std::ceil(p / 100.0 * static_cast<double>(n));
  const std::uint64_t k = std::min<std::uint64_t>(n - 1, rank < 1 ? 0 : static_cast<std::uint64_t>(rank) - 1);
  std::uint64_t seen = 0;
  for (const auto& [us, c] : h) {
    seen += c;
    if (seen > k) return static_cast<double>(us) / 1e3;
  }
  return static_cast<double>(h.rbegin()->first) / 1e3;
}

std::uint64_t hist_count(const histogram& h) {
  std::uint64_t n = 0;
  for (const auto& [us, c] : h) n += c;
  return n;
}

struct target_summary {
  std::string url;
  std::size_t clients = 0, delivered = 0, lost = 0;
  double p50 = 0, p99 = 0;
};

/// Everything one run prints: from one process's raw figures, or merged from K shards' files.
struct summary {
  std::string label;
  std::size_t clients = 0, topics = 1, events = 0, size = 0, threads = 1, publishers = 1, generators = 1;
  std::uint64_t seed = 1;
  double rate = 0;
  std::size_t opened = 0, probes = 0, probed = 0, expected = 0, lost = 0;
  worker_stats st;
  int pub_errors = 0;
  double connect_s = 0, connect_p99_ms = 0;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
  double deliveries_per_s = 0, span_s = 0, pub_rate = 0, publish_s = 0, rtt_p50 = 0, rtt_p99 = 0;
  double server_cpu = 0, client_cpu = 0, mem_per_conn = 0;
  long rss_before = 0, rss_idle = 0, rss_end = 0;
  bool side = false;
  std::string side_label;
  double side_cpu = 0;
  long side_rss_before = 0, side_rss_idle = 0, side_rss_end = 0;
  std::vector<target_summary> targets;  // several subscribe targets only
  bool valid = false;
};

/// Prints the human summary (stderr) and the JSON line (stdout, appended to json_file); 0 when valid.
int emit(const summary& s, const std::string& json_file) {
  json_writer j;
  j.str("server", s.label);
  j.num("clients", static_cast<double>(s.clients));
  j.num("events", static_cast<double>(s.events));
  j.num("rate", s.rate);
  j.num("size", static_cast<double>(s.size));
  j.num("threads", static_cast<double>(s.threads));
  j.num("publishers", static_cast<double>(s.publishers));
  if (s.generators > 1) j.num("generators", static_cast<double>(s.generators));
  if (s.topics > 1) {
    j.num("topics", static_cast<double>(s.topics));
    j.num("seed", static_cast<double>(s.seed));
  }
  j.num("connected", static_cast<double>(s.opened));
  j.num("connect_errors", static_cast<double>(s.st.connect_errors));
  j.num("connect_s", s.connect_s);
  j.num("connect_p99_ms", s.connect_p99_ms);
  j.num("probes", static_cast<double>(s.probes));
  j.num("probed", static_cast<double>(s.probed));
  j.num("expected", static_cast<double>(s.expected));
  j.num("delivered", static_cast<double>(s.st.delivered));
  j.num("lost", static_cast<double>(s.lost));
  j.num("duplicated", static_cast<double>(s.st.duplicated));
  j.num("unexpected", static_cast<double>(s.st.unexpected));
  j.num("id_out_of_order", static_cast<double>(s.st.id_out_of_order));
  j.num("disconnects", static_cast<double>(s.st.disconnects));
  j.num("publish_errors", s.pub_errors);
  j.num("lat_p50_ms", s.p50);
  j.num("lat_p90_ms", s.p90);
  j.num("lat_p99_ms", s.p99);
  j.num("lat_p999_ms", s.p999);
  j.num("lat_max_ms", s.max);
  j.num("deliveries_per_s", std::round(s.deliveries_per_s));
  j.num("delivery_span_s", s.span_s);
  j.num("publish_rate", s.pub_rate);
  j.num("publish_s", s.publish_s);
  j.num("publish_rtt_p50_ms", s.rtt_p50);
  j.num("publish_rtt_p99_ms", s.rtt_p99);
  j.num("server_cpu_s", s.server_cpu);
  j.num("client_cpu_s", s.client_cpu);
  j.num("server_cpu_us_per_delivery", s.st.delivered ? s.server_cpu * 1e6 / static_cast<double>(s.st.delivered) : 0);
  j.num("rss_before_kib", static_cast<double>(s.rss_before));
  j.num("rss_idle_kib", static_cast<double>(s.rss_idle));
  j.num("rss_end_kib", static_cast<double>(s.rss_end));
  j.num("mem_per_conn_kib", std::round(s.mem_per_conn * 100) / 100);
  if (s.side) {  // a helper (redis-server): not included in the server's figures above
    j.str("side_label", s.side_label);
    j.num("side_cpu_s", s.side_cpu);
    j.num("side_cpu_us_per_delivery", s.st.delivered ? s.side_cpu * 1e6 / static_cast<double>(s.st.delivered) : 0);
    j.num("side_rss_before_kib", static_cast<double>(s.side_rss_before));
    j.num("side_rss_idle_kib", static_cast<double>(s.side_rss_idle));
    j.num("side_rss_end_kib", static_cast<double>(s.side_rss_end));
  }
  if (s.targets.size() > 1) {  // subscribers spread over several servers: figures per server
    j.num("targets", static_cast<double>(s.targets.size()));
    for (std::size_t k = 0; k < s.targets.size(); ++k) {
      const std::string p = "t" + std::to_string(k) + "_";
      j.num((p + "clients").c_str(), static_cast<double>(s.targets[k].clients));
      j.num((p + "delivered").c_str(), static_cast<double>(s.targets[k].delivered));
      j.num((p + "lost").c_str(), static_cast<double>(s.targets[k].lost));
      j.num((p + "lat_p50_ms").c_str(), s.targets[k].p50);
      j.num((p + "lat_p99_ms").c_str(), s.targets[k].p99);
    }
  }
  j.boolean("valid", s.valid);
  j.str("time", utc_now());
  const std::string line = j.done();

  std::fprintf(stderr,
               "[%s] N=%zu T=%zu M=%zu R=%g/s S=%zu: delivered %zu/%zu lost %zu dup %" PRIu64
               " | latency p50 %.2f p90 %.2f p99 %.2f max %.2f ms | %.0f deliveries/s | published %.1f/s on %zu "
               "connection%s (rtt p50 %.2f ms) | %.2f KiB/conn | connect %.2f s | cpu: server %.2f s, client %.2f s%s\n",
               s.label.c_str(), s.clients, s.topics, s.events, s.rate, s.size, static_cast<std::size_t>(s.st.delivered),
               s.expected, s.lost, s.st.duplicated, s.p50, s.p90, s.p99, s.max, s.deliveries_per_s, s.pub_rate,
               s.publishers, s.publishers == 1 ? "" : "s", s.rtt_p50, s.mem_per_conn, s.connect_s, s.server_cpu,
               s.client_cpu, s.valid ? "" : "  INVALID");
  if (s.generators > 1)
    std::fprintf(stderr, "[%s]   merged from %zu generator processes\n", s.label.c_str(), s.generators);
  for (std::size_t k = 0; s.targets.size() > 1 && k < s.targets.size(); ++k)
    std::fprintf(stderr, "[%s]   %s: %zu clients, delivered %zu, lost %zu | latency p50 %.2f p99 %.2f ms\n",
                 s.label.c_str(), s.targets[k].url.c_str(), s.targets[k].clients, s.targets[k].delivered,
                 s.targets[k].lost, s.targets[k].p50, s.targets[k].p99);
  if (s.side)
    std::fprintf(stderr, "[%s]   %s (not in the figures above): cpu %.2f s, RSS %.1f MiB at the end\n",
                 s.label.c_str(), s.side_label.c_str(), s.side_cpu, static_cast<double>(s.side_rss_end) / 1024);
  const worker_stats& st = s.st;
  if (st.disconnects || st.connect_errors || st.unexpected || st.parse_errors || s.pub_errors || st.id_out_of_order)
    std::fprintf(stderr,
                 "[%s] disconnects %" PRIu64 ", connect errors %" PRIu64 " (failed %" PRIu64 ", bad status %" PRIu64
                 "), unexpected %" PRIu64 ", parse errors %" PRIu64 ", publish errors %d, ids out of order %" PRIu64
                 "\n",
                 s.label.c_str(), st.disconnects, st.connect_errors, st.failed, st.bad_status, st.unexpected,
                 st.parse_errors, s.pub_errors, st.id_out_of_order);
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  if (!json_file.empty()) {
    std::ofstream out(json_file, std::ios::app);
    out << line << '\n';
  }
  return s.valid ? 0 : 1;
}

// Rendezvous files (--shard-dir): written whole under a temporary name, then renamed.
void write_file_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << text;
    if (!f) die("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) die("cannot rename " + tmp + ": " + std::strerror(errno));
}

/// Waits until `path` exists (polling every 20 ms) or the deadline passes; its contents, or nullopt.
std::optional<std::string> wait_file(const std::string& path, nanos deadline) {
  for (;;) {
    std::ifstream f(path);
    if (f) {
      std::stringstream ss;
      ss << f.rdbuf();
      return ss.str();
    }
    if (now_ns() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

/// One shard's raw figures (the file --result writes, --merge reads): "key value" lines, histogram
/// lines "h NAME US COUNT" (NAME lat, clat, rtt, t<k>), target lines "target K CLIENTS LOST URL".
struct shard_result {
  std::map<std::string, std::string> kv;
  std::map<std::string, histogram> hist;
  struct tgt {
    std::size_t clients = 0, lost = 0;
    std::string url;
  };
  std::map<std::size_t, tgt> targets;

  double n(const std::string& k) const {
    auto it = kv.find(k);
    if (it == kv.end()) die("shard result without '" + k + "'");
    return std::strtod(it->second.c_str(), nullptr);
  }
  std::uint64_t u(const std::string& k) const { return static_cast<std::uint64_t>(n(k)); }
  std::int64_t i(const std::string& k) const {
    auto it = kv.find(k);
    if (it == kv.end()) die("shard result without '" + k + "'");
    return std::strtoll(it->second.c_str(), nullptr, 10);
  }
  std::string s(const std::string& k) const {
    auto it = kv.find(k);
    return it == kv.end() ? std::string() : it->second;
  }
};

constexpr const char* shard_magic = "sse-bench-fanout shard result 1";

std::string format_shard(const shard_result& r) {
  std::string out = std::string(shard_magic) + "\n";
  for (const auto& [k, v] : r.kv) out += k + " " + v + "\n";
  for (const auto& [name, h] : r.hist)
    for (const auto& [us, c] : h) out += "h " + name + " " + std::to_string(us) + " " + std::to_string(c) + "\n";
  for (const auto& [k, t] : r.targets)
    out += "target " + std::to_string(k) + " " + std::to_string(t.clients) + " " + std::to_string(t.lost) + " " + t.url + "\n";
  return out;
}

shard_result read_shard(const std::string& file) {
  std::ifstream f(file);
  if (!f) die("--merge: cannot read " + file);
  shard_result r;
  std::string line;
  if (!std::getline(f, line) || line != shard_magic) die("--merge: " + file + " is not a shard result (" + shard_magic + ")");
  std::size_t lineno = 1;
  while (std::getline(f, line)) {
    ++lineno;
    if (line.empty()) continue;
    std::istringstream in(line);
    std::string key;
    in >> key;
    auto bad = [&] { die("--merge: " + file + ":" + std::to_string(lineno) + ": malformed line"); };
    if (key == "h") {
      std::string name;
      std::int64_t us = 0;
      std::uint64_t c = 0;
      if (!(in >> name >> us >> c) || us < 0) bad();
      r.hist[name][us] += c;
    } else if (key == "target") {
      std::size_t k = 0;
      shard_result::tgt t;
      if (!(in >> k >> t.clients >> t.lost >> t.url) || k > 255) bad();
      r.targets[k] = t;
    } else {
      std::string v;
      std::getline(in >> std::ws, v);
      r.kv[key] = v;
    }
  }
  return r;
}

/// --merge FILE...: the shards' results as one run (exact sums; percentiles of the merged histograms).
int merge(const std::vector<std::string>& files, const std::string& json_file) {
  if (files.empty()) die("--merge needs the shards' result files");
  std::vector<shard_result> rs;
  for (const auto& f : files) rs.push_back(read_shard(f));
  const std::size_t K = static_cast<std::size_t>(rs.front().u("shards"));
  if (rs.size() != K) die("--merge: " + std::to_string(rs.size()) + " files for " + std::to_string(K) + " shards");
  std::vector<const shard_result*> by_index(K, nullptr);
  for (const auto& r : rs) {
    const std::size_t i = static_cast<std::size_t>(r.u("shard"));
    if (r.u("shards") != K || i >= K || by_index[i]) die("--merge: shard indices must be 0.." + std::to_string(K - 1) + ", each once");
    for (const char* k : {"clients", "events", "topics", "seed", "size"})
      if (r.s(k) != rs.front().s(k)) die(std::string("--merge: the shards disagree on ") + k);
    by_index[i] = &r;
  }
  const shard_result& p = *by_index[0];  // the publisher: server, publish side, side processes
  summary s;
  s.label = p.s("label");
  s.clients = static_cast<std::size_t>(p.u("clients"));
  s.topics = static_cast<std::size_t>(p.u("topics"));
  s.events = static_cast<std::size_t>(p.u("events"));
  s.size = static_cast<std::size_t>(p.u("size"));
  s.threads = static_cast<std::size_t>(p.u("threads"));
  s.publishers = static_cast<std::size_t>(p.u("publishers"));
  s.seed = p.u("seed");
  s.rate = p.n("rate");
  s.generators = K;
  s.probes = static_cast<std::size_t>(p.u("probes"));
  histogram lat, clat;
  std::map<std::size_t, histogram> tlat;
  std::int64_t t_connect0 = p.i("t_connect0"), t_connected = p.i("t_connected"), last_recv = 0;
  for (const shard_result* r : by_index) {
    s.opened += r->u("opened");
    s.probed += r->u("probed");
    s.expected += r->u("expected");
    s.lost += r->u("lost");
    s.pub_errors += static_cast<int>(r->n("publish_errors"));
    s.client_cpu += r->n("client_cpu_s");
    s.st.delivered += r->u("delivered");
    s.st.duplicated += r->u("duplicated");
    s.st.unexpected += r->u("unexpected");
    s.st.disconnects += r->u("disconnects");
    s.st.bad_status += r->u("bad_status");
    s.st.connect_errors += r->u("connect_errors");
    s.st.connect_retries += r->u("connect_retries");
    s.st.failed += r->u("failed");
    s.st.parse_errors += r->u("parse_errors");
    s.st.id_out_of_order += r->u("id_out_of_order");
    t_connect0 = std::min(t_connect0, r->i("t_connect0"));
    t_connected = std::max(t_connected, r->i("t_connected"));
    last_recv = std::max(last_recv, r->i("last_recv"));
    for (const auto& [name, h] : r->hist) {
      histogram* into = name == "lat" ? &lat : name == "clat" ? &clat : nullptr;
      if (name.size() > 1 && name[0] == 't')
        into = &tlat[static_cast<std::size_t>(std::strtoul(name.c_str() + 1, nullptr, 10))];
      if (!into) continue;
      for (const auto& [us, c] : h) (*into)[us] += c;
    }
    for (const auto& [k, t] : r->targets) {
      if (s.targets.size() <= k) s.targets.resize(k + 1);
      s.targets[k].url = t.url;
      s.targets[k].clients += t.clients;
      s.targets[k].lost += t.lost;
    }
  }
  if (hist_count(lat) != s.st.delivered) die("--merge: the latency histograms do not add up to the deliveries");
  for (std::size_t k = 0; k < s.targets.size(); ++k) {
    const histogram& h = tlat[k];
    s.targets[k].delivered = static_cast<std::size_t>(hist_count(h));
    s.targets[k].p50 = hist_pct(h, 50);
    s.targets[k].p99 = hist_pct(h, 99);
  }
  s.p50 = hist_pct(lat, 50);
  s.p90 = hist_pct(lat, 90);
  s.p99 = hist_pct(lat, 99);
  s.p999 = hist_pct(lat, 99.9);
  std::int64_t max_ns = 0;
  for (const shard_result* r : by_index) max_ns = std::max(max_ns, r->i("lat_max_ns"));
  s.max = static_cast<double>(max_ns) / 1e6;
  s.connect_s = static_cast<double>(t_connected - t_connect0) / 1e9;
  s.connect_p99_ms = hist_pct(clat, 99);
  const std::int64_t t_pub0 = p.i("t_pub0");
  s.span_s = static_cast<double>(std::max<std::int64_t>(last_recv - t_pub0, 1)) / 1e9;
  s.deliveries_per_s = static_cast<double>(s.st.delivered) / s.span_s;
  s.pub_rate = p.n("publish_rate");
  s.publish_s = p.n("publish_s");
  const auto rtt = p.hist.find("rtt");
  s.rtt_p50 = rtt == p.hist.end() ? 0 : hist_pct(rtt->second, 50);
  s.rtt_p99 = rtt == p.hist.end() ? 0 : hist_pct(rtt->second, 99);
  s.server_cpu = p.n("server_cpu_s");
  s.rss_before = static_cast<long>(p.i("rss_before_kib"));
  s.rss_idle = static_cast<long>(p.i("rss_idle_kib"));
  s.rss_end = static_cast<long>(p.i("rss_end_kib"));
  s.mem_per_conn = s.opened ? static_cast<double>(s.rss_idle - s.rss_before) / static_cast<double>(s.opened) : 0;
  s.side = p.kv.count("side_label") != 0;
  if (s.side) {
    s.side_label = p.s("side_label");
    s.side_cpu = p.n("side_cpu_s");
    s.side_rss_before = static_cast<long>(p.i("side_rss_before_kib"));
    s.side_rss_idle = static_cast<long>(p.i("side_rss_idle_kib"));
    s.side_rss_end = static_cast<long>(p.i("side_rss_end_kib"));
  }
  s.valid = s.lost == 0 && s.st.duplicated == 0 && s.st.unexpected == 0 && s.st.id_out_of_order == 0 &&
            s.opened == s.clients && s.pub_errors == 0 && p.s("all_ready") == "1";
  return emit(s, json_file);
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  std::string report_file, baseline = "sse-hub", url = "http://127.0.0.1:8080";
  bool merging = false;
  std::vector<std::string> merge_files;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) die(std::string(flag) + " needs a value");
      return argv[++i];
    };
    if (flag == "--help" || flag == "-h") {
      std::fputs(usage, stdout);
      return 0;
    } else if (flag == "--url") url = value();
    else if (flag == "--subscribe") {
      const std::string_view v = value();  // a comma list or one item; repeatable
      for (std::size_t a = 0; a <= v.size();) {
        const std::size_t b = std::min(v.find(',', a), v.size());
        if (b > a) opt.subscribe.emplace_back(v.substr(a, b - a));
        a = b + 1;
      }
    }
    else if (flag == "--publish") opt.publish = value();
    else if (flag == "--topic") opt.topic = value();
    else if (flag == "--topics") opt.topics = to_number<std::size_t>(flag, value());
    else if (flag == "--seed") opt.seed = to_number<std::uint64_t>(flag, value());
    else if (flag == "--clients") opt.clients = to_number<std::size_t>(flag, value());
    else if (flag == "--events") opt.events = to_number<std::size_t>(flag, value());
    else if (flag == "--rate") opt.rate = to_number<double>(flag, value());
    else if (flag == "--size") opt.size = to_number<std::size_t>(flag, value());
    else if (flag == "--threads") opt.threads = to_number<std::size_t>(flag, value());
    else if (flag == "--publishers") opt.publishers = to_number<std::size_t>(flag, value());
    else if (flag == "--connect-concurrency") opt.concurrency = to_number<std::size_t>(flag, value());
    else if (flag == "--server-pid") opt.pids.push_back(to_number<int>(flag, value()));
    else if (flag == "--side-pid") opt.side_pids.push_back(to_number<int>(flag, value()));
    else if (flag == "--side-label") opt.side_label = value();
    else if (flag == "--label") opt.label = value();
    else if (flag == "--json") opt.json_file = value();
    else if (flag == "--drain-timeout") opt.drain_timeout = to_number<double>(flag, value());
    else if (flag == "--report") report_file = value();
    else if (flag == "--per-event") opt.per_event = true;
    else if (flag == "--baseline") baseline = value();
    else if (flag == "--shard") {
      const std::string_view v = value();
      const auto slash = v.find('/');
      if (slash == std::string_view::npos) die("--shard takes I/K");
      opt.shard = to_number<std::size_t>(flag, v.substr(0, slash));
      opt.shards = to_number<std::size_t>(flag, v.substr(slash + 1));
      if (opt.shards == 0 || opt.shard >= opt.shards || opt.shards > 256) die("--shard I/K: 0 <= I < K <= 256");
    }
    else if (flag == "--shard-dir") opt.shard_dir = value();
    else if (flag == "--result") opt.result_file = value();
    else if (flag == "--merge") {
      merging = true;
      while (i + 1 < argc && std::string_view(argv[i + 1]).rfind("--", 0) != 0) merge_files.emplace_back(argv[++i]);
    }
    else if (flag == "--free-port") {  // for scripts: a port that was free a moment ago
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t alen = sizeof a;
      if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
          getsockname(fd, reinterpret_cast<sockaddr*>(&a), &alen) != 0)
        die("--free-port: no free port");
      std::printf("%u\n", ntohs(a.sin_port));
      ::close(fd);
      return 0;
    }
    else die("unknown option '" + std::string(flag) + "' (see --help)");
  }
  if (!report_file.empty()) return report(report_file, baseline);
  if (merging) return merge(merge_files, opt.json_file);
  const bool sharded = !opt.result_file.empty() || !opt.shard_dir.empty() || opt.shards > 1;
  if (sharded && (opt.result_file.empty() || opt.shard_dir.empty() || opt.topic.empty()))
    die("--shard needs --shard-dir, --result and --topic (the same topic in every generator)");
  if (sharded && opt.shard != 0 && (!opt.pids.empty() || !opt.side_pids.empty()))
    die("--server-pid and --side-pid belong to generator 0 (it measures the server)");

  // --url http://HOST:PORT
  {
    const http_url u = split_url(url, "--url");
    opt.host = u.host;
    opt.port = u.port;
  }
  if (opt.clients == 0 || opt.events == 0 || opt.rate <= 0 || opt.threads == 0 || opt.concurrency == 0 ||
      opt.publishers == 0 || opt.topics == 0)
    die("--clients, --events, --rate, --threads, --publishers, --topics and --connect-concurrency must be positive");
  if (opt.topics > 1'000'000) die("--topics: at most 1000000");
  if (opt.publishers > 256) die("--publishers: at most 256");
  if (opt.events > 0xFFFFFFFFu) die("--events is too large");
  if (opt.topic.empty()) opt.topic = "bench-" + std::to_string(getpid()) + "-" + std::to_string(now_ns() % 1000000000);
  // This process's clients: all of them, or its share (--shard I/K), global indices [own_begin, own_end).
  const std::size_t own_begin = opt.clients * opt.shard / opt.shards;
  const std::size_t own_end = opt.clients * (opt.shard + 1) / opt.shards;
  const std::size_t own = own_end - own_begin;
  if (own == 0) die("--shard: no clients for this generator (fewer clients than generators)");
  const bool publishing = opt.shard == 0;  // generator 0 (or the only one) measures the server and publishes
  auto shard_path = [&](const std::string& name) { return opt.shard_dir + "/" + name; };

  // File descriptors: the clients plus a few.
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < own + 64)
    die("open-file limit " + std::to_string(rl.rlim_cur) + " is too low for " + std::to_string(own) +
        " clients (ulimit -n)");

  const sockaddr_in addr = resolve(opt.host, opt.port);
  const std::string host_header = opt.host + ":" + std::to_string(opt.port);
  // Topics (--topics): their names and publish paths, and each event's topic (seeded).
  std::vector<std::string> topic_names;
  if (opt.topics == 1) topic_names.push_back(opt.topic);
  else
    for (std::size_t j = 0; j < opt.topics; ++j) topic_names.push_back(opt.topic + "-" + std::to_string(j));
  std::vector<std::string> pub_paths;
  for (const auto& t : topic_names) pub_paths.push_back(replace_topic(opt.publish, t));
  std::vector<std::uint32_t> event_topic(opt.events, 0);
  if (opt.topics > 1)
    for (std::size_t k = 0; k < opt.events; ++k)
      event_topic[k] = static_cast<std::uint32_t>(splitmix64(opt.seed * 0x100000001b3ull + k) % opt.topics);
  // The servers the subscribers connect to: client k on targets[k mod K].
  if (opt.subscribe.empty()) opt.subscribe.emplace_back("/events/{topic}");
  if (opt.subscribe.size() > 255) die("--subscribe: at most 255 targets");
  std::vector<target> targets;
  for (const auto& spec : opt.subscribe) {
    target tg;
    std::string host = opt.host, path = spec;
    std::uint16_t port = opt.port;
    if (spec.rfind("http://", 0) == 0) {
      const http_url u = split_url(spec, "--subscribe");
      host = u.host;
      port = u.port;
      path = u.path.empty() ? "/events/{topic}" : u.path;
    }
    const std::string host_port = host + ":" + std::to_string(port);
    tg.url = "http://" + host_port + replace_topic(path, topic_names.front());
    tg.addr = resolve(host, port);
    for (const auto& t : topic_names)
      tg.requests.push_back("GET " + replace_topic(path, t) + " HTTP/1.1\r\nHost: " + host_port +
                            "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n");
    targets.push_back(std::move(tg));
  }
  // Subscribers of each topic (client k: (k div K) mod T), and the deliveries expected.
  std::vector<std::size_t> topic_clients(opt.topics, 0);
  for (std::size_t k = own_begin; k < own_end; ++k) ++topic_clients[k / targets.size() % opt.topics];
  std::size_t expected = 0;
  for (std::size_t k = 0; k < opt.events; ++k) expected += topic_clients[event_topic[k]];
  std::vector<std::atomic<std::uint32_t>> topic_probed(opt.topics);

  const long rss_before = tree_rss_kib(opt.pids);
  const long side_rss_before = opt.side_pids.empty() ? 0 : tree_rss_kib(opt.side_pids);
  // Several generators: the others connect once generator 0 has read the server's RSS before any client.
  if (sharded) {
    if (publishing) write_file_atomic(shard_path("start"), "1\n");
    else if (!wait_file(shard_path("start"), now_ns() + 300'000'000'000LL))
      die("generator 0 did not start within 300 s (" + shard_path("start") + ")");
  }

  // Subscribers.
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<worker>> workers;
  const std::size_t T = std::min(opt.threads, own);
  for (std::size_t t = 0, first = own_begin; t < T; ++t) {
    auto w = std::make_unique<worker>();
    const std::size_t n = own / T + (t < own % T ? 1 : 0);
    w->opt = &opt;
    w->targets = &targets;
    w->event_topic = &event_topic;
    w->topic_probed = &topic_probed;
    w->first = first;
    first += n;
    w->conns.resize(n);
    w->seen.assign(n * opt.events, 0);
    w->lat.reserve(n * opt.events);
    w->connect_lat.reserve(n);
    w->stop = &stop;
    w->retry.reserve(n);
    workers.push_back(std::move(w));
  }
  auto sum = [&](auto member) {
    std::size_t s = 0;
    for (auto& w : workers) s += (w.get()->*member).load(std::memory_order_relaxed);
    return s;
  };

  const nanos t_connect0 = now_ns();
  for (auto& w : workers) w->th = std::thread([p = w.get()] { p->run(); });
  const nanos connect_deadline = t_connect0 + 120'000'000'000LL;
  while (sum(&worker::settled) < own && now_ns() < connect_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const nanos t_connected = now_ns();
  const std::size_t opened = sum(&worker::opened);
  std::fprintf(stderr, "[%s] %zu/%zu connected in %.2f s\n", opt.label.c_str(), opened, own,
               static_cast<double>(t_connected - t_connect0) / 1e9);

  // Readiness: publish probes until every open client has seen one (the subscription is registered).
  // With --topics, a round probes every topic that still has an unprobed client, spread over the
  // --publishers connections (connected here, before the memory figure, in that mode only).
  publisher pub(addr, host_header);
  std::vector<std::unique_ptr<publisher>> extra_pubs;  // publishers 2..P (--publishers; the first is `pub`)
  auto open_extra_pubs = [&] {
    for (std::size_t k = extra_pubs.size() + 1; k < opt.publishers; ++k) {
      extra_pubs.push_back(std::make_unique<publisher>(addr, host_header));
      extra_pubs.back()->open();
    }
  };
  if (opt.topics > 1) open_extra_pubs();
  std::atomic<std::size_t> probes{0};
  const nanos probe_deadline = now_ns() + 120'000'000'000LL;
  std::atomic<int> probe_errors{0};
  auto probe_round = [&](publisher& p, std::size_t from, std::size_t step) {
    for (std::size_t j = from; j < opt.topics; j += step) {  // each topic that still has an unprobed client
      if (opt.topics > 1 && topic_probed[j].load(std::memory_order_relaxed) >= topic_clients[j]) continue;
      char body[32];
      const int bn = std::snprintf(body, sizeof body, "p%zu", probes.fetch_add(1));
      const int status = p.post(pub_paths[j], std::string(body, static_cast<std::size_t>(bn)));
      if (status < 200 || status >= 300) {
        if (probe_errors.fetch_add(1) + 1 > 5) die("publish " + pub_paths[j] + " answered " + std::to_string(status));
      }
    }
  };
  while (sum(&worker::probed) < opened && now_ns() < probe_deadline) {
    std::vector<std::thread> probe_threads;
    const std::size_t step = extra_pubs.size() + 1;
    for (std::size_t k = 0; k < extra_pubs.size(); ++k)
      probe_threads.emplace_back([&probe_round, q = extra_pubs[k].get(), k, step] { probe_round(*q, k + 1, step); });
    probe_round(pub, 0, step);
    for (auto& th : probe_threads) th.join();
    const nanos until = now_ns() + 100'000'000;
    while (sum(&worker::probed) < opened && now_ns() < until) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  int pub_errors = probe_errors.load();
  const std::size_t probed = sum(&worker::probed);
  // Several generators: each says when its clients are all subscribed; generator 0 waits for all of
  // them before reading the server's memory and publishing.
  bool all_ready = true;
  std::size_t all_opened = opened;  // clients connected over every generator (memory per connection)
  if (sharded) {
    write_file_atomic(shard_path("ready." + std::to_string(opt.shard)),
                      std::to_string(opened) + " " + std::to_string(probed) + "\n");
    if (publishing) {
      const nanos ready_deadline = now_ns() + 300'000'000'000LL;
      for (std::size_t g = 1; g < opt.shards; ++g) {
        const auto r = wait_file(shard_path("ready." + std::to_string(g)), ready_deadline);
        if (!r) {
          all_ready = false;
          std::fprintf(stderr, "[%s] generator %zu was not ready within 300 s\n", opt.label.c_str(), g);
          continue;
        }
        all_opened += std::strtoul(r->c_str(), nullptr, 10);
      }
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let the server settle before reading RSS
  const long rss_idle = tree_rss_kib(opt.pids);
  const long side_rss_idle = opt.side_pids.empty() ? 0 : tree_rss_kib(opt.side_pids);

  // Publishers 2..P, connected before the measurement starts.
  if (publishing) open_extra_pubs();

  const double server_cpu0 = tree_cpu_s(opt.pids), client_cpu0 = self_cpu_s();
  const double side_cpu0 = opt.side_pids.empty() ? 0 : tree_cpu_s(opt.side_pids);

  // Publish M events at R/s on P connections (--publishers), one POST in flight on each. One shared
  // schedule: event k is due at t_pub0 + k/R and goes to the next free connection (seqs are handed
  // out in order), so with P > 1 up to P events are in flight and a slow answer delays only the
  // events behind it on that connection. Events may then reach the server out of seq order: lost and
  // duplicated are counted per (client, seq), and the order check compares the ids the server
  // assigned (in arrival order), not seqs. With several generators only generator 0 publishes; the
  // others wait for its `published` file, then drain as it does.
  std::vector<nanos> pub_rtt(publishing ? opt.events : 0, 0), pub_sent(publishing ? opt.events : 0, 0);  // by seq
  std::atomic<std::size_t> next_seq{0};
  std::atomic<int> pub_run_errors{0};
  const nanos period = static_cast<nanos>(1e9 / opt.rate);
  nanos t_pub0 = now_ns() + 1'000'000, t_pub_end = 0, t_pub_first = 0, t_pub_last = 0;
  auto publish_loop = [&](publisher& p) {
    std::string body;
    for (;;) {
      const std::size_t k = next_seq.fetch_add(1, std::memory_order_relaxed);
      if (k >= opt.events) return;
      sleep_until_ns(t_pub0 + static_cast<nanos>(k) * period);
      const nanos ts = now_ns();
      char head[64];
      const int hn = std::snprintf(head, sizeof head, "%zu:%" PRId64 ":", k, ts);
      body.assign(head, static_cast<std::size_t>(hn));
      if (body.size() < opt.size) body.append(opt.size - body.size(), 'x');
      const int status = p.post(pub_paths[event_topic[k]], body);
      const nanos done = now_ns();
      if (status < 200 || status >= 300) pub_run_errors.fetch_add(1, std::memory_order_relaxed);
      pub_rtt[k] = done - ts;
      pub_sent[k] = ts;
    }
  };
  if (publishing) {
    std::vector<std::thread> pub_threads;
    for (auto& p : extra_pubs) pub_threads.emplace_back([&publish_loop, q = p.get()] { publish_loop(*q); });
    publish_loop(pub);
    for (auto& th : pub_threads) th.join();
    t_pub_end = now_ns();
    pub_errors += pub_run_errors.load();
    // The publish rate achieved: events after the first over the time from the first send to the last.
    t_pub_first = *std::min_element(pub_sent.begin(), pub_sent.end());
    t_pub_last = *std::max_element(pub_sent.begin(), pub_sent.end());
    if (sharded) write_file_atomic(shard_path("published"), std::to_string(t_pub0) + "\n");
  } else {
    const nanos until = now_ns() + 600'000'000'000LL + static_cast<nanos>(static_cast<double>(opt.events) / opt.rate * 2e9);
    if (const auto r = wait_file(shard_path("published"), until)) t_pub0 = std::strtoll(r->c_str(), nullptr, 10);
    else std::fprintf(stderr, "[%s] generator 0 did not publish in time\n", opt.label.c_str());
    t_pub_end = now_ns();
  }

  // Drain: wait until every delivery arrived, or no progress for --drain-timeout seconds.
  std::size_t last = sum(&worker::delivered);
  nanos last_progress = now_ns();
  const std::size_t drain_until = opened == own ? expected : expected / own * opened;
  while (last < drain_until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const std::size_t d = sum(&worker::delivered);
    if (d != last) {
      last = d;
      last_progress = now_ns();
    } else if (now_ns() - last_progress > static_cast<nanos>(opt.drain_timeout * 1e9)) {
      break;
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // late duplicates, if any
  if (sharded && !publishing) write_file_atomic(shard_path("done." + std::to_string(opt.shard)), "1\n");
  if (sharded && publishing) {  // the server's figures cover every generator's drain
    const nanos done_deadline = now_ns() + 120'000'000'000LL + static_cast<nanos>(opt.drain_timeout * 1e9);
    for (std::size_t g = 1; g < opt.shards; ++g)
      if (!wait_file(shard_path("done." + std::to_string(g)), done_deadline))
        std::fprintf(stderr, "[%s] generator %zu did not finish draining in time\n", opt.label.c_str(), g);
  }
  const long rss_end = tree_rss_kib(opt.pids);
  const double server_cpu = tree_cpu_s(opt.pids) - server_cpu0, client_cpu = self_cpu_s() - client_cpu0;
  const long side_rss_end = opt.side_pids.empty() ? 0 : tree_rss_kib(opt.side_pids);
  const double side_cpu = opt.side_pids.empty() ? 0 : tree_cpu_s(opt.side_pids) - side_cpu0;
  stop.store(true);
  for (auto& w : workers) w->th.join();

  // Aggregate.
  worker_stats st;
  std::vector<nanos> lat, clat;
  lat.reserve(expected);
  nanos last_recv = 0;
  std::size_t unique = 0;
  for (auto& w : workers) {
    st.delivered += w->st.delivered;
    st.duplicated += w->st.duplicated;
    st.unexpected += w->st.unexpected;
    st.disconnects += w->st.disconnects;
    st.bad_status += w->st.bad_status;
    st.connect_errors += w->st.connect_errors;
    st.connect_retries += w->st.connect_retries;
    st.failed += w->st.failed;
    st.parse_errors += w->st.parse_errors;
    st.id_out_of_order += w->st.id_out_of_order;
    for (auto s : w->seen) unique += s != 0;
    lat.insert(lat.end(), w->lat.begin(), w->lat.end());
    clat.insert(clat.end(), w->connect_lat.begin(), w->connect_lat.end());
    last_recv = std::max(last_recv, w->last_recv.load());
  }
  const std::size_t lost = expected - unique;
  // Per subscribe target (several targets only): clients, latencies and lost (client, seq) pairs.
  struct target_figures {
    std::size_t clients = 0, lost = 0;
    std::vector<nanos> lat;
  };
  std::vector<target_figures> by_target(targets.size() > 1 ? targets.size() : 0);
  if (!by_target.empty()) {
    for (auto& w : workers) {
      for (std::size_t i = 0; i < w->conns.size(); ++i) {
        auto& f = by_target[w->target_index(i)];
        ++f.clients;
        for (std::size_t k = 0; k < opt.events; ++k)
          f.lost += w->seen[i * opt.events + k] == 0 && event_topic[k] == w->topic_index(i);
      }
      for (std::size_t k = 0; k < w->lat.size(); ++k) by_target[w->lat_tgt[k]].lat.push_back(w->lat[k]);
    }
  }
  if (opt.per_event) {
    std::vector<std::vector<nanos>> by_seq(opt.events);
    for (auto& w : workers)
      for (std::size_t k = 0; k < w->lat.size(); ++k) by_seq[w->lat_seq[k]].push_back(w->lat[k]);
    for (std::size_t k = 0; k < opt.events; ++k) {
      auto& v = by_seq[k];
      const double mx = v.empty() ? 0 : static_cast<double>(*std::max_element(v.begin(), v.end())) / 1e6;
      std::fprintf(stderr, "  event %4zu: %6zu deliveries, p50 %8.2f ms, p99 %8.2f ms, max %8.2f ms, publish rtt %.2f ms\n", k,
                   v.size(), pct(v, 50), pct(v, 99), mx, k < pub_rtt.size() ? static_cast<double>(pub_rtt[k]) / 1e6 : 0.0);
    }
  }
  const double span_s = static_cast<double>(std::max<nanos>(last_recv - t_pub0, 1)) / 1e9;
  const double connect_s = static_cast<double>(t_connected - t_connect0) / 1e9;
  const double pub_rate = opt.events > 1 && t_pub_last > t_pub_first
                              ? static_cast<double>(opt.events - 1) / (static_cast<double>(t_pub_last - t_pub_first) / 1e9)
                              : 0;

  if (sharded) {  // this generator's raw figures, for --merge
    shard_result r;
    auto put = [&r](const char* k, auto v) {
      if constexpr (std::is_floating_point_v<decltype(v)>) {
        char b[64];
        std::snprintf(b, sizeof b, "%.9g", v);
        r.kv[k] = b;
      } else {
        r.kv[k] = std::to_string(v);
      }
    };
    r.kv["label"] = opt.label;
    put("shard", opt.shard);
    put("shards", opt.shards);
    put("clients", opt.clients);
    put("own_clients", own);
    put("events", opt.events);
    put("rate", opt.rate);
    put("size", opt.size);
    put("threads", T);
    put("publishers", opt.publishers);
    put("topics", opt.topics);
    put("seed", opt.seed);
    put("opened", opened);
    put("probes", probes.load());
    put("probed", probed);
    put("expected", expected);
    put("delivered", st.delivered);
    put("lost", lost);
    put("duplicated", st.duplicated);
    put("unexpected", st.unexpected);
    put("id_out_of_order", st.id_out_of_order);
    put("disconnects", st.disconnects);
    put("bad_status", st.bad_status);
    put("connect_errors", st.connect_errors);
    put("connect_retries", st.connect_retries);
    put("failed", st.failed);
    put("parse_errors", st.parse_errors);
    put("publish_errors", pub_errors);
    put("client_cpu_s", client_cpu);
    put("t_connect0", t_connect0);
    put("t_connected", t_connected);
    put("last_recv", last_recv);
    put("lat_max_ns", lat.empty() ? nanos{0} : *std::max_element(lat.begin(), lat.end()));
    r.hist["lat"] = to_histogram(lat);
    r.hist["clat"] = to_histogram(clat);
    if (publishing) {
      put("all_ready", all_ready ? 1 : 0);
      put("t_pub0", t_pub0);
      put("publish_rate", pub_rate);
      put("publish_s", static_cast<double>(t_pub_end - t_pub0) / 1e9);
      r.hist["rtt"] = to_histogram(pub_rtt);
      put("server_cpu_s", server_cpu);
      put("rss_before_kib", rss_before);
      put("rss_idle_kib", rss_idle);
      put("rss_end_kib", rss_end);
      put("all_opened", all_opened);
      if (!opt.side_pids.empty()) {
        r.kv["side_label"] = opt.side_label;
        put("side_cpu_s", side_cpu);
        put("side_rss_before_kib", side_rss_before);
        put("side_rss_idle_kib", side_rss_idle);
        put("side_rss_end_kib", side_rss_end);
      }
    }
    for (std::size_t k = 0; k < by_target.size(); ++k) {
      r.targets[k] = shard_result::tgt{by_target[k].clients, by_target[k].lost, targets[k].url};
      r.hist["t" + std::to_string(k)] = to_histogram(by_target[k].lat);
    }
    write_file_atomic(opt.result_file, format_shard(r));
    const bool ok = lost == 0 && st.duplicated == 0 && st.unexpected == 0 && st.id_out_of_order == 0 && opened == own &&
                    pub_errors == 0;
    std::fprintf(stderr,
                 "[%s] generator %zu/%zu: clients %zu..%zu, connected %zu, delivered %" PRIu64 "/%zu, lost %zu, dup %" PRIu64
                 "%s -> %s\n",
                 opt.label.c_str(), opt.shard, opt.shards, own_begin, own_end - 1, opened, st.delivered, expected, lost,
                 st.duplicated, ok ? "" : "  INVALID", opt.result_file.c_str());
    return ok ? 0 : 1;
  }

  summary s;
  s.label = opt.label;
  s.clients = opt.clients;
  s.topics = opt.topics;
  s.events = opt.events;
  s.rate = opt.rate;
  s.size = opt.size;
  s.threads = T;
  s.publishers = opt.publishers;
  s.seed = opt.seed;
  s.opened = opened;
  s.st = st;
  s.connect_s = connect_s;
  s.connect_p99_ms = pct(clat, 99);
  s.probes = probes.load();
  s.probed = probed;
  s.expected = expected;
  s.lost = lost;
  s.pub_errors = pub_errors;
  s.p50 = pct(lat, 50);
  s.p90 = pct(lat, 90);
  s.p99 = pct(lat, 99);
  s.p999 = pct(lat, 99.9);
  s.max = lat.empty() ? 0 : static_cast<double>(*std::max_element(lat.begin(), lat.end())) / 1e6;
  s.span_s = span_s;
  s.deliveries_per_s = static_cast<double>(st.delivered) / span_s;
  s.pub_rate = pub_rate;
  s.publish_s = static_cast<double>(t_pub_end - t_pub0) / 1e9;
  s.rtt_p50 = pct(pub_rtt, 50);
  s.rtt_p99 = pct(pub_rtt, 99);
  s.server_cpu = server_cpu;
  s.client_cpu = client_cpu;
  s.rss_before = rss_before;
  s.rss_idle = rss_idle;
  s.rss_end = rss_end;
  s.mem_per_conn = opened ? static_cast<double>(rss_idle - rss_before) / static_cast<double>(opened) : 0;
  s.side = !opt.side_pids.empty();
  s.side_label = opt.side_label;
  s.side_cpu = side_cpu;
  s.side_rss_before = side_rss_before;
  s.side_rss_idle = side_rss_idle;
  s.side_rss_end = side_rss_end;
  for (std::size_t k = 0; k < by_target.size(); ++k)
    s.targets.push_back(target_summary{targets[k].url, by_target[k].clients, by_target[k].lat.size(), by_target[k].lost,
                                       pct(by_target[k].lat, 50), pct(by_target[k].lat, 99)});
  s.valid = lost == 0 && st.duplicated == 0 && st.unexpected == 0 && st.id_out_of_order == 0 && opened == opt.clients &&
            pub_errors == 0;
  return emit(s, opt.json_file);
}
