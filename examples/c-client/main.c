/*
 * A small C game client over libasobi: two players sign up, queue for a `duel`, one moves,
 * both read the match state; then one joins the `plains` world and reads its entities and
 * terrain. Everything is polled from this one thread, as a game loop would.
 *
 *   bindings/run-tests example                 # builds and runs it against a test server
 *   ./c-client http://127.0.0.1:8080           # against a server started with
 *                                              # --game bindings/testgame
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "asobi.h"

static void frame(void) { nanosleep(&(struct timespec){0, 16 * 1000000L}, NULL); }

static int fail(const char *what) {
  fprintf(stderr, "%s: %s\n", what, asobi_last_error());
  return 1;
}

/* Runs the game loop until `client` reports an event of `type_name` (a reply or a push);
 * copies its payload. Returns 0 on a failure event or after ~10 s. */
static int wait_for(AsobiClient *client, const char *type_name, char *payload, size_t cap) {
  for (int frames = 0; frames < 600; frames++) {
    AsobiEvent ev;
    while (asobi_client_poll(client, &ev) == ASOBI_STATUS_OK && ev.kind != ASOBI_EVENT_KIND_NONE) {
      if (ev.kind == ASOBI_EVENT_KIND_FAILURE) {
        fprintf(stderr, "request failed: %s (%s)\n", ev.code, ev.message);
        return 0;
      }
      if (strcmp(ev.type_name, type_name) == 0) {
        if (payload) snprintf(payload, cap, "%s", ev.payload);
        return 1;
      }
    }
    frame();
  }
  fprintf(stderr, "no %s\n", type_name);
  return 0;
}

/* Signs up a new player, opens the realtime session, and copies the player's id. */
static AsobiClient *player(const char *url, const char *name, char *id, size_t cap) {
  AsobiClient *client;
  uint64_t request;
  char reply[1024];
  if (asobi_client_new(url, &client) != ASOBI_STATUS_OK) return NULL;
  asobi_auth_register(client, name, "correct-horse-battery", &request);
  if (!wait_for(client, "auth.register", reply, sizeof reply)) return NULL;
  /* The reply is {"player_id":"…",…}; copy the id. */
  const char *at = strstr(reply, "\"player_id\":\"") + 13;
  snprintf(id, cap, "%.*s", (int)(strchr(at, '"') - at), at);
  asobi_realtime_connect(client, &request);
  if (!wait_for(client, "session.connected", NULL, 0)) return NULL;
  return client;
}

int main(int argc, char **argv) {
  const char *url = argc > 1 ? argv[1] : "http://127.0.0.1:8080";
  char alice_name[32], bob_name[32], alice[64], bob[64], text[4096], pointer[128];
  uint64_t request;
  snprintf(alice_name, sizeof alice_name, "alice_%ld", (long)getpid());
  snprintf(bob_name, sizeof bob_name, "bob_%ld", (long)getpid());
  printf("libasobi %s (ABI %u), server %s\n", asobi_version(), asobi_abi_version(), url);

  AsobiClient *a = player(url, alice_name, alice, sizeof alice);
  AsobiClient *b = player(url, bob_name, bob, sizeof bob);
  if (!a || !b) return fail("sign-up");

  /* Matchmaking: both queue for a duel and are matched together. */
  asobi_matchmaker_add(a, "duel", NULL, &request);
  asobi_matchmaker_add(b, "duel", NULL, &request);
  if (!wait_for(a, "match.matched", text, sizeof text)) return 1;
  printf("matched: %s\n", text);

  /* Alice moves; Bob sees her position in the match state. */
  if (asobi_match_input(a, "{\"dx\": 3, \"dy\": 4}") != ASOBI_STATUS_OK) return fail("input");
  snprintf(pointer, sizeof pointer, "/players/%s/x", alice);
  double x = 0, y = 0;
  while (x != 3 && wait_for(b, "match.state", NULL, 0))
    asobi_match_state_number(b, pointer, &x);
  snprintf(pointer, sizeof pointer, "/players/%s/y", alice);
  asobi_match_state_number(b, pointer, &y);
  printf("bob sees alice at (%g, %g)\n", x, y);
  if (x != 3 || y != 4) return 1;
  asobi_client_free(b);

  /* A world: join, then read the entity table and the terrain under it. */
  asobi_realtime_request(a, "world.find_or_create", "{\"mode\": \"plains\"}", &request);
  if (!wait_for(a, "world.joined", text, sizeof text)) return 1;
  AsobiEntity entities[32];
  AsobiCoords chunks[8];
  size_t n_entities = 0, n_chunks = 0;
  for (int frames = 0; frames < 600 && (n_entities == 0 || n_chunks == 0); frames++) {
    AsobiEvent ev;
    while (asobi_client_poll(a, &ev) == ASOBI_STATUS_OK && ev.kind != ASOBI_EVENT_KIND_NONE) {}
    asobi_world_entities(a, entities, 32, &n_entities);
    asobi_world_chunks(a, chunks, 8, &n_chunks);
    frame();
  }
  for (size_t i = 0; i < n_entities && i < 32; i++)
    printf("entity %s (%s) at (%g, %g) in zone (%lld, %lld)\n", entities[i].id, entities[i].kind,
           entities[i].x, entities[i].y, (long long)entities[i].zone_x, (long long)entities[i].zone_y);
  static AsobiTile tiles[ASOBI_CHUNK_TILES];
  size_t n_tiles = 0;
  if (n_chunks == 0 ||
      asobi_world_chunk_tiles(a, chunks[0].x, chunks[0].y, tiles, ASOBI_CHUNK_TILES, &n_tiles) != ASOBI_STATUS_OK)
    return fail("terrain");
  printf("terrain chunk (%lld, %lld): %zu tiles, first tile id %u elevation %u\n",
         (long long)chunks[0].x, (long long)chunks[0].y, n_tiles, tiles[0].id, tiles[0].elevation);

  asobi_client_free(a);
  printf("done\n");
  return 0;
}
