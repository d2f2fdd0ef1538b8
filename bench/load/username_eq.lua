-- GET /Users?filter=userName eq "<random loaded userName>"
local common = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local names, headers
local function encode(s) return (string.gsub(s, "[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end)) end
function init(args)
  names = common.lines("user_names.txt"); headers = common.headers(); math.randomseed(tid * 104729)
end
request = function()
  local filter = encode('userName eq "' .. names[math.random(#names)] .. '"')
  return wrk.format("GET", common.prefix .. "/Users?filter=" .. filter, headers)
end
