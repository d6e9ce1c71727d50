// A fixed-size thread pool for batch-parallel kernels: parallelFor hands out task indices
// from an atomic counter to the workers and the calling thread, and returns when all ran.
// Which thread runs a task never changes a result: tasks write disjoint memory.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace nnc {

/// Runs index-parallel loops on `threads` threads (the caller counts as one).
class ThreadPool {
public:
  /// threads <= 0 means one per hardware thread.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  /// Number of threads, including the caller.
  int size() const { return int(workers_.size()) + 1; }
  /// Calls fn(i) once for every i in [0, count) and waits for all calls to finish.
  void parallelFor(int64_t count, const std::function<void(int64_t)> &fn);

private:
  void work();
  void drain(uint64_t generation, int64_t count, const std::function<void(int64_t)> &fn);

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t)> *fn_ = nullptr;
  int64_t count_ = 0;
  std::atomic<uint64_t> next_{0}; // generation << 32 | next index
  int64_t finished_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

} // namespace nnc
