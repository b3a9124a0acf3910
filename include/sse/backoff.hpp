/**
 * @file backoff.hpp
 * @brief sse::backoff_policy, the one exponential backoff of the library: sse::client's waits after
 *        failed attempts and the Redis connection's reconnects use it.
 *
 * The n-th consecutive failure (n from 0) waits
 *
 *     ceiling(n) = min(max, base * 2^n)          (saturating: no overflow for any n)
 *     delay(n)   = uniform(0, ceiling(n))        with backoff_jitter::full (the default)
 *     delay(n)   = ceiling(n)                    with backoff_jitter::none
 *
 * Why full jitter: when many clients lose the same server at the same moment (a deploy, a failover),
 * any schedule that keeps them close together (no jitter, or a +-25 % band around the same value)
 * brings them back as a herd, attempt after attempt. Spreading each wait over the whole interval
 * [0, ceiling] decorrelates them fastest and gives the least total work for the server; it is the
 * default AWS recommends ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015) and what
 * gRPC-style clients converge to. The price, an occasional very short wait, is bounded by the growth
 * of the ceiling. `none` is for schedules that must be exact (tests, tools).
 *
 * Sans-io and pure: the randomness is a parameter (one 64-bit value, e.g. from std::mt19937_64),
 * so a delay is a deterministic function of (policy, attempt, random value), identical on every
 * standard library (no std::uniform_int_distribution, whose output is implementation-defined).
 * Standard library only: part of the core layer.
 * @see https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
 */
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace sse {

/// How a backoff delay is drawn below its ceiling.
enum class backoff_jitter {
  full,  ///< uniform in [0, ceiling] (the default)
  none,  ///< exactly the ceiling
};

/// Exponential backoff with a cap: a value type, cheap to copy. A negative base or max counts as 0.
struct backoff_policy {
  std::chrono::milliseconds base{500};    ///< the ceiling of the first failure (n = 0)
  std::chrono::milliseconds max{30000};   ///< no ceiling (and no capped wait) goes above this
  backoff_jitter jitter = backoff_jitter::full;

  /// min(max, base * 2^attempt), without overflow for any attempt.
  constexpr std::chrono::milliseconds ceiling(unsigned attempt) const noexcept {
    const std::int64_t hi = std::max<std::int64_t>(max.count(), 0);
    std::int64_t c = std::min<std::int64_t>(std::max<std::int64_t>(base.count(), 0), hi);
    for (unsigned i = 0; i < attempt && c > 0 && c < hi; ++i) c = c > hi / 2 ? hi : c * 2;
    return std::chrono::milliseconds(std::min(c, hi));
  }

  /// The wait before the next try after the `attempt`-th consecutive failure (from 0), given one
  /// uniformly distributed 64-bit random value: `random % (ceiling + 1)` with full jitter (the
  /// modulo bias is below 2^-24 for any ceiling under 34 years), the ceiling itself without.
  constexpr std::chrono::milliseconds delay(unsigned attempt, std::uint64_t random) const noexcept {
    const auto c = ceiling(attempt);
    if (jitter == backoff_jitter::none) return c;
    const auto span = static_cast<std::uint64_t>(c.count()) + 1;
    return std::chrono::milliseconds(static_cast<std::int64_t>(random % span));
  }

  /// A wait asked for from outside (a `Retry-After`), capped at `max` (and not negative).
  constexpr std::chrono::milliseconds cap(std::chrono::milliseconds asked) const noexcept {
    const std::int64_t hi = std::max<std::int64_t>(max.count(), 0);
    return std::chrono::milliseconds(std::clamp<std::int64_t>(asked.count(), 0, hi));
  }

  friend constexpr bool operator==(const backoff_policy&, const backoff_policy&) = default;
};

}  // namespace sse
