// api::parse_create_body, parse_exec_create, parse_commit and parse_changes: what the docker CLI
// sends is parsed as before; bad bodies are Error(kInvalid) naming the field.
#include "bocker/api/bodies.hpp"

#include <gtest/gtest.h>

#include "bocker/runtime/error.hpp"

namespace bocker::api {
namespace {

template <typename Fn>
std::string invalid_message(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kInvalid) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "accepted";
  return "";
}

http::Request commit_request(std::vector<std::pair<std::string, std::string>> query, std::string body = "") {
  http::Request r;
  r.method = "POST";
  r.query_list = std::move(query);
  for (const auto& [k, v] : r.query_list) r.query[k] = v;
  r.body = std::move(body);
  return r;
}

TEST(ApiBodies, CreateBodyMustBeAnObject) {
  EXPECT_EQ(parse_create_body(R"({"Image":"alpine"})")["Image"], "alpine");
  for (const char* bad : {"", "[]", "null", "\"x\"", "{", "{\"Image\":\"a\"} trailing"}) {
    EXPECT_NE(invalid_message([bad] { (void)parse_create_body(bad); }).find("invalid JSON in the create"),
              std::string::npos)
        << bad;
  }
}

TEST(ApiBodies, DockerExecBody) {
  ExecCreateRequest e = parse_exec_create(
      R"({"User":"","Privileged":false,"Tty":true,"ConsoleSize":[24,80],"AttachStdin":true,"AttachStderr":true,)"
      R"("AttachStdout":true,"DetachKeys":"ctrl-p,ctrl-q","Env":["A=1"],"WorkingDir":"/tmp","Cmd":["sh","-c","id"]})");
  EXPECT_EQ(e.cmd, (std::vector<std::string>{"sh", "-c", "id"}));
  EXPECT_EQ(e.env, (std::vector<std::string>{"A=1"}));
  EXPECT_EQ(e.working_dir, "/tmp");
  EXPECT_EQ(e.detach_keys, "ctrl-p,ctrl-q");
  EXPECT_TRUE(e.tty && e.attach_stdin && e.attach_stdout && e.attach_stderr);
  EXPECT_FALSE(e.privileged);
  // A string Cmd is one argument; missing booleans are false.
  ExecCreateRequest s = parse_exec_create(R"({"Cmd":"ls"})");
  EXPECT_EQ(s.cmd, (std::vector<std::string>{"ls"}));
  EXPECT_FALSE(s.attach_stdout);
}

TEST(ApiBodies, BadExecBodiesNameTheField) {
  auto msg = [](const char* body) { return invalid_message([body] { (void)parse_exec_create(body); }); };
  EXPECT_NE(msg("").find("No exec command"), std::string::npos);
  EXPECT_NE(msg(R"({"Cmd":[]})").find("No exec command"), std::string::npos);
  EXPECT_NE(msg(R"({"Cmd":[""]})").find("No exec command"), std::string::npos);
  EXPECT_NE(msg(R"({"Cmd":[1]})").find("Cmd must be an array of strings"), std::string::npos);
  EXPECT_NE(msg(R"({"Cmd":["a\u0000b"]})").find("NUL"), std::string::npos);
  EXPECT_NE(msg(R"({"Cmd":["ls"],"Tty":"yes"})").find("Tty must be a boolean"), std::string::npos);
  EXPECT_NE(msg(R"({"Cmd":["ls"],"User":7})").find("User must be a string"), std::string::npos);
  EXPECT_NE(msg(R"({"Cmd":["ls"],"Env":["NOEQ"]})").find("KEY=VALUE"), std::string::npos);
  EXPECT_NE(msg(R"({"Cmd":["ls"],"Env":["=x"]})").find("KEY=VALUE"), std::string::npos);
  EXPECT_NE(msg(R"({"Cmd":["ls"],"WorkingDir":"rel"})").find("absolute path"), std::string::npos);
  EXPECT_NE(msg(R"([1])").find("invalid JSON in the exec request body"), std::string::npos);
}

TEST(ApiBodies, DockerCommitQueryAndBody) {
  CommitRequest c = parse_commit(commit_request({{"author", "me"},
                                                 {"changes", "CMD [\"/bin/sh\"]"},
                                                 {"changes", "ENV A=b\r\nEXPOSE 80 \n\n"},
                                                 {"comment", "snap"},
                                                 {"container", "web"},
                                                 {"pause", "0"},
                                                 {"repo", "example/snap"},
                                                 {"tag", "v1"}},
                                                R"({"Cmd":"top","Env":null,"Labels":{"x":"y"}})"));
  EXPECT_EQ(c.container, "web");
  EXPECT_EQ(c.repo, "example/snap");
  EXPECT_EQ(c.tag, "v1");
  EXPECT_EQ(c.author, "me");
  EXPECT_EQ(c.comment, "snap");
  EXPECT_FALSE(c.pause);
  EXPECT_EQ(c.changes, (std::vector<std::string>{"CMD [\"/bin/sh\"]", "ENV A=b", "EXPOSE 80"}));
  EXPECT_EQ(c.config["Cmd"], nlohmann::json({"top"})) << "a string Cmd becomes a list";
  EXPECT_EQ(c.config["Labels"]["x"], "y");
  // No body: no config; pause defaults to true.
  CommitRequest bare = parse_commit(commit_request({{"container", "abc"}}));
  EXPECT_TRUE(bare.config.is_null());
  EXPECT_TRUE(bare.pause);
}

TEST(ApiBodies, BadCommitsNameTheProblem) {
  auto msg = [](std::vector<std::pair<std::string, std::string>> q, std::string body = "") {
    return invalid_message([&] { (void)parse_commit(commit_request(q, body)); });
  };
  EXPECT_NE(msg({{"repo", "a"}}).find("needs a container"), std::string::npos);
  EXPECT_NE(msg({{"container", "x"}, {"comment", "\xff\xfe"}}).find("comment is not valid UTF-8"),
            std::string::npos);
  EXPECT_NE(msg({{"container", "x"}, {"changes", "ENV A=\xc0\xaf"}}).find("changes is not valid UTF-8"),
            std::string::npos)
      << "an overlong encoding";
  EXPECT_NE(msg({{"container", "x"}}, R"({"Cmd":5})").find("Cmd must be an array of strings"),
            std::string::npos);
  EXPECT_NE(msg({{"container", "x"}}, R"({"Labels":{"a":1}})").find("Labels[\"a\"] must be a string"),
            std::string::npos);
  EXPECT_NE(msg({{"container", "x"}}, R"({"ExposedPorts":["80"]})").find("ExposedPorts must be an object"),
            std::string::npos);
  EXPECT_NE(msg({{"container", "x"}}, R"({"WorkingDir":1})").find("WorkingDir must be a string"),
            std::string::npos);
  EXPECT_NE(msg({{"container", "x"}}, "[]").find("invalid JSON in the commit request body"),
            std::string::npos);
}

TEST(ApiBodies, ChangesLoseTrailingBlanksAndValidUtf8Passes) {
  http::Request r =
      commit_request({{"changes", "ENV \t"}, {"changes", "LABEL k=\xc3\xa9\xe2\x82\xac\xf0\x9f\x90\xb3"}});
  EXPECT_EQ(parse_changes(r),
            (std::vector<std::string>{"ENV", "LABEL k=\xc3\xa9\xe2\x82\xac\xf0\x9f\x90\xb3"}));
  EXPECT_EQ(utf8_query(commit_request({{"message", "caf\xc3\xa9"}}), "message"), "caf\xc3\xa9");
  EXPECT_NE(invalid_message([] {
              (void)utf8_query(commit_request({{"m", "\xed\xa0\x80"}}), "m");
            }).find("UTF-8"),
            std::string::npos)
      << "a UTF-16 surrogate";
}

}  // namespace
}  // namespace bocker::api
