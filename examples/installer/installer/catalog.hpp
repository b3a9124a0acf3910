// The installer's component catalog: a small INI file, parsed strictly with bounded sizes and
// errors that name the file and line.
//
//   # comment
//   [component-name]                 1..64 of a-z 0-9 '-', starting with a letter or digit
//   description = text               required
//   version = text                   required
//   step = copy FOLDER               copy <catalog dir>/<component>/FOLDER/ into the target folder
//   step = run PROGRAM ARG...        run PROGRAM (found on PATH) with this fixed argument list, in
//                                    the target folder; {payload} and {target} in an argument are
//                                    replaced by the component's catalog folder and the target
//                                    folder. Arguments are split on spaces; no shell is involved.
#pragma once

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace installer {

struct step {
  enum class kind { copy, run } what = kind::copy;
  std::string label;              ///< shown as the progress step, e.g. "copy files"
  std::string folder;             ///< copy: the folder under the component's catalog folder
  std::vector<std::string> argv;  ///< run: the fixed argument list (placeholders not yet replaced)
};

struct component {
  std::string name, description, version;
  std::filesystem::path payload;  ///< <catalog dir>/<name>
  std::vector<step> steps;
};

struct catalog {
  std::filesystem::path file;
  std::vector<component> components;

  const component* find(std::string_view name) const {
    for (const auto& c : components)
      if (c.name == name) return &c;
    return nullptr;
  }
};

class catalog_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct catalog_limits {
  std::size_t max_file_bytes = 64 * 1024;
  std::size_t max_line_bytes = 1024;
  std::size_t max_components = 32;
  std::size_t max_steps = 16;
  std::size_t max_args = 32;
};

inline bool is_component_name(std::string_view s) {
  if (s.empty() || s.size() > 64 || s.front() == '-') return false;
  for (const char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return true;
}

namespace detail {
inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}
inline std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> out;
  while (true) {
    s = trim(s);
    if (s.empty()) return out;
    const auto end = s.find_first_of(" \t");
    out.emplace_back(s.substr(0, end));
    if (end == std::string_view::npos) return out;
    s.remove_prefix(end);
  }
}
}  // namespace detail

/// Parses catalog text. `where` names the file in messages; `dir` is the folder payloads live in
/// (checked only when `check_payloads`).
inline catalog parse_catalog(std::string_view text, const std::string& where, const std::filesystem::path& dir,
                             bool check_payloads = true, const catalog_limits& lim = {}) {
  catalog cat;
  cat.file = where;
  if (text.size() > lim.max_file_bytes)
    throw catalog_error(fmt::format("{}: larger than {} bytes", where, lim.max_file_bytes));
  std::size_t lineno = 0;
  auto fail = [&](std::string_view msg) -> void { throw catalog_error(fmt::format("{}:{}: {}", where, lineno, msg)); };
  component* cur = nullptr;
  auto finish = [&]() {
    if (!cur) return;
    if (cur->description.empty()) fail(fmt::format("component '{}' has no description", cur->name));
    if (cur->version.empty()) fail(fmt::format("component '{}' has no version", cur->name));
    if (cur->steps.empty()) fail(fmt::format("component '{}' has no step", cur->name));
  };
  while (!text.empty()) {
    ++lineno;
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.size() > lim.max_line_bytes) fail(fmt::format("line longer than {} bytes", lim.max_line_bytes));
    if (line.find('\0') != std::string_view::npos) fail("NUL byte");
    line = detail::trim(line);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']') fail("a section line must end with ']'");
      const std::string_view name = detail::trim(line.substr(1, line.size() - 2));
      if (!is_component_name(name))
        fail(fmt::format("'{}' is not a component name (1-64 of a-z, 0-9, '-')", name));
      if (cat.find(name)) fail(fmt::format("component '{}' defined twice", name));
      finish();
      if (cat.components.size() >= lim.max_components) fail(fmt::format("more than {} components", lim.max_components));
      cat.components.push_back(component{std::string(name), {}, {}, dir / std::string(name), {}});
      cur = &cat.components.back();
      continue;
    }
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) fail("expected 'key = value' or '[component]'");
    if (!cur) fail("a key outside of any [component] section");
    const std::string_view key = detail::trim(line.substr(0, eq));
    const std::string_view value = detail::trim(line.substr(eq + 1));
    if (value.empty()) fail(fmt::format("'{}' has no value", key));
    if (key == "description") {
      if (!cur->description.empty()) fail("description given twice");
      cur->description = value;
    } else if (key == "version") {
      if (!cur->version.empty()) fail("version given twice");
      cur->version = value;
    } else if (key == "step") {
      if (cur->steps.size() >= lim.max_steps) fail(fmt::format("more than {} steps", lim.max_steps));
      auto words = detail::split_words(value);
      step s;
      if (words[0] == "copy") {
        if (words.size() != 2) fail("'step = copy' takes exactly one folder");
        const std::string& folder = words[1];
        if (folder.find("..") != std::string::npos || folder.front() == '/')
          fail(fmt::format("copy folder '{}' must be a plain relative folder", folder));
        if (check_payloads && !std::filesystem::is_directory(cur->payload / folder))
          fail(fmt::format("copy folder '{}' does not exist", (cur->payload / folder).string()));
        s.what = step::kind::copy;
        s.folder = folder;
        s.label = "copy " + folder;
      } else if (words[0] == "run") {
        if (words.size() < 2) fail("'step = run' needs a program");
        if (words.size() - 1 > lim.max_args) fail(fmt::format("more than {} arguments", lim.max_args));
        for (const auto& w : words)
          if (w.find_first_of("\"'`$;|&<>") != std::string::npos)
            fail(fmt::format("argument '{}' has shell characters; arguments are passed as they are, no shell", w));
        s.what = step::kind::run;
        s.argv.assign(words.begin() + 1, words.end());
        // A readable label: "run sh setup.sh <target>".
        s.label = "run";
        for (std::size_t w = 1; w < words.size(); ++w) {
          std::string word = words[w];
          for (auto p = word.find("{payload}/"); p != std::string::npos; p = word.find("{payload}/")) word.erase(p, 10);
          for (auto p = word.find("{target}"); p != std::string::npos; p = word.find("{target}")) word.replace(p, 8, "<target>");
          s.label += " " + word;
        }
      } else {
        fail(fmt::format("unknown step kind '{}' (copy or run)", words[0]));
      }
      cur->steps.push_back(std::move(s));
    } else {
      fail(fmt::format("unknown key '{}' (description, version, step)", key));
    }
  }
  finish();
  if (cat.components.empty()) throw catalog_error(where + ": no component");
  return cat;
}

/// Reads and parses a catalog file; payload folders are relative to its folder.
inline catalog load_catalog(const std::filesystem::path& file, const catalog_limits& lim = {}) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) throw catalog_error(fmt::format("{}: cannot read: {}", file.string(), ec.message()));
  if (size > lim.max_file_bytes) throw catalog_error(fmt::format("{}: larger than {} bytes", file.string(), lim.max_file_bytes));
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_catalog(ss.str(), file.string(), std::filesystem::absolute(file).parent_path(), true, lim);
}

}  // namespace installer
