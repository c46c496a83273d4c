#include "bocker/runtime/offload.hpp"

#include <pthread.h>
#include <signal.h>

namespace bocker::rt {

WorkerPool::WorkerPool(Loop& loop, unsigned threads) : loop_(loop) {
  // Workers never take signals: the loop thread reads them from a signalfd.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  try {
    for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { worker(); });
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    throw;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void WorkerPool::submit(Job* job) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(job);
  }
  cv_.notify_one();
}

std::size_t WorkerPool::queue_depth() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

std::size_t WorkerPool::busy() const {
  std::lock_guard lock(mu_);
  return busy_;
}

void WorkerPool::worker() noexcept {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping with nothing left to run
    Job* job = queue_.front();
    queue_.pop_front();
    ++busy_;
    lock.unlock();
    job->run();
    lock.lock();
    --busy_;
  }
}

}  // namespace bocker::rt
