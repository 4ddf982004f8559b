-- Spawn templates: each zone seeds one wolf from a template; hunting despawns it and the
-- template respawns it at its first position, with its first id, without the overrides.
game_type = "world"
match_size = 4
grid_size = 1
zone_size = 100
tick_rate = 20
broadcast_interval = 1

function init(config) return {} end
function join(player_id, state) return state end
function spawn_position(player_id, state) return { x = 50, y = 50 } end
function leave(player_id, state) return state end
function post_tick(tick, state) return state end

function spawn_templates(config)
  return {
    wolf = { type = "npc", base_state = { hp = 10 }, respawn = { delay = 200 } },
  }
end

function zone_tick(entities, zone_state)
  if not zone_state then
    game.zone.spawn("wolf", 20, 30, { name = "alpha" })
    zone_state = { seeded = true }
  end
  return entities, zone_state
end

function handle_input(player_id, input, entities)
  if input.hunt then
    local n = 0
    for id, e in pairs(entities) do
      if e.type == "npc" then
        game.zone.despawn(id)
        n = n + 1
      end
    end
    game.send(player_id, { hunted = n, ghost = game.zone.spawn("ghost", 1, 1) })
  end
  return entities
end
