-- PATCH /Users/{id} with Okta's no-path replace {"active": false}, random loaded ids.
local common = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local ids, headers
local body = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],' ..
             '"Operations":[{"op":"replace","value":{"active":false}}]}'
function init(args)
  ids = common.lines("user_ids.txt"); headers = common.headers(true); math.randomseed(tid * 15485863)
end
request = function() return wrk.format("PATCH", common.prefix .. "/Users/" .. ids[math.random(#ids)], headers, body) end
