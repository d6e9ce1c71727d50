// Helpers for tests of bounded reading: run a function or the nnc binary in a child process
// with a time limit (so a regression that blocks or reads forever fails instead of hanging
// the suite) and report its exit, wall time and, for nnc, its peak resident memory. The peak
// is VmHWM read when the traced child stops at its exit: wait4's ru_maxrss would also count
// the pages the child shared with this (large) test process between fork and exec.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace nnc::test {

/// How a child process ended.
struct ChildRun {
  bool timedOut = false; // killed after the time limit
  int code = -1;         // exit code (-1 when killed by a signal)
  double seconds = 0;    // wall time from fork to exit
  int64_t maxRssKb = 0;  // peak resident set size of the exec'd program (runNncChild only)
  double cpuSeconds = 0; // user + system time of the child
};

/// The peak resident set size (VmHWM) of process `pid` in KiB, 0 if unreadable.
inline int64_t peakRssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  return 0;
}

/// Waits for `pid` up to `limitSeconds`, then kills it; fills the rest of ChildRun. A traced
/// child that stops at its exit has its peak memory read there.
inline ChildRun waitChild(pid_t pid, std::chrono::steady_clock::time_point start,
                          double limitSeconds, ChildRun r = {}) {
  int status = 0;
  rusage usage{};
  for (;;) {
    pid_t done = ::wait4(pid, &status, WNOHANG, &usage);
    if (done == pid && WIFSTOPPED(status)) {
      bool atExit = status >> 8 == (SIGTRAP | (PTRACE_EVENT_EXIT << 8));
      if (atExit && !r.timedOut) r.maxRssKb = peakRssKb(pid);
      intptr_t deliver = atExit || WSTOPSIG(status) == SIGTRAP ? 0 : WSTOPSIG(status);
      ::ptrace(PTRACE_CONT, pid, nullptr, reinterpret_cast<void *>(deliver));
      continue;
    }
    if (done != 0) break;
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!r.timedOut && elapsed > limitSeconds) {
      r.timedOut = true;
      ::kill(pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.cpuSeconds = double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                 double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
  return r;
}

/// Runs `body` in a forked child whose exit code is what `body` returns.
inline ChildRun runForked(const std::function<int()> &body, double limitSeconds) {
  auto start = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  return waitChild(pid, start, limitSeconds);
}

/// This process's environment with leak checks off (ASAN_OPTIONS gains detect_leaks=0):
/// LeakSanitizer cannot run under ptrace, so in a sanitizer build it would end a traced child.
inline std::vector<std::string> environmentWithoutLeakChecks() {
  std::vector<std::string> env;
  std::string asan = "ASAN_OPTIONS=detect_leaks=0";
  for (char **e = environ; *e; ++e) {
    std::string entry = *e;
    if (entry.rfind("ASAN_OPTIONS=", 0) == 0)
      asan = entry + ":detect_leaks=0";
    else
      env.push_back(entry);
  }
  env.push_back(asan);
  return env;
}

/// Runs the nnc binary with `args`, stdin from /dev/null, stdout and stderr to `errPath`.
inline ChildRun runNncChild(const std::vector<std::string> &args, const std::string &errPath,
                            double limitSeconds) {
  std::vector<std::string> words = {NNC_BINARY};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<std::string> env = environmentWithoutLeakChecks();
  std::vector<char *> envp;
  for (std::string &e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  auto start = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char *> argv;
    for (std::string &w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    int err = ::open(errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int null = ::open("/dev/null", O_RDONLY);
    if (err < 0 || null < 0) ::_exit(127);
    ::dup2(null, 0);
    ::dup2(err, 1);
    ::dup2(err, 2);
    ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  // The child stops with SIGTRAP after its exec; from then on it also stops at its exit.
  ChildRun r;
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status)) {
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
  }
  ::ptrace(PTRACE_SETOPTIONS, pid, nullptr, PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL);
  ::ptrace(PTRACE_CONT, pid, nullptr, nullptr);
  return waitChild(pid, start, limitSeconds, r);
}

/// Runs nnc with `args` (its output to `errPath`) and checks that it refused them at once:
/// exit code 1 within a second, the output holding `message`. Returns the run.
inline ChildRun expectRefusedAtOnce(const std::vector<std::string> &args,
                                    const std::string &errPath, const std::string &message,
                                    double limitSeconds = 60) {
  ChildRun r = runNncChild(args, errPath, limitSeconds);
  std::ifstream in(errPath);
  std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  INFO(output);
  CHECK_FALSE(r.timedOut);
  CHECK(r.code == 1);
  CHECK(output.find(message) != std::string::npos);
  CHECK(r.seconds < 1.0);
  return r;
}

} // namespace nnc::test
