// sse-bench-publish: a publish load generator. P keep-alive HTTP/1.1 connections, one request in
// flight on each, for a fixed time; each request publishes one event (POST PATH with the data as the
// body: sse-hub's /publish/{topic}, nchan's publisher) or a batch of B events (sse-hub's POST
// /publish, newline-delimited JSON). Topics are drawn at random (fixed seed) from T names.
// Prints one JSON line on stdout and a human summary on stderr: events/s published (answered as
// published by the server), requests/s, request latency p50/p99, and the server's CPU per event when
// given its pids. Exit status 1 when any request failed or an event was not published.
//
//   sse-bench-publish --url http://127.0.0.1:PORT [--single PATH | --batch N [--batch-path PATH]]
//                     [--topics T] [--connections P] [--seconds S] [--size BYTES] [--token TOKEN]
//                     [--server-pid PID]... [--label NAME]
//   sse-bench-publish --free-port      prints a free loopback port and exits
//
// PATH may hold {topic}, replaced by the event's topic (default /publish/{topic}).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

struct config {
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  std::string single_path = "/publish/{topic}";
  std::size_t batch = 0;  // 0: one event per request
  std::string batch_path = "/publish";
  std::size_t topics = 1;
  std::size_t connections = 4;
  double seconds = 5;
  std::size_t size = 128;
  std::string token;
  std::vector<int> server_pids;
  std::string label = "server";
};

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "sse-bench-publish: %s\n", why.c_str());
  std::exit(2);
}

unsigned short free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    die("no free port");
  ::close(fd);
  return ntohs(a.sin_port);
}

/// Server CPU (user + system) in clock ticks, summed over the pids (0 when none can be read).
std::uint64_t cpu_ticks(const std::vector<int>& pids) {
  std::uint64_t sum = 0;
  for (const int pid : pids) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    const std::string s{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const auto rp = s.rfind(')');
    if (rp == std::string::npos) continue;
    std::istringstream fields(s.substr(rp + 2));
    std::string f;
    std::uint64_t utime = 0, stime = 0;
    for (int i = 3; fields >> f; ++i) {  // field 3 is the state
      if (i == 14) utime = std::stoull(f);
      if (i == 15) {
        stime = std::stoull(f);
        break;
      }
    }
    sum += utime + stime;
  }
  return sum;
}

/// xorshift64*: a fixed-seed random stream per connection.
struct rng {
  std::uint64_t s;
  std::uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ULL;
  }
};

struct result {
  std::uint64_t requests = 0, events = 0, failed_requests = 0, failed_events = 0;
  std::vector<double> latencies_us;
  std::string first_error;
};

class connection {
 public:
  explicit connection(const config& c) : cfg_(c) { open(); }
  ~connection() {
    if (fd_ >= 0) ::close(fd_);
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Sends `req` and reads one response: its status and body. False on a connection error.
  bool exchange(const std::string& req, int& status, std::string& body) {
    if (fd_ < 0) open();
    std::string_view out = req;
    while (!out.empty()) {
      const auto n = ::send(fd_, out.data(), out.size(), MSG_NOSIGNAL);
      if (n <= 0) return reset();
      out.remove_prefix(static_cast<std::size_t>(n));
    }
    std::size_t head_end;
    for (;;) {
      head_end = in_.find("\r\n\r\n");
      if (head_end != std::string::npos) break;
      if (!fill()) return reset();
    }
    const std::string head = in_.substr(0, head_end + 2);
    if (head.size() < 12 || !head.starts_with("HTTP/1.")) return reset();
    status = std::atoi(head.c_str() + 9);
    std::string lower;
    std::transform(head.begin(), head.end(), std::back_inserter(lower),
                   [](char ch) { return static_cast<char>(std::tolower(static_cast<unsigned char>(ch))); });
    const auto cl = lower.find("\r\ncontent-length:");
    if (cl == std::string::npos) return reset();  // every server under test sends a length
    const std::size_t len = std::strtoull(head.c_str() + cl + 17, nullptr, 10);
    const bool close_after = lower.find("\r\nconnection: close") != std::string::npos;
    while (in_.size() < head_end + 4 + len)
      if (!fill()) return reset();
    body.assign(in_, head_end + 4, len);
    in_.erase(0, head_end + 4 + len);
    if (close_after) reset();
    return true;
  }

 private:
  void open() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(cfg_.port);
    ::inet_pton(AF_INET, cfg_.host.c_str(), &a.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) die("cannot connect to the server");
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    in_.clear();
  }
  bool fill() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 10'000) <= 0) return false;  // 10 s without an answer: a failure
    char buf[65536];
    const auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return false;
    in_.append(buf, static_cast<std::size_t>(n));
    return true;
  }
  bool reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    return false;
  }

  const config& cfg_;
  int fd_ = -1;
  std::string in_;
};

std::string topic_name(std::size_t i) {
  std::string s(1, 't');  // not "t" + ...: g++ 12 -O3 warns wrongly (-Wrestrict) there
  s += std::to_string(i);
  return s;
}

std::string request_head(const config& c, std::string_view path, std::size_t body_len, std::string_view type) {
  std::string r = "POST ";
  r += path;
  r += " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ";
  r += type;
  r += "\r\nContent-Length: " + std::to_string(body_len) + "\r\n";
  if (!c.token.empty()) r += "Authorization: Bearer " + c.token + "\r\n";
  r += "\r\n";
  return r;
}

void run_connection(const config& c, std::size_t index, clock_type::time_point end, result& out) {
  connection conn(c);
  rng r{0x9E3779B97F4A7C15ULL * (index + 1)};
  const std::string data(c.size, 'x');
  std::string req, body;
  int status = 0;
  while (clock_type::now() < end) {
    req.clear();
    std::size_t events = 0;
    if (c.batch == 0) {
      std::string path = c.single_path;
      if (const auto p = path.find("{topic}"); p != std::string::npos)
        path.replace(p, 7, topic_name(r.next() % c.topics));
      req = request_head(c, path, data.size(), "text/plain") + data;
      events = 1;
    } else {
      std::string nd;
      nd.reserve(c.batch * (data.size() + 48));
      for (std::size_t i = 0; i < c.batch; ++i) {
        nd += "{\"topic\":\"" + topic_name(r.next() % c.topics) + "\",\"event\":\"e\",\"data\":\"";
        nd += data;
        nd += "\"}\n";
      }
      req = request_head(c, c.batch_path, nd.size(), "application/x-ndjson") + nd;
      events = c.batch;
    }
    const auto t0 = clock_type::now();
    const bool ok = conn.exchange(req, status, body);
    const auto t1 = clock_type::now();
    out.latencies_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    ++out.requests;
    if (!ok || status < 200 || status > 299) {
      ++out.failed_requests;
      out.failed_events += events;
      if (out.first_error.empty())
        out.first_error = ok ? "status " + std::to_string(status) + ": " + body.substr(0, 200) : "connection failed";
      continue;
    }
    if (c.batch == 0) {
      ++out.events;
      continue;
    }
    // One answer line per event: {"id":...} when published.
    std::size_t published = 0, lines = 0;
    for (std::size_t p = 0; p < body.size();) {
      const auto lf = body.find('\n', p);
      const std::string_view line(body.data() + p, (lf == std::string::npos ? body.size() : lf) - p);
      ++lines;
      if (line.starts_with("{\"id\":")) ++published;
      else if (out.first_error.empty()) out.first_error = std::string(line.substr(0, 200));
      p = lf == std::string::npos ? body.size() : lf + 1;
    }
    out.events += published;
    out.failed_events += events - std::min(published, events);
    if (lines != events && out.first_error.empty()) out.first_error = "answer lines != events";
  }
}

double percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

int main(int argc, char** argv) {
  config c;
  std::string url;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--free-port") {
      std::printf("%u\n", free_port());
      return 0;
    }
    if (a == "--url") url = value();
    else if (a == "--single") c.single_path = value(), c.batch = 0;
    else if (a == "--batch") c.batch = std::stoul(value());
    else if (a == "--batch-path") c.batch_path = value();
    else if (a == "--topics") c.topics = std::max<std::size_t>(1, std::stoul(value()));
    else if (a == "--connections") c.connections = std::max<std::size_t>(1, std::stoul(value()));
    else if (a == "--seconds") c.seconds = std::stod(value());
    else if (a == "--size") c.size = std::stoul(value());
    else if (a == "--token") c.token = value();
    else if (a == "--server-pid") c.server_pids.push_back(std::stoi(value()));
    else if (a == "--label") c.label = value();
    else die("unknown option " + a);
  }
  if (!url.starts_with("http://")) die("--url http://HOST:PORT is required");
  {
    const std::string hp = url.substr(7, url.find('/', 7) - 7);
    const auto colon = hp.rfind(':');
    if (colon == std::string::npos) die("--url needs a port");
    c.host = hp.substr(0, colon);
    c.port = static_cast<unsigned short>(std::stoul(hp.substr(colon + 1)));
  }

  std::vector<result> results(c.connections);
  std::vector<std::thread> threads;
  const auto cpu0 = cpu_ticks(c.server_pids);
  const auto start = clock_type::now();
  const auto end = start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(c.seconds));
  for (std::size_t i = 0; i < c.connections; ++i)
    threads.emplace_back([&, i] { run_connection(c, i, end, results[i]); });
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
  const auto cpu1 = cpu_ticks(c.server_pids);

  result all;
  for (auto& r : results) {
    all.requests += r.requests;
    all.events += r.events;
    all.failed_requests += r.failed_requests;
    all.failed_events += r.failed_events;
    all.latencies_us.insert(all.latencies_us.end(), r.latencies_us.begin(), r.latencies_us.end());
    if (all.first_error.empty()) all.first_error = r.first_error;
  }
  const double eps = static_cast<double>(all.events) / elapsed;
  const double rps = static_cast<double>(all.requests) / elapsed;
  const double p50 = percentile(all.latencies_us, 0.50) / 1000, p99 = percentile(all.latencies_us, 0.99) / 1000;
  const double cpu_s = static_cast<double>(cpu1 - cpu0) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double cpu_us_per_event = all.events && !c.server_pids.empty() ? cpu_s * 1e6 / static_cast<double>(all.events) : 0;
  std::printf(
      "{\"label\":\"%s\",\"mode\":\"%s\",\"batch\":%zu,\"topics\":%zu,\"connections\":%zu,\"size\":%zu,"
      "\"seconds\":%.3f,\"requests\":%llu,\"events\":%llu,\"failed_requests\":%llu,\"failed_events\":%llu,"
      "\"events_per_s\":%.1f,\"requests_per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"server_cpu_s\":%.3f,"
      "\"server_cpu_us_per_event\":%.3f}\n",
      c.label.c_str(), c.batch ? "batch" : "single", c.batch ? c.batch : std::size_t{1}, c.topics, c.connections, c.size,
      elapsed, static_cast<unsigned long long>(all.requests), static_cast<unsigned long long>(all.events),
      static_cast<unsigned long long>(all.failed_requests), static_cast<unsigned long long>(all.failed_events), eps, rps,
      p50, p99, cpu_s, cpu_us_per_event);
  std::fprintf(stderr,
               "%s: %s%s, %zu topics, %zu connections, %zu B: %.0f events/s, %.0f requests/s, request p50 %.2f ms "
               "p99 %.2f ms, server CPU %.2f us/event%s%s\n",
               c.label.c_str(), c.batch ? "batches of " : "single-event POSTs",
               c.batch ? std::to_string(c.batch).c_str() : "", c.topics, c.connections, c.size, eps, rps, p50, p99,
               cpu_us_per_event, all.first_error.empty() ? "" : "; first error: ", all.first_error.c_str());
  return all.failed_requests || all.failed_events ? 1 : 0;
}
