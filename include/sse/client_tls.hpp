/**
 * @file client_tls.hpp
 * @brief TLS (https) connections for sse::client, over Asio's OpenSSL stream. Optional: include it and
 *        link OpenSSL (OpenSSL::SSL) only if you need https.
 *
 * Usage:
 * @code
 *   auto tls = sse::make_tls_client_context();  // system trust store, peer verification on
 *   sse::client c(io, "https://example.com/events", {.https = sse::https_connections(tls)});
 * @endcode
 * The server certificate is verified against the host name (SNI is sent) unless the context was
 * made with `verify = false` (for tests and `sse-cat --insecure` only).
 */
#pragma once

#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl.hpp>
#include <asio/write.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sse/client.hpp"

namespace sse {

namespace detail {

class tls_connection final : public client_connection, public std::enable_shared_from_this<tls_connection> {
 public:
  tls_connection(const asio::any_io_executor& ex, std::shared_ptr<asio::ssl::context> ctx, std::size_t read_bytes)
      : ctx_(std::move(ctx)), resolver_(ex), stream_(ex, *ctx_), in_(std::max<std::size_t>(read_bytes, 512)) {}

  void async_connect(const url& u, connect_handler handler) override {
    // SNI, and the host name the certificate must match.
    std::error_code not_ip;
    (void)asio::ip::make_address(u.host, not_ip);
    if (not_ip) SSL_set_tlsext_host_name(stream_.native_handle(), u.host.c_str());
    if (ctx_verify_) stream_.set_verify_callback(asio::ssl::host_name_verification(u.host));
    resolver_.async_resolve(
        u.host, std::to_string(u.port),
        [self = shared_from_this(), handler = std::move(handler)](std::error_code ec,
                                                                 asio::ip::tcp::resolver::results_type results) {
          if (ec) return handler(ec);
          asio::async_connect(self->stream_.lowest_layer(), results,
                              [self, handler](std::error_code ec2, const asio::ip::tcp::endpoint&) {
                                if (ec2) return handler(ec2);
                                std::error_code ignored;
                                self->stream_.lowest_layer().set_option(asio::ip::tcp::no_delay(true), ignored);
                                self->stream_.async_handshake(asio::ssl::stream_base::client,
                                                              [self, handler](std::error_code ec3) { handler(ec3); });
                              });
        });
  }
  void async_write(std::string data, write_handler handler) override {
    out_ = std::move(data);
    asio::async_write(stream_, asio::buffer(out_),
                      [self = shared_from_this(), handler = std::move(handler)](std::error_code ec, std::size_t) {
                        handler(ec);
                      });
  }
  void async_read(read_handler handler) override {
    stream_.async_read_some(asio::buffer(in_),
                            [self = shared_from_this(), handler = std::move(handler)](std::error_code ec, std::size_t n) {
                              // A peer that closes without close_notify ends a close-delimited body as EOF does.
                              if (ec == asio::ssl::error::stream_truncated) ec = asio::error::eof;
                              handler(ec, std::string_view(self->in_.data(), n));
                            });
  }
  void close() noexcept override {
    resolver_.cancel();
    std::error_code ignored;
    stream_.lowest_layer().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream_.lowest_layer().close(ignored);
  }
  void set_verify(bool v) { ctx_verify_ = v; }

 private:
  std::shared_ptr<asio::ssl::context> ctx_;
  asio::ip::tcp::resolver resolver_;
  asio::ssl::stream<asio::ip::tcp::socket> stream_;
  std::string out_;
  std::vector<char> in_;
  bool ctx_verify_ = true;
};

}  // namespace detail

/// A TLS client context: TLS 1.2 or later, the system's trust store, and peer verification on
/// (`verify = false` accepts any certificate: for tests only).
inline std::shared_ptr<asio::ssl::context> make_tls_client_context(bool verify = true) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  if (verify) {
    ctx->set_default_verify_paths();
    ctx->set_verify_mode(asio::ssl::verify_peer);
  } else {
    ctx->set_verify_mode(asio::ssl::verify_none);
  }
  return ctx;
}

/// The https connection factory for client_options::https. Host names are verified when the context
/// verifies peers (asio::ssl::verify_peer).
inline connection_factory https_connections(std::shared_ptr<asio::ssl::context> ctx,
                                         std::size_t read_buffer_bytes = 16 * 1024) {
  return [ctx = std::move(ctx), read_buffer_bytes](const asio::any_io_executor& ex,
                                                   const url&) -> std::shared_ptr<client_connection> {
    auto t = std::make_shared<detail::tls_connection>(ex, ctx, read_buffer_bytes);
    t->set_verify((SSL_CTX_get_verify_mode(ctx->native_handle()) & SSL_VERIFY_PEER) != 0);
    return t;
  };
}

}  // namespace sse
