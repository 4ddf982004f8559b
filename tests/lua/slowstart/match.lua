-- A game whose matches are slow to start and then fail (issue 15 §6): `init` spins for
-- 0.3 s of CPU, then raises. Building a match of it must not hold the I/O runtime: other
-- sockets are served during the build, and the failure is answered after it.
match_size = 1
quick_play = true

function init(config)
  local started = os.clock()
  while os.clock() - started < 0.3 do end
  error("this game never starts")
end
function join(id, state) return state end
function leave(id, state) return state end
function tick(state) return state end
function get_state(id, state) return {} end
