// Runs an http::Server on its own loop thread for the duration of a test.
#pragma once

#include <future>
#include <thread>

#include "bocker/http/server.hpp"
#include "bocker/runtime/loop.hpp"

namespace bocker::http::testing {

class ServerThread {
 public:
  ServerThread(ServerOptions opts, Router router) : server_(std::move(opts), std::move(router)) { start(); }
  ServerThread(ServerOptions opts, Handler handler) : server_(std::move(opts), std::move(handler)) {
    start();
  }
  ServerThread(const ServerThread&) = delete;
  ServerThread& operator=(const ServerThread&) = delete;
  ~ServerThread() { stop(); }

  Server& server() { return server_; }

  // Stops the server on its loop thread and waits for serve() to return.
  void stop() {
    if (!thread_.joinable()) return;
    loop_->post_from_thread([](void* s) { static_cast<Server*>(s)->stop(); }, &server_);
    thread_.join();
  }

 private:
  void start() {
    server_.listen();
    std::promise<rt::Loop*> ready;
    auto fut = ready.get_future();
    thread_ = std::thread([this, &ready] {
      rt::Loop loop;
      ready.set_value(&loop);
      try {
        loop.run(server_.serve());
      } catch (const std::exception& e) {
        std::fprintf(stderr, "server loop failed: %s\n", e.what());
      }
    });
    loop_ = fut.get();
  }

  Server server_;
  rt::Loop* loop_ = nullptr;
  std::thread thread_;
};

}  // namespace bocker::http::testing
