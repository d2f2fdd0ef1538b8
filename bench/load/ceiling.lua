-- The bare Flask endpoint: the stack's own ceiling.
local common = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
request = function() return wrk.format("GET", "/") end
