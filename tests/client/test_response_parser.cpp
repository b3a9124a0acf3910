// sse::http::response_parser and sse::http::chunked_decoder: whole, byte by byte, split at every offset.
#include "sse/http/response_parser.hpp"

#include <doctest/doctest.h>

#include <ostream>

#include <cstdio>
#include <iterator>
#include <string>
#include <vector>

using sse::http::body_framing;
using sse::http::response_errc;

namespace {

struct head_result {
  std::error_code ec;
  bool done = false;
  std::size_t consumed = 0;
  sse::http::response_head head;
};

// Feeds `input` cut at `cuts`; stops at completion or error like a caller would.
head_result parse_head(std::string_view input, const std::vector<std::size_t>& cuts, sse::http::response_limits limits = {}) {
  sse::http::response_parser p(limits);
  head_result r;
  std::size_t pos = 0;
  std::vector<std::size_t> all = cuts;
  all.push_back(input.size());
  for (const std::size_t end : all) {
    std::string_view piece = input.substr(pos, end - pos);
    pos = end;
    const std::size_t used = p.feed(piece, r.ec);
    r.consumed += used;
    if (r.ec || p.done()) break;
    REQUIRE(used == piece.size());
  }
  r.done = p.done();
  r.head = p.head();
  return r;
}

// Checks that whole, byte-by-byte and every two-way split give the same result.
head_result parse_all_ways(std::string_view input, sse::http::response_limits limits = {}) {
  const head_result whole = parse_head(input, {}, limits);
  std::vector<std::size_t> bytewise;
  for (std::size_t i = 1; i < input.size(); ++i) bytewise.push_back(i);
  const head_result bw = parse_head(input, bytewise, limits);
  CHECK(bw.ec == whole.ec);
  CHECK(bw.done == whole.done);
  CHECK(bw.consumed == whole.consumed);  // on error too: up to the byte at which it was found
  CHECK(bw.head.headers == whole.head.headers);
  for (std::size_t i = 1; i < input.size(); ++i) {
    const head_result split = parse_head(input, {i}, limits);
    CAPTURE(i);
    CHECK(split.ec == whole.ec);
    CHECK(split.done == whole.done);
    CHECK(split.consumed == whole.consumed);
    CHECK(split.head.status == whole.head.status);
    CHECK(split.head.headers == whole.head.headers);
  }
  return whole;
}

std::error_code code(response_errc e) { return sse::http::make_error_code(e); }

}  // namespace

TEST_CASE("response parser: a typical SSE head, then the body is left unconsumed") {
  const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\n"
      "Transfer-Encoding: chunked\r\nX-Empty:\r\nX-Spaces: \t a b \t\r\n\r\n";
  const std::string input = head + "5\r\ndata:\r\n";
  const auto r = parse_all_ways(input);
  CHECK_FALSE(r.ec);
  CHECK(r.done);
  CHECK(r.consumed == head.size());
  CHECK(r.head.status == 200);
  CHECK(r.head.reason == "OK");
  CHECK(r.head.version_minor == 1);
  CHECK(r.head.framing == body_framing::chunked);
  REQUIRE(r.head.headers.size() == 5);
  CHECK(r.head.headers[0] == sse::http::header_field{"Content-Type", "text/event-stream; charset=utf-8"});
  CHECK(r.head.headers[3] == sse::http::header_field{"X-Empty", ""});
  CHECK(r.head.headers[4] == sse::http::header_field{"X-Spaces", "a b"});
  CHECK(r.head.find("content-type") == "text/event-stream; charset=utf-8");
  CHECK_FALSE(r.head.find("Location").has_value());
}

TEST_CASE("response parser: framing per RFC 9112 section 6.3") {
  struct row {
    std::string head;
    body_framing framing;
    std::uint64_t length;
  };
  const std::vector<row> rows = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", body_framing::content_length, 42},
      {"HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n", body_framing::content_length, 7},
      {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", body_framing::content_length, 0},
      {"HTTP/1.1 200 OK\r\n\r\n", body_framing::close_delimited, 0},
      {"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\n", body_framing::close_delimited, 0},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n", body_framing::close_delimited, 0},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n", body_framing::chunked, 0},
      {"HTTP/1.1 204 No Content\r\n\r\n", body_framing::none, 0},
      {"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", body_framing::none, 0},
      {"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\n", body_framing::content_length, 3},
  };
  for (const auto& rw : rows) {
    const std::string& head = rw.head;
    const auto framing = rw.framing;
    const auto length = rw.length;
    CAPTURE(head);
    const auto r = parse_all_ways(head);
    CHECK_FALSE(r.ec);
    CHECK(r.done);
    CHECK(r.head.framing == framing);
    CHECK(r.head.content_length == length);
  }
}

TEST_CASE("response parser: bare LF line ends are accepted, status lines without a reason too") {
  const auto r = parse_all_ways("HTTP/1.1 503\nRetry-After: 5\n\n");
  CHECK_FALSE(r.ec);
  CHECK(r.done);
  CHECK(r.head.status == 503);
  CHECK(r.head.reason == "");
  CHECK(r.head.find("Retry-After") == "5");
  const auto r2 = parse_all_ways("HTTP/1.1 200 \r\n\r\n");
  CHECK(r2.done);
  CHECK(r2.head.reason == "");
}

TEST_CASE("response parser: interim 1xx responses are skipped") {
  const std::string input =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: x\n\n";
  const auto r = parse_all_ways(input);
  CHECK(r.done);
  CHECK(r.head.status == 200);
  REQUIRE(r.head.headers.size() == 1);
  CHECK(r.head.headers[0].name == "Content-Type");
  CHECK(r.consumed == input.size() - std::string("data: x\n\n").size());

  std::string many;
  for (int i = 0; i < 9; ++i) many += "HTTP/1.1 100 Continue\r\n\r\n";
  const auto too_many = parse_all_ways(many);
  CHECK(too_many.ec == code(response_errc::too_many_interim_responses));
  CHECK(too_many.consumed == many.size());  // the error is found at the end of the ninth head
}

TEST_CASE("response parser: bad heads are rejected with a precise error") {
  struct row {
    std::string head;
    response_errc error;
    std::size_t consumed = 0;  // 0: all of it (the error is found at the blank line ending the head)
  };
  const std::vector<row> rows = {
      {"ICY 200 OK\r\n\r\n", response_errc::invalid_status_line},
      {"\r\nHTTP/1.1 200 OK\r\n\r\n", response_errc::invalid_status_line, 2},  // an empty head
      {"HTTP/1.1\r\n\r\n", response_errc::invalid_status_line},
      {"HTTP/1.1 20\r\n\r\n", response_errc::invalid_status_line},
      {"HTTP/2 200 OK\r\n\r\n", response_errc::invalid_version},
      {"HTTP/1.2 200 OK\r\n\r\n", response_errc::invalid_version},
      {"http/1.1 200 OK\r\n\r\n", response_errc::invalid_status_line},
      {"HTTP/1.1 2x0 OK\r\n\r\n", response_errc::invalid_status_code},
      {"HTTP/1.1 099 Low\r\n\r\n", response_errc::invalid_status_code},
      {"HTTP/1.1 600 High\r\n\r\n", response_errc::invalid_status_code},
      {"HTTP/1.1 2000 OK\r\n\r\n", response_errc::invalid_status_code},
      {"HTTP/1.1 200 O\x01K\r\n\r\n", response_errc::invalid_reason},
      {"HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", response_errc::bare_cr},
      {"HTTP/1.1 200 OK\r\r\n\r\n", response_errc::bare_cr},
      {std::string("HTTP/1.1 200 OK\r\nA: \0\r\n\r\n", 25), response_errc::nul_character},
      {"HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", response_errc::obs_fold},
      {"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", response_errc::missing_colon},
      {"HTTP/1.1 200 OK\r\n: v\r\n\r\n", response_errc::empty_header_name},
      {"HTTP/1.1 200 OK\r\nName : v\r\n\r\n", response_errc::whitespace_before_colon},
      {"HTTP/1.1 200 OK\r\nNa(me: v\r\n\r\n", response_errc::invalid_header_name},
      {"HTTP/1.1 200 OK\r\nName: a\x7f\r\n\r\n", response_errc::invalid_header_value},
      {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", response_errc::invalid_content_length},
      {"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", response_errc::invalid_content_length},
      {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", response_errc::invalid_content_length},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", response_errc::conflicting_content_length},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n", response_errc::conflicting_content_length},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
       response_errc::content_length_with_transfer_encoding},
      {"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", response_errc::transfer_encoding_in_http10},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", response_errc::unsupported_transfer_coding},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", response_errc::unsupported_transfer_coding},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
       response_errc::unsupported_transfer_coding},
  };
  for (const auto& rw : rows) {
    const std::string& head = rw.head;
    const auto error = rw.error;
    CAPTURE(head);
    const auto r = parse_all_ways(head);
    CHECK(r.ec == code(error));
    CHECK(r.consumed == (rw.consumed ? rw.consumed : head.size()));
    CHECK_FALSE(r.done);
  }
}

TEST_CASE("response parser: limits on head size and field count") {
  std::string head = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 10; ++i) head += "X-" + std::to_string(i) + ": v\r\n";
  head += "\r\n";
  CHECK_FALSE(parse_all_ways(head, {.max_head_bytes = head.size()}).ec);
  CHECK(parse_all_ways(head, {.max_head_bytes = head.size()}).done);
  const auto too_large = parse_all_ways(head, {.max_head_bytes = head.size() - 1});
  CHECK(too_large.ec == code(response_errc::head_too_large));
  CHECK(too_large.consumed == head.size());  // up to the first byte beyond the limit
  CHECK_FALSE(parse_all_ways(head, {.max_headers = 10}).ec);
  CHECK(parse_all_ways(head, {.max_headers = 9}).ec == code(response_errc::too_many_headers));
  // An endless head without an empty line stops at the limit, however it is fed.
  const std::string endless(100, 'a');
  const auto endless_r = parse_all_ways(endless, {.max_head_bytes = 64});
  CHECK(endless_r.ec == code(response_errc::head_too_large));
  CHECK(endless_r.consumed == 65);
}

TEST_CASE("response parser: after an error no more input is accepted; reset starts over") {
  sse::http::response_parser p;
  std::error_code ec;
  CHECK(p.feed("XTTP/1.1 200 OK\r\n\r\n", ec) > 0);
  CHECK(ec == code(response_errc::invalid_status_line));
  CHECK(p.feed("HTTP/1.1 200 OK\r\n\r\n", ec) == 0);
  CHECK(ec == code(response_errc::invalid_status_line));
  p.reset();
  CHECK(p.feed("HTTP/1.1 200 OK\r\n\r\n", ec) == 19);
  CHECK_FALSE(ec);
  CHECK(p.done());
  CHECK(ec.message() == "Success");
  CHECK(code(response_errc::bare_cr).message() == "bare CR not followed by LF in the response");
  CHECK(std::string(code(response_errc::bare_cr).category().name()) == "sse.http.response");
}

// ---------------------------------------------------------------------------------------------

namespace {

struct chunk_result {
  std::string body;
  std::error_code ec;
  bool done = false;
  std::size_t consumed = 0;
};

chunk_result decode(std::string_view input, const std::vector<std::size_t>& cuts, sse::http::chunked_limits limits = {}) {
  sse::http::chunked_decoder d(limits);
  chunk_result r;
  std::size_t pos = 0;
  std::vector<std::size_t> all = cuts;
  all.push_back(input.size());
  for (const std::size_t end : all) {
    const std::string_view piece = input.substr(pos, end - pos);
    pos = end;
    const std::size_t used = d.feed(piece, [&](std::string_view data) { r.body.append(data); }, r.ec);
    r.consumed += used;
    if (r.ec || d.done()) break;
    REQUIRE(used == piece.size());
  }
  r.done = d.done();
  return r;
}

chunk_result decode_all_ways(std::string_view input, sse::http::chunked_limits limits = {}) {
  const chunk_result whole = decode(input, {}, limits);
  std::vector<std::size_t> bytewise;
  for (std::size_t i = 1; i < input.size(); ++i) bytewise.push_back(i);
  const chunk_result bw = decode(input, bytewise, limits);
  CHECK(bw.body == whole.body);
  CHECK(bw.ec == whole.ec);
  CHECK(bw.done == whole.done);
  CHECK(bw.consumed == whole.consumed);
  for (std::size_t i = 1; i < input.size(); ++i) {
    for (std::size_t j = i + 1; j < input.size(); j += 3) {
      const chunk_result split = decode(input, {i, j}, limits);
      CAPTURE(i);
      CAPTURE(j);
      CHECK(split.body == whole.body);
      CHECK(split.ec == whole.ec);
      CHECK(split.done == whole.done);
      CHECK(split.consumed == whole.consumed);
    }
  }
  return whole;
}

}  // namespace

TEST_CASE("chunked decoder: sizes, extensions, split CRLF, trailers, what follows the end") {
  const std::string body =
      "5\r\nhello\r\n"
      "1A;name=value;quoted=\"a b\"\r\nabcdefghijklmnopqrstuvwxyz\r\n"
      "3 ; ext\r\n\r\n\n\r\n"
      "0\r\nTrailer: x\r\nOther: y\r\n\r\n";
  const auto r = decode_all_ways(body + "GARBAGE");
  CHECK_FALSE(r.ec);
  CHECK(r.done);
  CHECK(r.body == "helloabcdefghijklmnopqrstuvwxyz\r\n\n");
  CHECK(r.consumed == body.size());
}

TEST_CASE("chunked decoder: bare LF line ends and upper-case hex") {
  const auto r = decode_all_ways("A\nabcdefghij\n0\n\n");
  CHECK_FALSE(r.ec);
  CHECK(r.done);
  CHECK(r.body == "abcdefghij");
}

TEST_CASE("chunked decoder: an incomplete body is not done and not an error") {
  const auto r = decode_all_ways("5\r\nhel");
  CHECK_FALSE(r.ec);
  CHECK_FALSE(r.done);
  CHECK(r.body == "hel");
}

TEST_CASE("chunked decoder: errors") {
  struct row {
    std::string input;
    response_errc error;
    std::string body;
    std::size_t consumed;  // up to and including the byte at which the error is found
  };
  const std::vector<row> rows = {
      {"x\r\n", response_errc::invalid_chunk_size, "", 1},
      {"\r\n", response_errc::invalid_chunk_size, "", 1},
      {";ext\r\n", response_errc::invalid_chunk_size, "", 1},
      {"5g\r\nhello\r\n", response_errc::invalid_chunk_size, "", 2},
      {"-5\r\n", response_errc::invalid_chunk_size, "", 1},
      {"5\rX", response_errc::invalid_chunk_size, "", 3},
      {"12345678901234567\r\n", response_errc::chunk_size_too_large, "", 17},
      {"FFFFFFFFFFFFFFFF\r\n", response_errc::chunk_size_too_large, "", 17},
      {"5;a=\x01\r\nhello\r\n", response_errc::invalid_chunk_extension, "", 5},
      {"5\r\nhelloX\r\n", response_errc::invalid_chunk_terminator, "hello", 9},
      {"5\r\nhello\rX", response_errc::invalid_chunk_terminator, "hello", 10},
      {"1\r\na\r\n0\r\nT: v\rX\r\n\r\n", response_errc::invalid_chunk_terminator, "a", 15},
  };
  for (const auto& rw : rows) {
    const std::string& input = rw.input;
    const auto error = rw.error;
    const std::string& body = rw.body;
    CAPTURE(input);
    const auto r = decode_all_ways(input);
    CHECK(r.ec == code(error));
    CHECK(r.body == body);
    CHECK(r.consumed == rw.consumed);
    CHECK_FALSE(r.done);
  }
}

TEST_CASE("chunked decoder: limits on extensions, trailers and chunk size") {
  const std::string ext = "1;" + std::string(100, 'e') + "\r\na\r\n0\r\n\r\n";
  CHECK_FALSE(decode_all_ways(ext, {.max_extension_bytes = 101}).ec);
  CHECK(decode_all_ways(ext, {.max_extension_bytes = 100}).ec == code(response_errc::chunk_extension_too_large));
  const std::string trailer = "0\r\nT: " + std::string(50, 'v') + "\r\n\r\n";
  const std::size_t trailer_bytes = trailer.size() - 3;
  CHECK(decode_all_ways(trailer, {.max_trailer_bytes = trailer_bytes}).done);
  CHECK(decode_all_ways(trailer, {.max_trailer_bytes = trailer_bytes - 1}).ec == code(response_errc::trailer_too_large));
  CHECK(decode("1001\r\n", {}, {.max_chunk_bytes = 0x1000}).ec == code(response_errc::chunk_size_too_large));
  CHECK_FALSE(decode("1000\r\n", {}, {.max_chunk_bytes = 0x1000}).ec);
}

TEST_CASE("chunked decoder: a large body in large chunks is passed through without copies") {
  std::string payload(300000, 'z');
  for (std::size_t i = 0; i < payload.size(); i += 7) payload[i] = static_cast<char>('a' + i % 26);
  std::string wire;
  for (std::size_t pos = 0; pos < payload.size(); pos += 65536) {
    const std::string piece = payload.substr(pos, 65536);
    char size[32];
    std::snprintf(size, sizeof size, "%zX\r\n", piece.size());
    wire += size + piece + "\r\n";
  }
  wire += "0\r\n\r\n";
  std::vector<std::size_t> cuts;
  for (std::size_t i = 4093; i < wire.size(); i += 4093) cuts.push_back(i);
  const auto r = decode(wire, cuts);
  CHECK_FALSE(r.ec);
  CHECK(r.done);
  CHECK(r.body == payload);
}
