// Command lines of the example programs (sse-hub, sse-installer, sse-cat). Not part of the library.
//
// CLI11 (Debian's libcli11-dev) parses; this file adds the rules every program shares:
//  - every numeric flag is parsed and checked in ONE place, parse_number(): plain decimal only
//    (no sign, no hex; a decimal point and exponent only for seconds), finite, and within the range
//    the flag documents (the range is appended to its --help text from the same numbers);
//  - every usage error prints "PROGRAM: message" naming the flag, then a hint, and exits with 2;
//  - a flag given twice keeps its last value (as the hand-written loops did); repeatable flags say so.
#pragma once

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "sse/logger.hpp"

namespace sse_example {

/// A bad command line: the message names the flag.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The only number parser of the command lines. Integers: decimal digits only, no sign; seconds
/// (floating point): digits with an optional fraction and exponent. The value must be finite and
/// within [min, max]; otherwise a usage_error naming `flag` and the accepted range.
template <class T>
T parse_number(std::string_view flag, std::string_view text, T min, T max) {
  static_assert(std::is_arithmetic_v<T>);
  auto bad = [&] {
    if constexpr (std::is_floating_point_v<T>)
      return usage_error(fmt::format("{} takes a number from {} to {}, not '{}'", flag, min, max, sse::log_escape(text, 40)));
    else
      return usage_error(fmt::format("{} takes a whole number from {} to {}, not '{}'", flag, min, max,
                                     sse::log_escape(text, 40)));
  };
  // Digits first (from_chars would also take "inf", "nan", "-1", hex floats...).
  if (text.empty() || text.front() < '0' || text.front() > '9') throw bad();
  T v{};
  const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || p != text.data() + text.size()) throw bad();
  if constexpr (std::is_floating_point_v<T>)
    if (!std::isfinite(v)) throw bad();
  if (v < min || v > max) throw bad();
  return v;
}

/// Lists "a, b or c".
inline std::string one_of(const std::vector<std::string>& names) {
  std::string s;
  for (std::size_t i = 0; i < names.size(); ++i) s += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return s;
}

/// A program's command line. Declare the flags, then call parse() first thing in main().
class command_line {
 public:
  /// `synopsis`: "sse-hub [options]"; `intro`: the paragraph(s) --help prints before the options.
  command_line(std::string program, std::string synopsis, std::string intro)
      : program_(std::move(program)), app_(std::make_unique<CLI::App>("", program_)) {
    auto f = std::make_shared<help_formatter>("usage: " + synopsis + "\n\n" + intro);
    f->column_width(30);
    app_->formatter(f);
    app_->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)->group("options");
    app_->set_help_flag("-h,--help", "this text")->group("options");
  }

  const std::string& program() const { return program_; }
  CLI::App& app() { return *app_; }

  /// "PROGRAM: msg" and a hint on stderr, exit status 2.
  [[noreturn]] void die(std::string_view msg) const {
    std::fprintf(stderr, "%s: %.*s\n(see %s --help)\n", program_.c_str(), static_cast<int>(msg.size()), msg.data(),
                 program_.c_str());
    std::exit(2);
  }

  /// A flag without a value.
  void flag(const std::string& names, bool& out, const std::string& help) {
    app_->add_flag_function(names, [&out](std::int64_t) { out = true; }, help);
  }

  /// A text value; `non_empty`: "" is refused.
  void text(const std::string& names, std::string& out, const std::string& label, const std::string& help,
            bool non_empty = false) {
    option(names, label, help, [&out, non_empty, n = names](const std::string& v) {
      if (non_empty && v.empty()) throw usage_error(fmt::format("{} must not be empty", long_name(n)));
      out = v;
    });
  }

  /// A text value that may be given several times; each adds one.
  void texts(const std::string& names, std::vector<std::string>& out, const std::string& label, const std::string& help,
             bool non_empty = true) {
    app_->add_option_function<std::vector<std::string>>(
            names,
            [&out, non_empty, n = names](const std::vector<std::string>& vs) {
              for (const auto& v : vs) {
                if (non_empty && v.empty()) throw usage_error(fmt::format("{} must not be empty", long_name(n)));
                out.push_back(v);
              }
            },
            help + " (repeatable)")
        ->option_text(label)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  }

  /// A whole number in [min, max] (the range is added to the help).
  template <class T>
  void number(const std::string& names, T& out, const std::string& label, const std::string& help, T min, T max) {
    static_assert(std::is_integral_v<T>);
    option(names, label, fmt::format("{} ({} to {})", help, min, max),
           [&out, min, max, n = names](const std::string& v) { out = parse_number<T>(long_name(n), v, min, max); });
  }

  /// Seconds with decimals, in [min, max]; handed to `set` as milliseconds (rounded, at least 1 ms
  /// when the value is not 0).
  void seconds(const std::string& names, std::function<void(std::chrono::milliseconds)> set, const std::string& help,
               double min, double max) {
    option(names, "S", fmt::format("{} ({} to {} s)", help, min, max), [set = std::move(set), min, max, n = names](const std::string& v) {
      const double s = parse_number<double>(long_name(n), v, min, max);
      auto ms = static_cast<long long>(std::llround(s * 1000.0));
      if (ms == 0 && s > 0) ms = 1;
      set(std::chrono::milliseconds(ms));
    });
  }

  /// One of a few names.
  template <class T>
  void choice(const std::string& names, T& out, const std::string& help, std::vector<std::pair<std::string, T>> values) {
    std::vector<std::string> keys;
    for (const auto& [k, v] : values) keys.push_back(k);
    std::string label;
    for (const auto& k : keys) label += (label.empty() ? "" : "|") + k;
    option(names, label, help, [&out, values, keys, n = names](const std::string& v) {
      for (const auto& [k, val] : values)
        if (k == v) {
          out = val;
          return;
        }
      throw usage_error(fmt::format("{} is {}, not '{}'", long_name(n), one_of(keys), sse::log_escape(v, 40)));
    });
  }

  void log_level(sse::log_level& out, const std::string& help) {
    choice<sse::log_level>("--log-level", out, help,
                           {{"trace", sse::log_level::trace},
                            {"debug", sse::log_level::debug},
                            {"info", sse::log_level::info},
                            {"warn", sse::log_level::warn},
                            {"error", sse::log_level::error}});
  }

  /// Parses; prints the help and exits 0 for --help; dies (status 2) on any usage error.
  void parse(int argc, const char* const* argv) {
    try {
      app_->parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
      std::fputs(app_->help().c_str(), stdout);
      std::exit(0);
    } catch (const CLI::ParseError& e) {
      die(e.what());
    } catch (const usage_error& e) {
      die(e.what());
    }
  }

  /// The --help text.
  std::string help() const { return app_->help(); }

 private:
  /// "--a,-b" -> "--a" (the name used in messages).
  static std::string long_name(const std::string& names) {
    std::string best;
    std::size_t start = 0;
    while (start <= names.size()) {
      auto end = names.find(',', start);
      if (end == std::string::npos) end = names.size();
      const std::string n = names.substr(start, end - start);
      if (best.empty() || n.starts_with("--")) best = n;
      start = end + 1;
    }
    return best;
  }

  void option(const std::string& names, const std::string& label, const std::string& help,
              std::function<void(const std::string&)> set) {
    app_->add_option_function<std::string>(names, std::move(set), help)->option_text(label);
  }

  /// Help: our usage paragraph instead of CLI11's, then the options in declaration order.
  class help_formatter : public CLI::Formatter {
   public:
    explicit help_formatter(std::string head) : head_(std::move(head)) {}
    std::string make_description(const CLI::App*) const override { return {}; }
    std::string make_usage(const CLI::App*, std::string) const override { return head_; }

   private:
    std::string head_;
  };

  std::string program_;
  std::unique_ptr<CLI::App> app_;
};

}  // namespace sse_example
