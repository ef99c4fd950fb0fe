// Response flags: codes and their comma-separated rendering.
#include "observe/flags.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace rampart::observe;

namespace {
std::string render(const FlagSet& f) {
  std::string out;
  f.append_to(out);
  return out;
}
}  // namespace

TEST_CASE("flag codes are the Envoy-style short codes, all distinct", "[access_log][flags]") {
  CHECK(flag_code_of(Flag::NR) == "NR");
  CHECK(flag_code_of(Flag::UH) == "UH");
  CHECK(flag_code_of(Flag::UF) == "UF");
  CHECK(flag_code_of(Flag::UT) == "UT");
  CHECK(flag_code_of(Flag::UC) == "UC");
  CHECK(flag_code_of(Flag::URX) == "URX");
  CHECK(flag_code_of(Flag::DC) == "DC");
  CHECK(flag_code_of(Flag::DT) == "DT");
  CHECK(flag_code_of(Flag::RL) == "RL");
  CHECK(flag_code_of(Flag::LR) == "LR");
  CHECK(flag_code_of(Flag::IH) == "IH");
  CHECK(flag_code_of(Flag::UPE) == "UPE");
  CHECK(flag_code_of(Flag::UO) == "UO");
  CHECK(flag_code::upstream_connect_failure == "UF");
  std::set<std::string_view> seen;
  for (std::size_t i = 0; i < kFlagCount; ++i) seen.insert(flag_code_of(static_cast<Flag>(i)));
  CHECK(seen.size() == kFlagCount);
}

TEST_CASE("FlagSet writes codes comma-separated in a fixed order", "[access_log][flags]") {
  FlagSet f;
  CHECK(f.empty());
  CHECK(render(f).empty());

  f.set(Flag::URX);
  f.set(Flag::UF);
  f.set(Flag::UF);  // idempotent
  CHECK(render(f) == "UF,URX");
  CHECK(f.has(Flag::UF));
  CHECK_FALSE(f.has(Flag::NR));

  f.reset(Flag::UF);
  CHECK(render(f) == "URX");
  f.clear();
  CHECK(f.empty());

  FlagSet all;
  for (std::size_t i = kFlagCount; i-- > 0;) all.set(static_cast<Flag>(i));
  CHECK(render(all) == "NR,UH,UF,UT,UC,URX,DC,DT,RL,LR,IH,UPE,UO,RLD");

  std::string out = "prefix:";
  FlagSet one;
  one.set(Flag::DC);
  one.append_to(out);
  CHECK(out == "prefix:DC");  // appends, does not clear
}

TEST_CASE("FlagSet is usable in constant expressions", "[access_log][flags]") {
  constexpr FlagSet f = [] {
    FlagSet s;
    s.set(Flag::RL);
    return s;
  }();
  static_assert(f.has(Flag::RL));
  static_assert(!f.has(Flag::LR));
  CHECK(f.bits() == (1u << static_cast<unsigned>(Flag::RL)));
}
