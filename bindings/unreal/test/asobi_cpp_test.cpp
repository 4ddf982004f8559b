// Tests of the engine-free C++ wrapper (AsobiClient.hpp) against a live server, built with
// Unreal's flags: C++20, no exceptions, no RTTI. bindings/run-tests sets ASOBI_TEST_HTTP,
// ASOBI_TEST_QUIC and ASOBI_TEST_PIN.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <unistd.h>

#include "AsobiClient.hpp"

namespace {

int passed = 0, failed = 0;
std::string http, quic, pin;

#define CHECK(cond)                                                                            \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      std::fprintf(stderr, "  %s:%d: check failed: %s (%s)\n", __FILE__, __LINE__, #cond,     \
                   asobi::LastError().c_str());                                                \
      return false;                                                                            \
    }                                                                                          \
  } while (0)

// Runs frames (Update + 5 ms) until `done()` or ~10 s.
template <typename Done>
bool Frames(std::initializer_list<asobi::Client*> clients, Done done) {
  for (int i = 0; i < 2000 && !done(); i++) {
    for (auto* c : clients) c->Update();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

std::string Name(const char* prefix) {
  static int n = 0;
  return std::string(prefix) + "_" + std::to_string(getpid()) + "_" + std::to_string(n++);
}

// A signed-up, connected client; its player id goes to `id`.
bool Player(asobi::Client& c, std::string& id, bool over_quic) {
  CHECK(asobi::Client::Create(http, c) == ASOBI_STATUS_OK);
  if (over_quic) CHECK(c.UseQuic(quic, pin) == ASOBI_STATUS_OK);
  bool signed_up = false, connected = false;
  CHECK(c.Register(Name("cpp"), "correct-horse-battery", [&](const asobi::Event& e) {
    signed_up = e.ok();
    id = asobi::JsonString(e.payload, "player_id");
  }));
  CHECK(Frames({&c}, [&] { return signed_up; }));
  c.On("session.connected", [&](const asobi::Event&) { connected = true; });
  CHECK(c.Connect());
  CHECK(Frames({&c}, [&] { return connected; }));
  CHECK(!id.empty());
  return true;
}

bool TestLogin() {
  asobi::Client c;
  CHECK(asobi::Client::Create(http, c) == ASOBI_STATUS_OK);
  std::string name = Name("cpplogin");
  asobi::Event reply;
  bool done = false;
  CHECK(c.Register(name, "correct-horse-battery", [&](const asobi::Event& e) { reply = e; done = true; }));
  CHECK(Frames({&c}, [&] { return done; }));
  CHECK(reply.ok() && reply.type == "auth.register");
  done = false;
  CHECK(c.Login(name, "not-the-password", [&](const asobi::Event& e) { reply = e; done = true; }));
  CHECK(Frames({&c}, [&] { return done; }));
  CHECK(!reply.ok() && reply.code == "auth.invalid_credentials" && reply.status == 401);
  done = false;
  CHECK(c.Login(name, "correct-horse-battery", [&](const asobi::Event& e) { reply = e; done = true; }));
  CHECK(Frames({&c}, [&] { return done; }));
  CHECK(reply.ok() && !asobi::JsonString(reply.payload, "player_id").empty());
  return true;
}

bool TestMatchStateAfterInput() {
  asobi::Client a, b;
  std::string a_id, b_id;
  CHECK(Player(a, a_id, true));
  CHECK(Player(b, b_id, false));
  int matched = 0;
  a.On("match.matched", [&](const asobi::Event&) { matched++; });
  b.On("match.matched", [&](const asobi::Event&) { matched++; });
  CHECK(a.MatchmakerAdd("duel"));
  CHECK(b.MatchmakerAdd("duel"));
  CHECK(Frames({&a, &b}, [&] { return matched == 2; }));

  double seen_by_b = 0;
  const std::string pointer = "/players/" + a_id + "/x";
  b.On("match.state", [&](const asobi::Event&) { b.MatchStateNumber(pointer, seen_by_b); });
  CHECK(a.MatchInput("{\"dx\": 7}") == ASOBI_STATUS_OK);
  CHECK(Frames({&a, &b}, [&] { return seen_by_b == 7; }));
  return true;
}

bool TestMisuseAndMoves() {
  asobi::Client c;
  CHECK(!c.Valid());
  // A client that was never created answers with a status, not a crash.
  CHECK(c.MatchInput("{}") == ASOBI_STATUS_NULL_ARGUMENT);
  CHECK(asobi::Client::Create("not a url", c) == ASOBI_STATUS_INVALID_ARGUMENT);
  CHECK(asobi::Client::Create(http, c) == ASOBI_STATUS_OK);
  CHECK(c.MatchInput("{}") == ASOBI_STATUS_NOT_CONNECTED);
  asobi::Client moved = std::move(c);
  CHECK(!c.Valid() && moved.Valid());
  return true;
}

bool TestCleanShutdown() {
  {
    asobi::Client c;
    std::string id;
    CHECK(Player(c, id, true));
    bool closed = false;
    c.On("session.closed", [&](const asobi::Event&) { closed = true; });
    CHECK(c.Close());
    CHECK(Frames({&c}, [&] { return closed; }));
  }
  CHECK(asobi_client_count() == 0);
  return true;
}

}  // namespace

int main() {
  const char* h = std::getenv("ASOBI_TEST_HTTP");
  const char* q = std::getenv("ASOBI_TEST_QUIC");
  const char* p = std::getenv("ASOBI_TEST_PIN");
  if (!h || !q || !p) {
    std::fprintf(stderr, "set ASOBI_TEST_HTTP, ASOBI_TEST_QUIC, ASOBI_TEST_PIN\n");
    return 2;
  }
  http = h, quic = q, pin = p;
  struct {
    const char* name;
    bool (*run)();
  } tests[] = {{"login", TestLogin},
               {"match_state_after_input", TestMatchStateAfterInput},
               {"misuse_and_moves", TestMisuseAndMoves},
               {"clean_shutdown", TestCleanShutdown}};
  for (auto& t : tests) {
    bool ok = t.run();
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", t.name);
    std::fflush(stdout);
    (ok ? passed : failed)++;
  }
  if (asobi_client_count() != 0) {
    std::printf("FAIL clients_leaked\n");
    failed++;
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
