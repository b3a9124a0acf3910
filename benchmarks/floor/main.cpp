// sse-bench-floor: the trivial single-threaded epoll SSE writer, the floor of the fan-out benchmark.
//
//   GET  /events/{topic}    answers a fixed SSE head (HTTP/1.1, chunked) and `: ok`, keeps the fd
//   POST /publish/{topic}   frames the body once as `id: N\ndata: ...\n\n` in one chunk, write()s it
//                           to every subscriber of the topic right away, answers 202 {"id":"N"}
//
// No history, no limits, no keepalive, no threads: what is left is the cost of the kernel (one
// write per subscriber per event) plus the least user-space work that still delivers every event
// (a per-connection backlog with EPOLLOUT when a socket buffer is full, so nothing is lost).
// With --port 0 it prints `sse-bench-floor listening on http://127.0.0.1:PORT` on stdout.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

constexpr std::string_view sse_head =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/event-stream; charset=utf-8\r\n"
    "Cache-Control: no-cache, no-store, no-transform\r\n"
    "X-Accel-Buffering: no\r\n"
    "Connection: keep-alive\r\n"
    "Transfer-Encoding: chunked\r\n\r\n"
    "5\r\n: ok\n\r\n";

struct conn {
  int fd = -1;
  bool sse = false;
  bool want_out = false;
  std::size_t slot = 0;  // index in its topic's subscriber list
  std::string topic;
  std::string in;   // request bytes not yet handled
  std::string out;  // bytes the socket did not take yet
};

struct topic_state {
  std::vector<int> subscribers;
  std::uint64_t seq = 0;
};

int ep = -1;
std::vector<std::unique_ptr<conn>> conns;  // by fd
std::unordered_map<std::string, topic_state> topics;

void set_out_interest(conn& c, bool on) {
  if (c.want_out == on) return;
  c.want_out = on;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0u);
  ev.data.fd = c.fd;
  epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &ev);
}

/// Writes now what the socket takes; keeps the rest for EPOLLOUT. Returns false on a dead socket.
bool send_bytes(conn& c, std::string_view bytes) {
  if (!c.out.empty()) {
    c.out.append(bytes);
    return true;
  }
  const ssize_t w = ::send(c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  if (w < 0 && errno != EAGAIN) return false;
  const std::size_t done = w < 0 ? 0 : static_cast<std::size_t>(w);
  if (done < bytes.size()) {
    c.out.append(bytes.substr(done));
    set_out_interest(c, true);
  }
  return true;
}

void close_conn(int fd) {
  conn* c = conns[static_cast<std::size_t>(fd)].get();
  if (!c) return;
  if (c->sse) {
    auto& subs = topics[c->topic].subscribers;
    const int last = subs.back();
    subs[c->slot] = last;
    conns[static_cast<std::size_t>(last)]->slot = c->slot;
    subs.pop_back();
  }
  ::close(fd);
  conns[static_cast<std::size_t>(fd)].reset();
}

void publish(const std::string& topic, std::string_view body, std::string& id) {
  auto& t = topics[topic];
  id = std::to_string(++t.seq);
  std::string ev = "id: " + id + "\n";
  for (;;) {  // one data line per body line
    const auto nl = body.find('\n');
    ev += "data: ";
    ev += body.substr(0, nl);
    ev += '\n';
    if (nl == std::string_view::npos) break;
    body.remove_prefix(nl + 1);
  }
  ev += '\n';
  char hex[20];
  auto [p, ec] = std::to_chars(hex, hex + sizeof hex, ev.size(), 16);
  (void)ec;
  std::string chunk(hex, p);
  chunk += "\r\n";
  chunk += ev;
  chunk += "\r\n";
  std::vector<int> dead;
  for (const int fd : t.subscribers)
    if (!send_bytes(*conns[static_cast<std::size_t>(fd)], chunk)) dead.push_back(fd);
  for (const int fd : dead) close_conn(fd);
}

/// Handles complete requests in c.in. Returns false to close the connection.
bool handle_requests(conn& c) {
  for (;;) {
    const auto end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) return c.in.size() < 65536;
    const std::string_view head(c.in.data(), end + 4);
    std::size_t length = 0;
    for (std::size_t pos = head.find("\r\n"); pos < end; pos = head.find("\r\n", pos + 2)) {
      const std::string_view line = head.substr(pos + 2, head.find("\r\n", pos + 2) - pos - 2);
      if (line.size() > 15 && strncasecmp(line.data(), "content-length:", 15) == 0) {
        std::string_view v = line.substr(15);
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        std::from_chars(v.data(), v.data() + v.size(), length);
      }
    }
    if (c.in.size() < end + 4 + length) return true;  // body incomplete
    const auto sp1 = head.find(' ');
    const auto sp2 = head.find(' ', sp1 + 1);
    if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) return false;
    const std::string_view method = head.substr(0, sp1);
    const std::string_view path = head.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view body(c.in.data() + end + 4, length);
    if (method == "GET" && path.rfind("/events/", 0) == 0) {
      c.sse = true;
      c.topic = std::string(path.substr(8));
      auto& subs = topics[c.topic].subscribers;
      c.slot = subs.size();
      subs.push_back(c.fd);
      c.in.clear();
      c.in.shrink_to_fit();
      return send_bytes(c, sse_head);
    }
    std::string reply;
    if (method == "POST" && path.rfind("/publish/", 0) == 0) {
      std::string id;
      publish(std::string(path.substr(9)), body, id);
      const std::string json = "{\"id\":\"" + id + "\"}";
      reply = "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: " +
              std::to_string(json.size()) + "\r\n\r\n" + json;
    } else {
      reply = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    }
    c.in.erase(0, end + 4 + length);
    if (!send_bytes(c, reply)) return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::uint16_t port = 8080;
  std::string bind = "127.0.0.1";
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--port" && i + 1 < argc) port = static_cast<std::uint16_t>(std::atoi(argv[++i]));
    else if (a == "--bind" && i + 1 < argc) bind = argv[++i];
    else {
      std::fprintf(stderr, "usage: sse-bench-floor [--bind ADDR] [--port N]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  std::signal(SIGPIPE, SIG_IGN);
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  const int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (inet_pton(AF_INET, bind.c_str(), &addr.sin_addr) != 1) return 2;
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(lfd, 4096) != 0) {
    std::perror("sse-bench-floor: bind/listen");
    return 1;
  }
  socklen_t len = sizeof addr;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::printf("sse-bench-floor listening on http://%s:%u\n", bind.c_str(), ntohs(addr.sin_port));
  std::fflush(stdout);

  ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event lev{};
  lev.events = EPOLLIN;
  lev.data.fd = lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
  std::vector<epoll_event> evs(1024);
  char buf[65536];
  for (;;) {
    const int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), -1);
    for (int i = 0; i < n; ++i) {
      const epoll_event& e = evs[static_cast<std::size_t>(i)];
      const int fd = e.data.fd;
      if (fd == lfd) {
        for (;;) {
          const int cfd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (cfd < 0) break;
          setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          if (conns.size() <= static_cast<std::size_t>(cfd)) conns.resize(static_cast<std::size_t>(cfd) * 2 + 64);
          conns[static_cast<std::size_t>(cfd)] = std::make_unique<conn>();
          conns[static_cast<std::size_t>(cfd)]->fd = cfd;
          epoll_event ev{};
          ev.events = EPOLLIN | EPOLLRDHUP;
          ev.data.fd = cfd;
          epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
        }
        continue;
      }
      conn* c = conns[static_cast<std::size_t>(fd)].get();
      if (!c) continue;
      if (e.events & EPOLLOUT) {
        const ssize_t w = ::send(fd, c->out.data(), c->out.size(), MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) {
          close_conn(fd);
          continue;
        }
        if (w > 0) c->out.erase(0, static_cast<std::size_t>(w));
        if (c->out.empty()) {
          c->out.shrink_to_fit();
          set_out_interest(*c, false);
        }
      }
      if (e.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        const ssize_t r = ::read(fd, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
          close_conn(fd);
          continue;
        }
        if (r > 0 && !c->sse) {
          c->in.append(buf, static_cast<std::size_t>(r));
          if (!handle_requests(*c)) close_conn(fd);
        }
      }
    }
  }
}
