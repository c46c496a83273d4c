#include "bocker/http/router.hpp"

#include <gtest/gtest.h>

#include "bocker/http/server.hpp"
#include "bocker/runtime/error.hpp"

namespace bocker::http {
namespace {

rt::Task<void> noop(Request&, ResponseWriter&) { co_return; }

Request req(std::string method, std::string raw_path) {
  Request r;
  r.method = std::move(method);
  r.raw_path = raw_path;
  r.path = raw_path;
  return r;
}

Router docker_like() {
  Router r;
  r.get("/_ping", noop);
  r.get("/containers/json", noop);
  r.get("/containers/{id}/json", noop);
  r.post("/containers/{id}/start", noop);
  r.del("/containers/{id}", noop);
  r.get("/images/json", noop);
  r.get("/images/{name:.*}/json", noop);
  r.post("/images/{name:.*}/tag", noop);
  r.del("/images/{name:.*}", noop);
  r.post("/images/load", noop, RouteOptions{.stream_body = true});
  return r;
}

TEST(SplitApiVersion, Prefixes) {
  auto v = split_api_version("/v1.47/containers/json");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->first, "1.47");
  EXPECT_EQ(v->second, "/containers/json");
  v = split_api_version("/v1.24");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->second, "/");
  EXPECT_FALSE(split_api_version("/volumes/x"));
  EXPECT_FALSE(split_api_version("/v1/x"));
  EXPECT_FALSE(split_api_version("/va.b/x"));
  EXPECT_FALSE(split_api_version("/v1./x"));
}

TEST(Router, MatchesWithAndWithoutVersion) {
  Router r = docker_like();
  Request a = req("GET", "/v1.47/containers/json");
  ASSERT_NE(r.match(a), nullptr);
  EXPECT_EQ(a.route, "/containers/json");
  EXPECT_EQ(a.api_version, "1.47");
  Request b = req("GET", "/containers/json");
  ASSERT_NE(r.match(b), nullptr);
  EXPECT_EQ(b.route, "/containers/json");
  EXPECT_EQ(b.api_version, "");
}

TEST(Router, PathParameters) {
  Router r = docker_like();
  Request a = req("POST", "/v1.47/containers/abc/start");
  ASSERT_NE(r.match(a), nullptr);
  EXPECT_EQ(a.route, "/containers/{id}/start");
  EXPECT_EQ(a.param("id"), "abc");
  Request enc = req("DELETE", "/containers/we%20ird");
  ASSERT_NE(r.match(enc), nullptr);
  EXPECT_EQ(enc.param("id"), "we ird");
}

TEST(Router, GreedyParameterTakesSlashes) {
  Router r = docker_like();
  Request a = req("GET", "/images/library/alpine:3.19/json");
  ASSERT_NE(r.match(a), nullptr);
  EXPECT_EQ(a.route, "/images/{name:.*}/json");
  EXPECT_EQ(a.param("name"), "library/alpine:3.19");
  Request b = req("DELETE", "/v1.47/images/registry.local:5000/team/app");
  ASSERT_NE(r.match(b), nullptr);
  EXPECT_EQ(b.param("name"), "registry.local:5000/team/app");
  Request c = req("GET", "/images/json");
  ASSERT_NE(r.match(c), nullptr);
  EXPECT_EQ(c.route, "/images/json") << "the literal route wins";
}

TEST(Router, MethodMismatchListsAllowedMethods) {
  Router r = docker_like();
  Request a = req("PUT", "/containers/abc");
  EXPECT_EQ(r.match(a), nullptr);
  EXPECT_EQ(a.allowed_methods, std::vector<std::string>{"DELETE"});
  EXPECT_TRUE(a.route.empty());
  Request b = req("GET", "/nothing/here");
  EXPECT_EQ(r.match(b), nullptr);
  EXPECT_TRUE(b.allowed_methods.empty());
}

TEST(Router, HeadFallsBackToGet) {
  Router r = docker_like();
  Request a = req("HEAD", "/_ping");
  ASSERT_NE(r.match(a), nullptr);
  EXPECT_EQ(a.route, "/_ping");
}

TEST(Router, TrailingSlashAndExtraSegmentsDoNotMatch) {
  Router r = docker_like();
  Request a = req("GET", "/containers/json/");
  EXPECT_EQ(r.match(a), nullptr);
  Request b = req("POST", "/containers/a/b/start");
  EXPECT_EQ(r.match(b), nullptr);
}

TEST(Router, StreamsBodyOnlyForFlaggedRoutes) {
  Router r = docker_like();
  Request a = req("POST", "/v1.47/images/load");
  EXPECT_TRUE(r.streams_body(a));
  Request b = req("POST", "/containers/x/start");
  EXPECT_FALSE(r.streams_body(b));
}

TEST(Router, RejectsMalformedPatterns) {
  Router r;
  EXPECT_THROW(r.get("containers", noop), Error);
  EXPECT_THROW(r.get("/a/{id", noop), Error);
  EXPECT_THROW(r.get("/a/{id:[0-9]+}", noop), Error);
  EXPECT_EQ(r.size(), 0u);
}

}  // namespace
}  // namespace bocker::http
