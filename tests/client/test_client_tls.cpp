// sse::client over TLS (sse/client_tls.hpp): a self-signed certificate made in-process, a TLS front
// that terminates TLS and forwards to the plain test server, verification on and off.
#include "sse/client_tls.hpp"

#include <doctest/doctest.h>

#include <ostream>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "client_support.hpp"
#include "test_server.hpp"

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_client_tls_cases {

using namespace std::chrono_literals;
using sse_test::reply;
using sse_test::request;
using sse_test::use_tuple;

namespace {

struct cert_pair {
  std::string cert_pem, key_pem;
};

// A self-signed P-256 certificate for DNS:localhost (and nothing else), valid for an hour.
cert_pair make_self_signed() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  REQUIRE(key != nullptr);
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  for (const auto& [nid, value] : {std::pair{NID_subject_alt_name, "DNS:localhost"},
                                   std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    REQUIRE(ext != nullptr);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  REQUIRE(X509_sign(x, key, EVP_sha256()) > 0);
  auto to_string = [](BIO* bio) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string s(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return s;
  };
  BIO* cb = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cb, x);
  BIO* kb = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(kb, key, nullptr, nullptr, 0, nullptr, nullptr);
  cert_pair out{to_string(cb), to_string(kb)};
  X509_free(x);
  EVP_PKEY_free(key);
  return out;
}

/// Terminates TLS on 127.0.0.1:0 and forwards the plain bytes to a local port.
class tls_front {
 public:
  tls_front(asio::io_context& io, const cert_pair& cert, std::uint16_t upstream)
      : io_(io), ctx_(asio::ssl::context::tls_server), acceptor_(io), upstream_(upstream) {
    ctx_.use_certificate_chain(asio::buffer(cert.cert_pem));
    ctx_.use_private_key(asio::buffer(cert.key_pem), asio::ssl::context::pem);
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.bind(ep);
    acceptor_.listen();
    asio::co_spawn(io_, accept_loop(), asio::detached);
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int handshakes_ok = 0, handshakes_failed = 0;

 private:
  struct state {
    state(asio::ip::tcp::socket s, asio::ssl::context& ctx, asio::io_context& io) : tls(std::move(s), ctx), plain(io) {}
    asio::ssl::stream<asio::ip::tcp::socket> tls;
    asio::ip::tcp::socket plain;
    void close() {
      std::error_code ignored;
      tls.lowest_layer().close(ignored);
      plain.close(ignored);
    }
  };

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
      if (ec) co_return;
      asio::co_spawn(io_, session(std::make_shared<state>(std::move(socket), ctx_, io_)), asio::detached);
    }
  }

  asio::awaitable<void> session(std::shared_ptr<state> st) {
    auto [ec] = co_await st->tls.async_handshake(asio::ssl::stream_base::server, use_tuple);
    if (ec) {
      ++handshakes_failed;
      st->close();
      co_return;
    }
    ++handshakes_ok;
    auto [cec] = co_await st->plain.async_connect({asio::ip::make_address("127.0.0.1"), upstream_}, use_tuple);
    if (cec) co_return st->close();
    asio::co_spawn(io_, pump(st, st->tls, st->plain), asio::detached);
    co_await pump(st, st->plain, st->tls);
  }

  template <class From, class To>
  static asio::awaitable<void> pump(std::shared_ptr<state> st, From& from, To& to) {
    char buf[4096];
    for (;;) {
      auto [ec, n] = co_await from.async_read_some(asio::buffer(buf), use_tuple);
      if (ec) break;
      auto [wec, wn] = co_await asio::async_write(to, asio::buffer(buf, n), use_tuple);
      if (wec) break;
    }
    st->close();
  }

  asio::io_context& io_;
  asio::ssl::context ctx_;
  asio::ip::tcp::acceptor acceptor_;
  std::uint16_t upstream_;
};

sse_test::test_server::handler numbered(int total) {
  return [total](const request& req, std::size_t) {
    const std::string last = req.header("Last-Event-ID");
    reply r{.hold_open = true};
    for (int i = last.empty() ? 1 : std::stoi(last) + 1; i <= total; ++i) r.pieces.push_back(sse_test::numbered_events(i, i));
    return r;
  };
}

}  // namespace

TEST_CASE("tls: https with the certificate verified against the host name") {
  const cert_pair cert = make_self_signed();
  asio::io_context io;
  sse_test::test_server server(io, numbered(3));
  tls_front front(io, cert, server.port());
  auto ctx = sse::make_tls_client_context(true);
  ctx->add_certificate_authority(asio::buffer(cert.cert_pem));
  const std::string url = "https://localhost:" + std::to_string(front.port()) + "/events";
  sse::client c(io, url, {.backoff_base = 5ms, .backoff_max = 20ms, .https = sse::https_connections(ctx)});
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.events.size() >= 3; }));
  CHECK(rec.events == sse_test::expected_numbered(1, 3));
  CHECK(front.handshakes_ok == 1);
  REQUIRE(server.requests().size() == 1);
  CHECK(server.requests()[0].header("Host") == "localhost:" + std::to_string(front.port()));
}

TEST_CASE("tls: an untrusted certificate or a wrong host name fails the connection, with the reason") {
  const cert_pair cert = make_self_signed();
  asio::io_context io;
  sse_test::test_server server(io, numbered(3));
  tls_front front(io, cert, server.port());
  auto trusted = sse::make_tls_client_context(true);
  trusted->add_certificate_authority(asio::buffer(cert.cert_pem));
  struct row {
    std::string url;
    std::shared_ptr<asio::ssl::context> ctx;
  };
  const std::vector<row> rows = {
      {"https://localhost:" + std::to_string(front.port()) + "/events", sse::make_tls_client_context(true)},
      {"https://127.0.0.1:" + std::to_string(front.port()) + "/events", trusted},  // not in the certificate
  };
  for (const auto& r : rows) {
    CAPTURE(r.url);
    sse::client c(io, r.url, {.backoff_base = 1ms, .backoff_max = 2ms, .max_retries = 1, .https = sse::https_connections(r.ctx)});
    sse_test::recorder rec;
    rec.attach(c);
    c.start();
    REQUIRE(sse_test::run_until(io, [&] { return rec.closed.has_value(); }));
    CHECK(rec.events.empty());
    CHECK(rec.retries.size() == 1);
    CHECK(rec.closed->code == sse::client_errc::retry_limit);
    CHECK(rec.closed->message.find("certificate verify failed") != std::string::npos);
  }
  CHECK(server.requests().empty());
}

TEST_CASE("tls: verification off accepts any certificate") {
  const cert_pair cert = make_self_signed();
  asio::io_context io;
  sse_test::test_server server(io, numbered(2));
  tls_front front(io, cert, server.port());
  const std::string url = "https://127.0.0.1:" + std::to_string(front.port()) + "/events";
  sse::client c(io, url, {.https = sse::https_connections(sse::make_tls_client_context(false))});
  sse_test::recorder rec;
  rec.attach(c);
  c.start();
  REQUIRE(sse_test::run_until(io, [&] { return rec.events.size() >= 2; }));
  CHECK(rec.events == sse_test::expected_numbered(1, 2));
}

}  // namespace test_client_tls_cases
