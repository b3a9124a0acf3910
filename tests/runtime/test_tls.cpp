#include "sse/transport/tls.hpp"

#include <doctest/doctest.h>

#include <asio/io_context.hpp>
#include <asio/read.hpp>
#include <asio/ssl.hpp>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "../support/net.hpp"
#include "sse/hub.hpp"

using asio::ip::tcp;

namespace {

/// A throw-away self-signed certificate for "localhost", made with OpenSSL's API at test time.
struct self_signed {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  self_signed() {
    key = EVP_EC_gen("P-256");
    REQUIRE(key);
    cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    REQUIRE(X509_sign(cert, key, EVP_sha256()) > 0);
  }
  ~self_signed() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

}  // namespace

TEST_SUITE("runtime.net.tls") {
  TEST_CASE("a TLS client reads the exact stream") {
    self_signed id;
    asio::ssl::context server_ctx(asio::ssl::context::tls_server);
    REQUIRE(SSL_CTX_use_certificate(server_ctx.native_handle(), id.cert) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey(server_ctx.native_handle(), id.key) == 1);
    asio::ssl::context client_ctx(asio::ssl::context::tls_client);
    REQUIRE(X509_STORE_add_cert(SSL_CTX_get_cert_store(client_ctx.native_handle()), id.cert) == 1);
    client_ctx.set_verify_mode(asio::ssl::verify_peer);

    asio::io_context ioc;
    sse::metrics m;
    sse::hub hub(ioc, {.history = {.epoch = "ep"}, .keepalive = std::nullopt, .metrics = &m});
    hub.publish("t", sse::event{.data = "before"});
    tcp::acceptor acc(ioc, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    std::shared_ptr<sse::tls_stream> server;
    std::unique_ptr<asio::ssl::stream<tcp::socket>> pending;
    acc.async_accept([&](std::error_code ec, tcp::socket s) {
      REQUIRE_FALSE(ec);
      pending = std::make_unique<asio::ssl::stream<tcp::socket>>(std::move(s), server_ctx);
      pending->async_handshake(asio::ssl::stream_base::server, [&](std::error_code hec) {
        REQUIRE_FALSE(hec);
        server = sse::tls_stream::create(sse::tls_transport(std::move(*pending)),
                                         {.head = sse_test::net_head, .metrics = &m});
        hub.subscribe(server, "t", "ep-0");
      });
    });
    asio::ssl::stream<tcp::socket> client(ioc, client_ctx);
    std::string received;
    std::error_code read_ec;
    bool eof = false;
    client.lowest_layer().async_connect(acc.local_endpoint(), [&](std::error_code ec) {
      REQUIRE_FALSE(ec);
      client.async_handshake(asio::ssl::stream_base::client, [&](std::error_code hec) {
        REQUIRE_FALSE(hec);
        asio::async_read(client, asio::dynamic_buffer(received), [&](std::error_code e, std::size_t) {
          read_ec = e;
          eof = true;
        });
      });
    });
    sse_test::round_trip(ioc, hub, [&] { return server; }, [&] { return received; }, [&] { return eof; });
    // The server closes without waiting for close_notify; the body's last chunk marks the end.
    CHECK((read_ec == asio::ssl::error::stream_truncated || read_ec == asio::error::eof));
    CHECK(received == sse_test::expected_round_trip());
    CHECK(m.connections_open == 0);
    CHECK(m.events_delivered == 3);
  }
}
