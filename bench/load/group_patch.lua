-- PATCH /Groups/{BENCH_GROUP}: add one user not in the group, then remove it, alternately. Each thread walks its own
-- slice of the spare users (BENCH_SPARE file), so two threads never touch the same user.
local common = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local headers, spare, counter, slice, path = nil, nil, 0, 0, nil
local threads = tonumber(os.getenv("BENCH_THREADS") or "2")
function init(args)
  headers = common.headers(true)
  spare = common.lines(os.getenv("BENCH_SPARE"))
  slice = math.floor(#spare / threads)
  path = common.prefix .. "/Groups/" .. os.getenv("BENCH_GROUP")
end
request = function()
  local step = math.floor(counter / 2) % slice
  local user = spare[(tid - 1) * slice + step + 1]
  local op
  if counter % 2 == 0 then
    op = '{"op":"add","path":"members","value":[{"value":"' .. user .. '"}]}'
  else
    op = '{"op":"remove","path":"members[value eq \\"' .. user .. '\\"]"}'
  end
  counter = counter + 1
  return wrk.format("PATCH", path, headers,
    '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[' .. op .. ']}')
end
