-- Two zones side by side with a border band: zones see each other's edge entities and can
-- send them effects.
game_type = "world"
match_size = 4
grid_size = 2
zone_size = 100
tick_rate = 20
broadcast_interval = 1
border_band = 0.2

function init(config) return { n = 0 } end

function join(player_id, state)
  state.n = state.n + 1
  return state
end

-- The first player lands just left of the edge, the second just right of it.
function spawn_position(player_id, state)
  if state.n == 1 then return { x = 90, y = 50 } end
  return { x = 110, y = 50 }
end

function leave(player_id, state) return state end

-- Each zone starts with a label from generate_world and stamps it on its entities.
function generate_world(seed, config)
  return {
    ["0,0"] = { game_state = { label = "west", seed = seed } },
    ["1,0"] = { game_state = { label = "east" } },
    ignored = true,
  }
end

function zone_tick(entities, zone_state)
  for _, e in pairs(entities) do
    e.zone_label = zone_state and zone_state.label
  end
  return entities, zone_state
end
function post_tick(tick, state) return state end

function handle_input(player_id, input, entities)
  local me = entities[player_id]
  if input.probe and me then
    local own = game.spatial.query_radius(me.x, me.y, 5)
    local rect = game.spatial.query_rect(0, 0, 100, 100)
    local near = game.spatial.neighbours_radius(me.x, me.y, 50)
    local box = game.spatial.neighbours_rect(100, 0, 200, 100)
    game.send(player_id, { own = #own, own_id = own[1] and own[1].id, rect = #rect, near = #near, near_id = near[1] and near[1].id, box = #box })
  end
  if input.poke then
    game.send(player_id, { poked = game.zone.apply(input.poke, { hit = 5 }) })
  end
  return entities
end

function handle_effects(effects, entities)
  for _, e in ipairs(effects) do
    local target = entities[e.entity_id]
    if target then
      target.hits = (target.hits or 0) + e.event.hit
    end
  end
  return entities
end
