// ThreadPool: workers sleep on a condition variable until a new generation of work is
// published, then claim indices with an atomic fetch-add; the last finisher wakes the caller.
#include "codegen/ThreadPool.h"

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

void ThreadPool::drain() {
  int64_t did = 0;
  for (int64_t i = next_.fetch_add(1); i < count_; i = next_.fetch_add(1)) {
    (*fn_)(i);
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
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    drain();
  }
}

void ThreadPool::parallelFor(int64_t count, const std::function<void(int64_t)> &fn) {
  if (count <= 0) return;
  if (workers_.empty() || count == 1) {
    for (int64_t i = 0; i < count; ++i) fn(i);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = &fn;
    count_ = count;
    finished_ = 0;
    next_.store(0);
    ++generation_;
  }
  wake_.notify_all();
  drain();
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [&] { return finished_ == count_; });
  fn_ = nullptr;
}

} // namespace nnc
