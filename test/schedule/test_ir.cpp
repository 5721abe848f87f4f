// Action tokens, the text and CSV forms of a schedule, and cost tables: round trips and bad input.
#include <doctest/doctest.h>
#include <tspipe/schedule/cost_table.hpp>
#include <tspipe/planning/generate.hpp>

using namespace tspipe::schedule;
using namespace tspipe::planning;

namespace {
/// Each (input, why) of `cases` must fail to parse, with a message that contains `why`.
template <std::size_t N, class Parse>
void check_rejected(const std::pair<const char*, const char*> (&cases)[N], Parse parse) {
  for (const auto& [text, why] : cases) {
    INFO("text: ", text);
    auto parsed = parse(text);
    INFO("message: ", parsed.message());
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.message().find(why) != std::string::npos);
  }
}
}  // namespace

TEST_CASE("tokens print as docs/design.md §1 writes them and parse back") {
  CHECK(to_token(teacher_forward(2, 0, 1, 3)) == "FT:2.0.1.3");
  CHECK(to_token(student_forward(0, 7, 0, 0)) == "FS:0.7.0.0");
  CHECK(to_token(student_backward(1, 2, 1, 5)) == "BS:1.2.1.5");
  CHECK(to_token(backward_input(1, 2, 0, 0)) == "BI:1.2.0.0");
  CHECK(to_token(backward_weight(1, 2, 0, 1)) == "BW:1.2.0.1");
  CHECK(to_token(loss(3, 5)) == "LOSS:5");
  CHECK(to_token(optimizer_step(1, 4)) == "OPT:1.4");
  CHECK(to_token(ema_update(0, 9)) == "EMA:0.9");

  const Action all[] = {teacher_forward(2, 0, 1, 3), student_forward(0, 7, 0, 0), student_backward(1, 2, 1, 5),
                        backward_input(1, 2, 0, 0), backward_weight(3, 2, 0, 1), loss(3, 5),
                        optimizer_step(1, 4), ema_update(0, 9)};
  for (const Action& a : all) {
    auto parsed = parse_token(to_token(a), 3);
    REQUIRE(parsed.ok());
    CHECK(parsed.value() == a);
  }
}

TEST_CASE("malformed tokens are errors that quote the token and say what is wrong") {
  const std::pair<const char*, const char*> cases[] = {
      {"FS0.1.0.0", "expected KIND:fields"},
      {"XX:0.1.0.0", "unknown kind 'XX'"},
      {"BT:0.1.0.0", "unknown kind 'BT'"},  // there is no teacher backward
      {"FS:0.1.0", "expected 4 fields"},
      {"FS:0.1.0.0.0", "expected 4 fields"},
      {"OPT:1", "expected 2 fields"},
      {"LOSS:1.2.3", "expected 1 or 2 fields"},
      {"FS:0..0.0", "empty field 2"},
      {"FS:0.a.0.0", "is not an integer"},
      {"FS:0.1.0.-1", "field 4 is negative"},
      {"FS:0.99999999999.0.0", "is not an integer"},
      {"FS:", "empty field 1"},
  };
  for (const auto& [token, why] : cases) {
    INFO("token: ", token);
    auto parsed = parse_token(token);
    INFO("message: ", parsed.message());
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.message().find(std::string("'") + token + "'") != std::string::npos);
    CHECK(parsed.message().find(why) != std::string::npos);
  }
}

TEST_CASE("the text and CSV forms round-trip every generator's schedule") {
  for (const char* name : {"sequential", "gpipe", "1f1b", "tspipe-paper", "tspipe"}) {
    for (const Workload& base : {ssl_workload(4), kd_workload(3)}) {
      Workload w = base;
      w.batches = 3;
      auto g = generate(name, w);
      REQUIRE(g.ok());
      const Schedule& s = g.value().schedule;
      auto from_text = parse_text(to_text(s));
      REQUIRE(from_text.ok());
      CHECK(from_text.value() == s);
      CHECK(to_text(from_text.value()) == to_text(s));
      auto from_csv = parse_csv(to_csv(s));
      REQUIRE(from_csv.ok());
      CHECK(from_csv.value() == s);
    }
  }
}

TEST_CASE("text form: the format of docs/design.md §2, comments and blank lines ignored") {
  auto parsed = parse_text("# two devices\nd0: FT:0.0.0.0 FS:0.0.0.0\n\nd1:   FS:1.0.0.0  LOSS:0\n");
  REQUIRE(parsed.ok());
  REQUIRE(parsed.value().devices.size() == 2);
  CHECK(parsed.value().devices[0].size() == 2);
  CHECK(parsed.value().devices[1][1] == loss(1, 0));  // LOSS lands on the last stage
  auto empty_device = parse_text("d0:\nd1: FS:1.0.0.0\n");
  REQUIRE(empty_device.ok());
  CHECK(empty_device.value().devices[0].empty());
}

TEST_CASE("text form: bad input names the line and the problem") {
  const std::pair<const char*, const char*> cases[] = {
      {"d1: FS:0.0.0.0\n", "expected d0, got d1"},
      {"x0: FS:0.0.0.0\n", "expected 'd<j>: tok tok ...'"},
      {"d0 FS:0.0.0.0\n", "device number '0 FS'"},
      {"dz: FS:0.0.0.0\n", "device number 'z'"},
      {"d0: FS:0.0.0.0\nd1: FS:1.0.0\n", "device line 2"},
      {"d0: FS:0.0.0.0 QQ:1\n", "unknown kind 'QQ'"},
  };
  check_rejected(cases, [](const char* text) { return parse_text(text); });
}

TEST_CASE("CSV form: rows in any order; wrong columns, gaps and repeats are errors") {
  auto shuffled = parse_csv("device,position,token\n1,0,FS:1.0.0.0\n0,1,FS:0.0.0.0\n0,0,FT:0.0.0.0\n");
  REQUIRE(shuffled.ok());
  CHECK(shuffled.value().devices[0] == std::vector<Action>{teacher_forward(0, 0, 0, 0), student_forward(0, 0, 0, 0)});

  const std::pair<const char*, const char*> cases[] = {
      {"", "the header must be"},
      {"dev,pos,tok\n", "the header must be 'device,position,token'"},
      {"device,position,token\n0,0\n", "expected 3 columns"},
      {"device,position,token\n0,0,FS:0.0.0.0,extra\n", "expected 3 columns"},
      {"device,position,token\n0,x,FS:0.0.0.0\n", "position 'x'"},
      {"device,position,token\n-1,0,FS:0.0.0.0\n", "device '-1'"},
      {"device,position,token\n0,1,FS:0.0.0.0\n", "position 1 is beyond"},
      {"device,position,token\n0,0,FS:0.0.0.0\n0,0,FT:0.0.0.0\n", "appears twice"},
      {"device,position,token\n0,0,\n", "empty token"},
      {"device,position,token\n0,0,FS:0.0\n", "expected 4 fields"},
      {"device,position,token\n99999999,0,FS:0.0.0.0\n", "too large"},
  };
  check_rejected(cases, [](const char* text) { return parse_csv(text); });
}

TEST_CASE("cost tables: partial columns keep defaults, dump/parse round-trips, bad input is named") {
  auto table = parse_cost_csv("stage,teacher_forward,transfer\n1,3,0.5\n0,2.5,0.25\n");
  REQUIRE(table.ok());
  REQUIRE(table.value().stages.size() == 2);
  CHECK(table.value().stages[0].teacher_forward == 2.5);
  CHECK(table.value().stages[1].transfer == 0.5);
  CHECK(table.value().stages[1].student_backward == 2.0);  // default kept

  CostModel model = CostModel::teacher_ratio(3, 3.0);
  model.stages[2].loss = 0.125;
  auto again = parse_cost_csv(to_csv(model));
  REQUIRE(again.ok());
  CHECK(again.value().stages[0].teacher_forward == 3.0);
  CHECK(again.value().stages[2].loss == 0.125);

  const std::pair<const char*, const char*> cases[] = {
      {"", "empty input"},
      {"teacher_forward\n1\n", "first column must be 'stage'"},
      {"stage,speed\n0,1\n", "unknown column 'speed'"},
      {"stage,loss,loss\n0,1,1\n", "appears twice"},
      {"stage,loss\n0,1,2\n", "has 3 columns, the header 2"},
      {"stage,loss\n0,-1\n", "'loss' = '-1'"},
      {"stage,loss\n0,nan\n", "'loss' = 'nan'"},
      {"stage,loss\n0,\n", "'loss' = ''"},
      {"stage,loss\n0,1\n0,2\n", "stage 0 appears twice"},
      {"stage,loss\n1,1\n", "stage 0 is missing"},
      {"stage,loss\n", "no stage rows"},
  };
  check_rejected(cases, [](const char* text) { return parse_cost_csv(text); });
}

TEST_CASE("workload checks name the field and the value") {
  const auto message_for = [](auto mutate) {
    Workload w = ssl_workload(4);
    mutate(w);
    return w.check().message();
  };
  CHECK(message_for([](Workload& w) { w.stages = 0; }).find("stages = 0") != std::string::npos);
  CHECK(message_for([](Workload& w) { w.micro_batches = -2; }).find("micro_batches = -2") != std::string::npos);
  CHECK(message_for([](Workload& w) { w.views = 0; }).find("views = 0") != std::string::npos);
  CHECK(message_for([](Workload& w) { w.staleness = -1; }).find("staleness = -1") != std::string::npos);
  CHECK(message_for([](Workload& w) { w.warmup = -3; }).find("warmup = -3") != std::string::npos);
  CHECK(message_for([](Workload& w) { w.costs.stages.pop_back(); }).find("cost table has 3 stages") != std::string::npos);
  CHECK(message_for([](Workload& w) { w.costs.stages[1].student_forward = -1; }).find("stage 1") != std::string::npos);
  CHECK(ssl_workload(4).check().ok());
  // Generators refuse an invalid workload with the same message.
  Workload w = kd_workload(2);
  w.views = 0;
  auto g = generate("gpipe", w);
  REQUIRE_FALSE(g.ok());
  CHECK(g.message().find("views = 0") != std::string::npos);
}
