// ThreadPool: workers sleep on a condition variable until a new generation of work is
// published, then claim indices from an atomic counter that also holds the generation (high
// 32 bits), so a worker that wakes late can never claim an index of the next loop with the
// previous loop's function or count; the last finisher wakes the caller.
#include "support/ThreadPool.h"

namespace nnc {

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { work(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread &t : workers_) t.join();
}

void ThreadPool::drain(uint64_t generation, int64_t count, const std::function<void(int64_t)> &fn) {
  int64_t did = 0;
  for (;;) {
    uint64_t v = next_.load();
    if ((v >> 32) != (generation & 0xffffffffu) || int64_t(v & 0xffffffffu) >= count) break;
    if (!next_.compare_exchange_weak(v, v + 1)) continue;
    fn(int64_t(v & 0xffffffffu));
    ++did;
  }
  if (did == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  finished_ += did;
  if (finished_ == count_) done_.notify_all();
}

void ThreadPool::work() {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int64_t)> *fn = nullptr;
    int64_t count = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      fn = fn_;
      count = count_;
    }
    // fn stays valid while an index of this generation is unclaimed or running: the caller
    // returns only after every index has been counted.
    if (fn) drain(seen, count, *fn);
  }
}

void ThreadPool::parallelFor(int64_t count, const std::function<void(int64_t)> &fn) {
  if (count <= 0) return;
  if (workers_.empty() || count == 1) {
    for (int64_t i = 0; i < count; ++i) fn(i);
    return;
  }
  uint64_t generation = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = &fn;
    count_ = count;
    finished_ = 0;
    generation = ++generation_;
    next_.store((generation & 0xffffffffu) << 32);
  }
  wake_.notify_all();
  drain(generation, count, fn);
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return finished_ == count_; });
  fn_ = nullptr;
}

} // namespace nnc
