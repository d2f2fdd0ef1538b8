-- POST /Users with a unique userName: run tag (BENCH_RUN), thread number and a per-thread counter.
local common = dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local headers, counter, run = nil, 0, os.getenv("BENCH_RUN") or "run"
function init(args) headers = common.headers(true) end
request = function()
  counter = counter + 1
  local name = string.format("load-%s-t%d-%d@example.com", run, tid, counter)
  local body = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"' .. name ..
               '","name":{"givenName":"Load","familyName":"Test"},"emails":[{"value":"' .. name ..
               '","type":"work","primary":true}],"active":true}'
  return wrk.format("POST", common.prefix .. "/Users", headers, body)
end
