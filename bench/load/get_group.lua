-- GET /Groups/{BENCH_GROUP}?excludedAttributes=members (the 5,000-member group).
local common = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local headers, path
function init(args)
  headers = common.headers()
  path = common.prefix .. "/Groups/" .. os.getenv("BENCH_GROUP") .. "?excludedAttributes=members"
end
request = function() return wrk.format("GET", path, headers) end
