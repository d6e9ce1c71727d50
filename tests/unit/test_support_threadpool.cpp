// ThreadPool: every index of every loop runs exactly once, also when loops of different
// sizes follow each other quickly (a worker that wakes late must not claim indices of the
// next loop with the previous loop's count).
#include "support/ThreadPool.h"

#include <doctest/doctest.h>

#include <atomic>
#include <vector>

using namespace nnc;

TEST_CASE("thread pool runs each index exactly once across back-to-back loops") {
  for (int threads : {2, 3, 5}) {
    ThreadPool pool(threads);
    CHECK(pool.size() == threads);
    std::vector<std::atomic<int>> runs(64);
    int bad = 0;
    for (int iter = 0; iter < 20000; ++iter) {
      int64_t count = 1 + (iter * 7) % 40;
      for (std::atomic<int> &r : runs) r.store(0);
      pool.parallelFor(count, [&](int64_t i) { runs[size_t(i)].fetch_add(1); });
      for (int64_t i = 0; i < 64; ++i) bad += runs[size_t(i)].load() != (i < count ? 1 : 0);
    }
    CHECK(bad == 0);
  }
}

TEST_CASE("thread pool with one thread runs loops on the caller") {
  ThreadPool pool(1);
  CHECK(pool.size() == 1);
  std::vector<int> seen;
  pool.parallelFor(5, [&](int64_t i) { seen.push_back(int(i)); });
  CHECK(seen == std::vector<int>{0, 1, 2, 3, 4});
}
