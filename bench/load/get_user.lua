-- GET /Users/{id}, a random id of the loaded users each time.
local common = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local ids, headers
function init(args)
  ids = common.lines("user_ids.txt"); headers = common.headers(); math.randomseed(tid * 7919)
end
request = function() return wrk.format("GET", common.prefix .. "/Users/" .. ids[math.random(#ids)], headers) end
