/*
 * C tests of libasobi against a live asobi-server (bindings/run-tests starts one and sets
 * ASOBI_TEST_HTTP, ASOBI_TEST_QUIC and ASOBI_TEST_PIN). The server plays the test game in
 * bindings/testgame: `duel` (two players, inputs move them) and `plains` (a flat world).
 *
 * Prints one line per test and a closing "N passed, M failed"; exits non-zero on failure.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "asobi.h"

/* Upper bound of every wait for the server: generous, because the ASan run shares two cores
 * with the rest of CI (a 10 s bound once ran out there); a healthy run returns at once. */
#define WAIT_MS 30000

static int passed, failed;
static const char *http_url, *quic_addr, *quic_pin;

#define CHECK(cond)                                                                      \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "  %s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__, \
              #cond, asobi_last_error());                                                \
      return 0;                                                                          \
    }                                                                                    \
  } while (0)

#define OK(call) CHECK((call) == ASOBI_STATUS_OK)

static void sleep_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000.0 + t.tv_nsec / 1e6;
}

/* What a test keeps from an event: the event's strings die at the next poll. */
typedef struct {
  AsobiEventKind kind;
  uint64_t request_id;
  char type_name[64];
  char code[96];
  char payload[4096];
  int32_t status;
} Seen;

static void keep(Seen *seen, const AsobiEvent *ev) {
  seen->kind = ev->kind;
  seen->request_id = ev->request_id;
  seen->status = ev->status;
  snprintf(seen->type_name, sizeof seen->type_name, "%s", ev->type_name);
  snprintf(seen->code, sizeof seen->code, "%s", ev->code);
  snprintf(seen->payload, sizeof seen->payload, "%s", ev->payload);
}

/* Polls until the answer to `request_id` arrives (other events are skipped). */
static int await_reply(AsobiClient *c, uint64_t request_id, Seen *out) {
  AsobiEvent ev;
  double deadline = now_ms() + WAIT_MS;
  while (now_ms() < deadline) {
    if (asobi_client_poll(c, &ev) != ASOBI_STATUS_OK) return 0;
    if (ev.kind == ASOBI_EVENT_KIND_NONE) {
      sleep_ms(5);
      continue;
    }
    if ((ev.kind == ASOBI_EVENT_KIND_RESPONSE || ev.kind == ASOBI_EVENT_KIND_FAILURE) &&
        ev.request_id == request_id) {
      keep(out, &ev);
      return 1;
    }
  }
  fprintf(stderr, "  no answer to request %llu\n", (unsigned long long)request_id);
  return 0;
}

/* Polls until an event of `kind` (and `type_name`, if given) arrives. */
static int await_event(AsobiClient *c, AsobiEventKind kind, const char *type_name, Seen *out) {
  AsobiEvent ev;
  double deadline = now_ms() + WAIT_MS;
  while (now_ms() < deadline) {
    if (asobi_client_poll(c, &ev) != ASOBI_STATUS_OK) return 0;
    if (ev.kind == ASOBI_EVENT_KIND_NONE) {
      sleep_ms(5);
      continue;
    }
    if (ev.kind == kind && (!type_name || strcmp(ev.type_name, type_name) == 0)) {
      keep(out, &ev);
      return 1;
    }
  }
  fprintf(stderr, "  no %s event\n", type_name ? type_name : "expected");
  return 0;
}

/* The value of "key":"..." in a JSON text (the tests' payloads are flat enough). */
static int json_string(const char *json, const char *key, char *out, size_t cap) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
  const char *at = strstr(json, pattern);
  if (!at) return 0;
  at += strlen(pattern);
  const char *end = strchr(at, '"');
  if (!end || (size_t)(end - at) >= cap) return 0;
  memcpy(out, at, (size_t)(end - at));
  out[end - at] = 0;
  return 1;
}

static unsigned next_name;

/* A new client signed in as a new player; its id goes to `player_id`. */
static AsobiClient *signed_in(char *player_id, size_t cap) {
  AsobiClient *c = NULL;
  char name[64];
  uint64_t rid;
  Seen seen;
  snprintf(name, sizeof name, "c_%ld_%u", (long)getpid(), next_name++);
  if (asobi_client_new(http_url, &c) != ASOBI_STATUS_OK) return NULL;
  if (asobi_auth_register(c, name, "correct-horse-battery", &rid) != ASOBI_STATUS_OK ||
      !await_reply(c, rid, &seen) || seen.kind != ASOBI_EVENT_KIND_RESPONSE ||
      !json_string(seen.payload, "player_id", player_id, cap)) {
    fprintf(stderr, "  sign-up failed: %s %s\n", seen.code, seen.payload);
    asobi_client_free(c);
    return NULL;
  }
  return c;
}

static int connect_realtime(AsobiClient *c) {
  uint64_t rid;
  Seen seen;
  OK(asobi_realtime_connect(c, &rid));
  CHECK(await_reply(c, rid, &seen));
  CHECK(seen.kind == ASOBI_EVENT_KIND_RESPONSE);
  CHECK(strcmp(seen.type_name, "session.connected") == 0);
  CHECK(await_event(c, ASOBI_EVENT_KIND_CONNECTED, NULL, &seen));
  return 1;
}

/* ------------------------------------------------------------------------------ tests */

static int test_versions(void) {
  CHECK(asobi_abi_version() == ASOBI_ABI_VERSION);
  CHECK(strlen(asobi_version()) > 0);
  CHECK(strcmp(asobi_status_name(ASOBI_STATUS_NOT_CONNECTED), "ASOBI_STATUS_NOT_CONNECTED") == 0);
  CHECK(strcmp(asobi_status_name(999), "ASOBI_STATUS_UNKNOWN") == 0);
  return 1;
}

static int test_login(void) {
  AsobiClient *c = NULL;
  uint64_t rid;
  Seen seen;
  char name[64], id[64];
  snprintf(name, sizeof name, "login_%ld", (long)getpid());
  OK(asobi_client_new(http_url, &c));
  OK(asobi_auth_register(c, name, "correct-horse-battery", &rid));
  CHECK(await_reply(c, rid, &seen));
  CHECK(seen.kind == ASOBI_EVENT_KIND_RESPONSE);
  CHECK(strcmp(seen.type_name, "auth.register") == 0);

  OK(asobi_auth_login(c, name, "wrong-password-here", &rid));
  CHECK(await_reply(c, rid, &seen));
  CHECK(seen.kind == ASOBI_EVENT_KIND_FAILURE);
  CHECK(strcmp(seen.code, "auth.invalid_credentials") == 0);
  CHECK(seen.status == 401);

  OK(asobi_auth_login(c, name, "correct-horse-battery", &rid));
  CHECK(await_reply(c, rid, &seen));
  CHECK(seen.kind == ASOBI_EVENT_KIND_RESPONSE);
  CHECK(json_string(seen.payload, "player_id", id, sizeof id));

  /* Any REST call, as the signed-in player. */
  char path[96];
  snprintf(path, sizeof path, "/players/%s", id);
  OK(asobi_rest_call(c, "GET", path, NULL, &rid));
  CHECK(await_reply(c, rid, &seen));
  CHECK(seen.kind == ASOBI_EVENT_KIND_RESPONSE);
  CHECK(strstr(seen.payload, name) != NULL);
  OK(asobi_rest_call(c, "GET", "/no/such/route", NULL, &rid));
  CHECK(await_reply(c, rid, &seen));
  CHECK(seen.kind == ASOBI_EVENT_KIND_FAILURE && seen.status == 404);

  OK(asobi_client_free(c));
  return 1;
}

static int test_matchmake_two_clients(void) {
  char a_id[64], b_id[64], pointer[128];
  AsobiClient *a = signed_in(a_id, sizeof a_id);
  AsobiClient *b = signed_in(b_id, sizeof b_id);
  uint64_t rid;
  Seen seen;
  CHECK(a && b);
  /* One player on the native QUIC path, the other on WebSocket. */
  OK(asobi_client_use_quic(a, quic_addr, quic_pin));
  CHECK(connect_realtime(a));
  CHECK(connect_realtime(b));

  OK(asobi_matchmaker_add(a, "duel", NULL, &rid));
  CHECK(await_reply(a, rid, &seen));
  CHECK(seen.kind == ASOBI_EVENT_KIND_RESPONSE);
  OK(asobi_matchmaker_add(b, "duel", "{\"skill\": 10}", &rid));
  CHECK(await_reply(b, rid, &seen));
  CHECK(seen.kind == ASOBI_EVENT_KIND_RESPONSE);
  CHECK(await_event(a, ASOBI_EVENT_KIND_MESSAGE, "match.matched", &seen));
  CHECK(await_event(b, ASOBI_EVENT_KIND_MESSAGE, "match.matched", &seen));
  CHECK(strstr(seen.payload, a_id) && strstr(seen.payload, b_id));

  /* A moves; both see it in match.state, read with the typed accessor. */
  OK(asobi_match_input(a, "{\"dx\": 5, \"dy\": -2}"));
  snprintf(pointer, sizeof pointer, "/players/%s/x", a_id);
  for (int who = 0; who < 2; who++) {
    AsobiClient *c = who ? b : a;
    double x = 0, deadline = now_ms() + WAIT_MS;
    while (x != 5 && now_ms() < deadline) {
      CHECK(await_event(c, ASOBI_EVENT_KIND_MESSAGE, "match.state", &seen));
      if (asobi_match_state_number(c, pointer, &x) != ASOBI_STATUS_OK) x = 0;
    }
    CHECK(x == 5);
  }
  snprintf(pointer, sizeof pointer, "/players/%s/y", a_id);
  double y = 0;
  OK(asobi_match_state_number(b, pointer, &y));
  CHECK(y == -2);
  char *json = NULL;
  snprintf(pointer, sizeof pointer, "/players/%s", b_id);
  OK(asobi_match_state_json(a, pointer, &json));
  CHECK(strstr(json, "\"inputs\":0") != NULL);
  asobi_string_free(json);
  CHECK(asobi_match_state_number(a, "/players/nobody/x", &y) == ASOBI_STATUS_NOT_FOUND);

  OK(asobi_client_free(a));
  OK(asobi_client_free(b));
  return 1;
}

static int test_world_entities_and_terrain(void) {
  char id[64];
  AsobiClient *c = signed_in(id, sizeof id);
  uint64_t rid;
  Seen seen;
  CHECK(c);
  OK(asobi_client_use_quic(c, quic_addr, quic_pin));
  CHECK(connect_realtime(c));
  OK(asobi_realtime_request(c, "world.find_or_create", "{\"mode\": \"plains\"}", &rid));
  CHECK(await_reply(c, rid, &seen));
  CHECK(seen.kind == ASOBI_EVENT_KIND_RESPONSE);
  CHECK(strcmp(seen.type_name, "world.joined") == 0);

  /* Our own entity appears in the entity table at its spawn point. */
  AsobiEntity entities[64];
  size_t count = 0;
  int found = 0;
  double deadline = now_ms() + WAIT_MS;
  AsobiEvent ev;
  while (!found && now_ms() < deadline) {
    while (asobi_client_poll(c, &ev) == ASOBI_STATUS_OK && ev.kind != ASOBI_EVENT_KIND_NONE) {}
    OK(asobi_world_entities(c, entities, 64, &count));
    for (size_t i = 0; i < count; i++) {
      if (strcmp(entities[i].id, id) == 0) {
        CHECK(entities[i].has_position && entities[i].x == 10 && entities[i].y == 10);
        CHECK(strcmp(entities[i].kind, "player") == 0);
        found = 1;
      }
    }
    sleep_ms(10);
  }
  CHECK(found);
  /* Asking with no room says how many there are. */
  CHECK(asobi_world_entities(c, NULL, 0, &count) == ASOBI_STATUS_BUFFER_TOO_SMALL && count >= 1);

  /* The zone's terrain chunk: flat tile 7 at elevation 3. */
  AsobiCoords coords[16];
  size_t chunks = 0;
  deadline = now_ms() + WAIT_MS;
  while (chunks == 0 && now_ms() < deadline) {
    OK(asobi_world_chunks(c, coords, 16, &chunks));
    sleep_ms(10);
  }
  CHECK(chunks >= 1);
  static AsobiTile tiles[ASOBI_CHUNK_TILES];
  size_t n = 0;
  OK(asobi_world_chunk_tiles(c, coords[0].x, coords[0].y, tiles, ASOBI_CHUNK_TILES, &n));
  CHECK(n == ASOBI_CHUNK_TILES);
  CHECK(tiles[0].id == 7 && tiles[0].elevation == 3 && tiles[4095].id == 7);
  CHECK(asobi_world_chunk_tiles(c, coords[0].x, coords[0].y, tiles, 10, &n) ==
        ASOBI_STATUS_BUFFER_TOO_SMALL);
  CHECK(asobi_world_chunk_tiles(c, 999, 999, tiles, ASOBI_CHUNK_TILES, &n) ==
        ASOBI_STATUS_NOT_FOUND);

  /* An input moves us; the table follows. */
  OK(asobi_realtime_send(c, "world.input", "{\"x\": 20, \"y\": 30}"));
  double x = 0;
  deadline = now_ms() + WAIT_MS;
  while (x != 20 && now_ms() < deadline) {
    while (asobi_client_poll(c, &ev) == ASOBI_STATUS_OK && ev.kind != ASOBI_EVENT_KIND_NONE) {}
    if (asobi_world_entity_number(c, id, "x", &x) != ASOBI_STATUS_OK) x = 0;
    sleep_ms(10);
  }
  CHECK(x == 20);
  char *json = NULL;
  OK(asobi_world_entity_json(c, id, &json));
  CHECK(strstr(json, "\"y\":30") != NULL);
  asobi_string_free(json);
  CHECK(asobi_world_entity_number(c, "nobody", "x", &x) == ASOBI_STATUS_NOT_FOUND);

  OK(asobi_client_free(c));
  return 1;
}

static int test_close(void) {
  char id[64];
  AsobiClient *c = signed_in(id, sizeof id);
  uint64_t rid;
  AsobiEvent ev;
  CHECK(c);
  CHECK(connect_realtime(c));
  OK(asobi_realtime_close(c, &rid));
  /* The reply and the CLOSED event both come, in either order. */
  int replied = 0, closed = 0;
  double deadline = now_ms() + WAIT_MS;
  while (!(replied && closed) && now_ms() < deadline) {
    OK(asobi_client_poll(c, &ev));
    if (ev.kind == ASOBI_EVENT_KIND_NONE) sleep_ms(5);
    if (ev.kind == ASOBI_EVENT_KIND_RESPONSE && ev.request_id == rid)
      replied = strcmp(ev.type_name, "session.closed") == 0;
    if (ev.kind == ASOBI_EVENT_KIND_CLOSED) closed = 1;
  }
  CHECK(replied && closed);
  /* Closed: realtime calls say so, polling is still fine, REST still works. */
  CHECK(asobi_match_input(c, "{}") == ASOBI_STATUS_NOT_CONNECTED);
  CHECK(asobi_realtime_close(c, &rid) == ASOBI_STATUS_NOT_CONNECTED);
  OK(asobi_client_poll(c, &ev));
  CHECK(ev.kind == ASOBI_EVENT_KIND_NONE);
  /* And it can connect again. */
  CHECK(connect_realtime(c));
  OK(asobi_client_free(c));
  return 1;
}

static int test_misuse(void) {
  AsobiClient *c = NULL;
  AsobiEvent ev;
  uint64_t rid;
  const char bad_utf8[] = {'a', (char)0xff, (char)0xfe, 0};

  /* NULLs. */
  CHECK(asobi_client_new(NULL, &c) == ASOBI_STATUS_NULL_ARGUMENT);
  CHECK(strstr(asobi_last_error(), "http_url") != NULL);
  CHECK(asobi_client_new(http_url, NULL) == ASOBI_STATUS_NULL_ARGUMENT);
  CHECK(asobi_client_poll(NULL, &ev) == ASOBI_STATUS_NULL_ARGUMENT);
  CHECK(asobi_client_free(NULL) == ASOBI_STATUS_NULL_ARGUMENT);
  /* Unusable arguments. */
  CHECK(asobi_client_new("ftp://example", &c) == ASOBI_STATUS_INVALID_ARGUMENT);
  CHECK(asobi_client_new(bad_utf8, &c) == ASOBI_STATUS_INVALID_UTF8);

  OK(asobi_client_new(http_url, &c));
  CHECK(asobi_client_poll(c, NULL) == ASOBI_STATUS_NULL_ARGUMENT);
  CHECK(asobi_auth_login(c, bad_utf8, "x", &rid) == ASOBI_STATUS_INVALID_UTF8);
  CHECK(strstr(asobi_last_error(), "username") != NULL);
  CHECK(asobi_auth_login(c, "u", "p", NULL) == ASOBI_STATUS_NULL_ARGUMENT);
  CHECK(asobi_rest_call(c, "GET", "/x", "{not json", &rid) == ASOBI_STATUS_INVALID_JSON);
  CHECK(asobi_client_use_quic(c, quic_addr, "not-a-fingerprint") == ASOBI_STATUS_INVALID_ARGUMENT);
  /* Realtime before connecting. */
  CHECK(asobi_match_input(c, "{\"dx\": 1}") == ASOBI_STATUS_NOT_CONNECTED);
  CHECK(asobi_world_entities(c, NULL, 0, &(size_t){0}) == ASOBI_STATUS_NOT_CONNECTED);
  CHECK(asobi_match_state_number(c, "/x", &(double){0}) == ASOBI_STATUS_NOT_FOUND);
  /* Connecting without signing in fails as an event, not a crash. */
  OK(asobi_realtime_connect(c, &rid));
  Seen seen;
  CHECK(await_reply(c, rid, &seen));
  CHECK(seen.kind == ASOBI_EVENT_KIND_FAILURE);
  CHECK(strcmp(seen.code, "client.not_signed_in") == 0);

  /* A forged handle, then a freed one. */
  CHECK(asobi_client_poll((AsobiClient *)(uintptr_t)0x7777770, &ev) == ASOBI_STATUS_INVALID_HANDLE);
  OK(asobi_client_free(c));
  CHECK(asobi_client_poll(c, &ev) == ASOBI_STATUS_INVALID_HANDLE);
  CHECK(asobi_auth_login(c, "u", "p", &rid) == ASOBI_STATUS_INVALID_HANDLE);
  CHECK(asobi_client_free(c) == ASOBI_STATUS_INVALID_HANDLE);
  asobi_string_free(NULL);
  return 1;
}

static int test_bad_messages_on_a_live_session(void) {
  char id[64];
  AsobiClient *c = signed_in(id, sizeof id);
  uint64_t rid;
  Seen seen;
  CHECK(c);
  CHECK(connect_realtime(c));
  CHECK(asobi_realtime_request(c, "no.such.type", NULL, &rid) == ASOBI_STATUS_INVALID_ARGUMENT);
  CHECK(asobi_realtime_send(c, "match.input", "[1, 2]") == ASOBI_STATUS_INVALID_JSON);
  CHECK(asobi_realtime_send(c, "match.input", "{") == ASOBI_STATUS_INVALID_JSON);
  /* A request the server refuses comes back as a failure with its code. */
  OK(asobi_realtime_request(c, "match.join", "{\"match_id\": \"00000000-0000-7000-8000-000000000000\"}", &rid));
  CHECK(await_reply(c, rid, &seen));
  CHECK(seen.kind == ASOBI_EVENT_KIND_FAILURE);
  CHECK(strlen(seen.code) > 0);
  /* The session still works. */
  OK(asobi_realtime_request(c, "session.heartbeat", NULL, &rid));
  OK(asobi_client_free(c));
  return 1;
}

int main(void) {
  http_url = getenv("ASOBI_TEST_HTTP");
  quic_addr = getenv("ASOBI_TEST_QUIC");
  quic_pin = getenv("ASOBI_TEST_PIN");
  if (!http_url || !quic_addr || !quic_pin) {
    fprintf(stderr, "set ASOBI_TEST_HTTP, ASOBI_TEST_QUIC and ASOBI_TEST_PIN (bindings/run-tests does)\n");
    return 2;
  }
  struct {
    const char *name;
    int (*run)(void);
  } tests[] = {
      {"versions", test_versions},
      {"login", test_login},
      {"matchmake_two_clients", test_matchmake_two_clients},
      {"world_entities_and_terrain", test_world_entities_and_terrain},
      {"close", test_close},
      {"misuse", test_misuse},
      {"bad_messages_on_a_live_session", test_bad_messages_on_a_live_session},
  };
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    int ok = tests[i].run();
    printf("%s %s\n", ok ? "ok  " : "FAIL", tests[i].name);
    fflush(stdout);
    ok ? passed++ : failed++;
  }
  /* Every client was freed. */
  if (asobi_client_count() != 0) {
    printf("FAIL clients_leaked (%zu alive)\n", asobi_client_count());
    failed++;
  } else {
    passed++;
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
