// The one doctest main shared by every test executable.
//
// Several CTest tests can share one executable (a test group, see sse_add_test's GROUP in
// tests/CMakeLists.txt): each runs it with `--source-file=` filters naming its own files. A filter
// that matches no test case (a renamed file, a typo in CMake) would pass silently, so a run with a
// source-file filter that selects no test case fails.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <string_view>

namespace {

unsigned selected_test_cases = 0;

/// Counts the test cases that pass the filters (a listener: it prints nothing).
struct selection_counter final : doctest::IReporter {
  explicit selection_counter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& stats) override {
    selected_test_cases = stats.numTestCasesPassingFilters;
  }
  void test_case_start(const doctest::TestCaseData&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

}  // namespace

DOCTEST_REGISTER_LISTENER("sse_selection_counter", 1, selection_counter);

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int result = context.run();
  if (context.shouldExit()) return result;
  bool source_filter = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    source_filter = source_filter || arg.starts_with("--source-file=") || arg.starts_with("-sf=");
  }
  if (source_filter && selected_test_cases == 0) {
    std::fputs("no test case matches the --source-file filter\n", stderr);
    return 1;
  }
  return result;
}
