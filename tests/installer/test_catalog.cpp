// The installer's catalog parser: the shipped catalog, and each kind of error with its line.
#include "installer/catalog.hpp"

#include <doctest/doctest.h>

#include <string>

// Own namespace: the file shares a translation unit with its test group's (tests/CMakeLists.txt).
namespace test_catalog_cases {

namespace {

std::string error_of(const std::string& text) {
  try {
    installer::parse_catalog(text, "cat.ini", "/nowhere", /*check_payloads=*/false);
  } catch (const installer::catalog_error& e) {
    return e.what();
  }
  return "no error";
}

const std::string ok_component = "[a]\ndescription = d\nversion = 1\nstep = copy files\n";

}  // namespace

TEST_SUITE("installer.catalog") {
  TEST_CASE("the shipped catalog: five components, one that fails on purpose, payloads present") {
    const auto cat = installer::load_catalog(SSE_INSTALLER_CATALOG);
    REQUIRE(cat.components.size() == 5);
    CHECK(cat.components[0].name == "core-runtime");
    CHECK(cat.components[0].version == "3.2.1");
    REQUIRE(cat.components[0].steps.size() == 2);
    CHECK(cat.components[0].steps[0].what == installer::step::kind::copy);
    CHECK(cat.components[0].steps[0].label == "copy files");
    CHECK(cat.components[0].steps[1].argv == std::vector<std::string>{"sh", "{payload}/setup.sh", "{target}"});
    CHECK(cat.components[0].steps[1].label == "run sh setup.sh <target>");
    CHECK(cat.find("broken-driver") != nullptr);
    CHECK(cat.find("nope") == nullptr);
  }

  TEST_CASE("parsing: comments, blank lines, spaces and several components") {
    const auto cat = installer::parse_catalog(
        "# c\n\n; also a comment\n[x-1]\n  description =  two words  \nversion=2.0\nstep = run echo  a   b\n" + ok_component,
        "cat.ini", "/p", false);
    REQUIRE(cat.components.size() == 2);
    CHECK(cat.components[0].description == "two words");
    CHECK(cat.components[0].steps[0].argv == std::vector<std::string>{"echo", "a", "b"});
    CHECK(cat.components[0].payload == "/p/x-1");
  }

  TEST_CASE("errors name the file, the line and the problem") {
    CHECK(error_of("") == "cat.ini: no component");
    CHECK(error_of("description = x\n") == "cat.ini:1: a key outside of any [component] section");
    CHECK(error_of("[Bad Name]\n") == "cat.ini:1: 'Bad Name' is not a component name (1-64 of a-z, 0-9, '-')");
    CHECK(error_of("[a\n") == "cat.ini:1: a section line must end with ']'");
    CHECK(error_of(ok_component + "[a]\n") == "cat.ini:5: component 'a' defined twice");
    CHECK(error_of("[a]\nversion = 1\nstep = copy f\n[b]\n") == "cat.ini:4: component 'a' has no description");
    CHECK(error_of("[a]\ndescription = d\nstep = copy f\n") == "cat.ini:3: component 'a' has no version");
    CHECK(error_of("[a]\ndescription = d\nversion = 1\n") == "cat.ini:3: component 'a' has no step");
    CHECK(error_of("[a]\njunk\n") == "cat.ini:2: expected 'key = value' or '[component]'");
    CHECK(error_of("[a]\ncolour = red\n") == "cat.ini:2: unknown key 'colour' (description, version, step)");
    CHECK(error_of("[a]\nversion =\n") == "cat.ini:2: 'version' has no value");
    CHECK(error_of("[a]\nstep = unpack x\n") == "cat.ini:2: unknown step kind 'unpack' (copy or run)");
    CHECK(error_of("[a]\nstep = copy ../etc\n") == "cat.ini:2: copy folder '../etc' must be a plain relative folder");
    CHECK(error_of("[a]\nstep = copy a b\n") == "cat.ini:2: 'step = copy' takes exactly one folder");
    CHECK(error_of("[a]\nstep = run\n") == "cat.ini:2: 'step = run' needs a program");
    CHECK(error_of("[a]\nstep = run sh -c rm;ls\n") ==
          "cat.ini:2: argument 'rm;ls' has shell characters; arguments are passed as they are, no shell");
    CHECK(error_of("[a]\ndescription = d\ndescription = e\n") == "cat.ini:3: description given twice");
    CHECK(error_of("[a]\ndescription = " + std::string(2000, 'x') + "\n") == "cat.ini:2: line longer than 1024 bytes");
    CHECK(error_of(std::string(70000, '#')) == "cat.ini: larger than 65536 bytes");
    std::string many;
    for (int i = 0; i < 33; ++i) many += "[c" + std::to_string(i) + "]\ndescription = d\nversion = 1\nstep = copy f\n";
    CHECK(error_of(many) == "cat.ini:129: more than 32 components");
    CHECK(error_of(std::string("[a]\nd\0x = 1\n", 12)) == "cat.ini:2: NUL byte");
  }

  TEST_CASE("missing payload folders and files are reported") {
    CHECK_THROWS_WITH_AS(installer::load_catalog("/nonexistent/catalog.ini"),
                         doctest::Contains("/nonexistent/catalog.ini: cannot read"), installer::catalog_error);
    CHECK_THROWS_WITH_AS(installer::parse_catalog(ok_component, "cat.ini", "/nonexistent", true),
                         "cat.ini:4: copy folder '/nonexistent/a/files' does not exist", installer::catalog_error);
  }
}

}  // namespace test_catalog_cases
