-- PATCH /Users/{id} with Okta's no-path replace of `active`: deactivate a user ({"active": false}), then reactivate it
-- ({"active": true}), so that every request really changes the user (a PATCH that changes nothing writes only its
-- event). Each thread walks its own slice of the loaded users, so two threads never touch the same user.
local common = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local ids, headers, counter, slice = nil, nil, 0, 0
local threads = tonumber(os.getenv("BENCH_THREADS") or "2")
local bodies = {}
for i, active in ipairs({"false", "true"}) do
  bodies[i] = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],' ..
              '"Operations":[{"op":"replace","value":{"active":' .. active .. '}}]}'
end
function init(args)
  ids = common.lines("user_ids.txt"); headers = common.headers(true); slice = math.floor(#ids / threads)
end
request = function()
  local user = ids[(tid - 1) * slice + math.floor(counter / 2) % slice + 1]
  local body = bodies[counter % 2 + 1]
  counter = counter + 1
  return wrk.format("PATCH", common.prefix .. "/Users/" .. user, headers, body)
end
