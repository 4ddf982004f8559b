-- Hot-reload demo: every player drives a cube with W A S D.
--
-- Change `speed` (or `size`) below and save: running matches pick the new code up on their
-- next tick. The cubes stay where they are and nobody is disconnected.

match_size = 1
max_players = 8
quick_play = true
listed = true
state_strategy = "shared"

speed = 4 -- units per tick; matches tick 10 times a second
size = 40

local WIDTH, HEIGHT = 800, 600

function init(config)
  return { cubes = {}, joined = 0 }
end

function join(player_id, state)
  state.joined = state.joined + 1
  state.cubes[player_id] = { x = 60 + (state.joined * 90) % 600, y = 280, keys = {} }
  return state
end

function leave(player_id, state)
  state.cubes[player_id] = nil
  return state
end

function handle_input(player_id, input, state)
  local cube = state.cubes[player_id]
  if cube and type(input.keys) == "table" then
    cube.keys = {
      w = input.keys.w == true,
      a = input.keys.a == true,
      s = input.keys.s == true,
      d = input.keys.d == true,
    }
  end
  return state
end

local function clamp(v, lo, hi)
  if v < lo then return lo end
  if v > hi then return hi end
  return v
end

function tick(state)
  for _, c in pairs(state.cubes) do
    if c.keys.a then c.x = c.x - speed end
    if c.keys.d then c.x = c.x + speed end
    if c.keys.w then c.y = c.y - speed end
    if c.keys.s then c.y = c.y + speed end
    c.x = clamp(c.x, 0, WIDTH - size)
    c.y = clamp(c.y, 0, HEIGHT - size)
  end
  return state
end

function get_state(state)
  local cubes = {}
  for id, c in pairs(state.cubes) do
    cubes[id] = { x = c.x, y = c.y }
  end
  return { cubes = cubes, speed = speed, size = size }
end
