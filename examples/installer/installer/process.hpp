// Runs a catalog program with a fixed argument list (posix_spawnp, never a shell), in a given
// folder, with a fixed small environment, and hands its stdout and stderr to a callback line by line.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace installer {

struct run_result {
  int exit_code = 0;    ///< the program's exit status; 128 + signal when killed by one
  std::string error{};  ///< set when the program could not be started (exit_code is then 127)
};

/// Runs `argv` in `cwd`; `on_line(from_stderr, line)` gets each output line (without its line
/// break; lines longer than max_line are cut into pieces). Polls `cancel` every 100 ms and kills
/// the program (SIGKILL) when it becomes true.
inline run_result run_program(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                              const std::function<void(bool, std::string)>& on_line, const std::atomic<bool>& cancel,
                              std::size_t max_line = 4096) {
  run_result res;
  if (argv.empty()) {
    res.exit_code = 127;
    res.error = "empty argument list";
    return res;
  }
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    res.exit_code = 127;
    res.error = std::string("pipe: ") + std::strerror(errno);
    return res;
  }
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    res.exit_code = 127;
    res.error = std::string("pipe: ") + std::strerror(errno);
    return res;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  // The server's sockets must not leak into the program (a killed server would leave its port bound).
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t def;
  sigemptyset(&def);
  sigaddset(&def, SIGPIPE);
  sigaddset(&def, SIGTERM);
  sigaddset(&def, SIGINT);
  posix_spawnattr_setsigdefault(&attr, &def);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);

  std::vector<std::string> env_s = {"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C", "INSTALL_TARGET=" + cwd.string()};
  std::vector<char*> args, env;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (auto& e : env_s) env.push_back(e.data());
  env.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0], &fa, &attr, args.data(), env.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(out[1]);
  ::close(err[1]);
  if (rc != 0) {
    ::close(out[0]);
    ::close(err[0]);
    res.exit_code = 127;
    res.error = "cannot start '" + argv[0] + "': " + std::strerror(rc);
    return res;
  }

  std::string buf[2];
  int fds[2] = {out[0], err[0]};
  bool open_[2] = {true, true};
  bool killed = false;
  auto emit = [&](int i, bool final) {
    for (;;) {
      const auto nl = buf[i].find('\n');
      if (nl == std::string::npos) {
        if (buf[i].size() >= max_line) {
          on_line(i == 1, buf[i].substr(0, max_line));
          buf[i].erase(0, max_line);
          continue;
        }
        if (final && !buf[i].empty()) on_line(i == 1, std::exchange(buf[i], std::string()));
        return;
      }
      std::string line = buf[i].substr(0, std::min(nl, max_line));
      buf[i].erase(0, std::min(nl + 1, max_line));
      if (!line.empty() && line.back() == '\r') line.pop_back();
      on_line(i == 1, std::move(line));
    }
  };
  while (open_[0] || open_[1]) {
    if (cancel.load() && !killed) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      killed = true;
    }
    pollfd p[2];
    nfds_t n = 0;
    int which[2];
    for (int i = 0; i < 2; ++i)
      if (open_[i]) {
        p[n] = pollfd{fds[i], POLLIN, 0};
        which[n++] = i;
      }
    const int pr = ::poll(p, n, 100);
    if (pr < 0 && errno != EINTR) break;
    for (nfds_t k = 0; pr > 0 && k < n; ++k) {
      if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const int i = which[k];
      char tmp[4096];
      const auto got = ::read(fds[i], tmp, sizeof tmp);
      if (got <= 0) {
        if (got < 0 && errno == EINTR) continue;
        open_[i] = false;
        emit(i, true);
        continue;
      }
      buf[i].append(tmp, static_cast<std::size_t>(got));
      emit(i, false);
    }
  }
  ::close(out[0]);
  ::close(err[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) res.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) res.exit_code = 128 + WTERMSIG(status);
  if (killed) res.error = "cancelled";
  return res;
}

}  // namespace installer
