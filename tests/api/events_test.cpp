// docker events: filters and the message format (the stream itself: Exec.EventsStreamTheContainerLifecycle).
#include <gtest/gtest.h>

#include "bocker/api/events.hpp"
#include "bocker/runtime/error.hpp"

namespace bocker::api {
namespace {

using nlohmann::json;

Event die() {
  Event e;
  e.type = "container";
  e.action = "die";
  e.id = "0123456789abcdef";
  e.attributes = {{"name", "web"}, {"image", "alpine"}, {"exitCode", "3"}, {"tier", "front"}};
  e.time_ns = 1'700'000'000'123'456'789;
  return e;
}

TEST(Events, FiltersMatchLikeDockers) {
  Event e = die();
  EXPECT_TRUE(event_matches(e, nullptr));
  EXPECT_TRUE(event_matches(e, json::object()));
  EXPECT_TRUE(event_matches(e, json::parse(R"({"type":["container"],"event":["start","die"]})")));
  EXPECT_FALSE(event_matches(e, json::parse(R"({"type":["image"]})")));
  EXPECT_TRUE(event_matches(e, json::parse(R"({"container":{"web":true}})")));  // the older map form
  EXPECT_TRUE(event_matches(e, json::parse(R"({"container":["0123456"]})")));    // an id prefix
  EXPECT_FALSE(event_matches(e, json::parse(R"({"container":["db"]})")));
  EXPECT_TRUE(event_matches(e, json::parse(R"({"image":["alpine"],"label":["tier=front"]})")));
  EXPECT_FALSE(event_matches(e, json::parse(R"({"label":["tier=back"]})")));
  EXPECT_THROW(event_matches(e, json::parse(R"({"until":["1h"]})")), Error);
}

TEST(Events, MessageHasBothFormats) {
  json m = Events::message(die());
  EXPECT_EQ(m["Type"], "container");
  EXPECT_EQ(m["Action"], "die");
  EXPECT_EQ(m["status"], "die");
  EXPECT_EQ(m["id"], "0123456789abcdef");
  EXPECT_EQ(m["from"], "alpine");
  EXPECT_EQ(m["Actor"]["Attributes"]["exitCode"], "3");
  EXPECT_EQ(m["time"], 1'700'000'000);
  EXPECT_EQ(m["timeNano"], 1'700'000'000'123'456'789);
  EXPECT_EQ(m["scope"], "local");
}

TEST(Events, KeepsTheLastOnesAndCountsAll) {
  Events ev;
  for (std::size_t i = 0; i < Events::kKept + 5; ++i) ev.publish(die());
  EXPECT_EQ(ev.recent().size(), Events::kKept);
  EXPECT_EQ(ev.published(), Events::kKept + 5);
  Event now = die();
  now.time_ns = 0;
  ev.publish(now);
  EXPECT_GT(ev.recent().back().time_ns, 0) << "stamped when published";
}

}  // namespace
}  // namespace bocker::api
