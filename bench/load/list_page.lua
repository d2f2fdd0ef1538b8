-- GET /Users?startIndex=1&count=100: one page of 100 full users, with totalResults.
local common = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local headers
function init(args) headers = common.headers() end
request = function() return wrk.format("GET", common.prefix .. "/Users?startIndex=1&count=100", headers) end
