-- Shared by every workload script: auth headers, id files, per-thread numbering, status counting, a JSON summary.
-- Environment: BENCH_TOKEN (bearer secret), BENCH_DATA (directory of id files written by run.py).
local M = {}

M.prefix = "/scim/v2"
M.data = os.getenv("BENCH_DATA") or "."

function M.lines(name)
  local items = {}
  for line in io.lines(M.data .. "/" .. name) do
    if line ~= "" then items[#items + 1] = line end
  end
  return items
end

function M.headers(body)
  local headers = {["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or ""), ["Accept"] = "application/scim+json"}
  if body then headers["Content-Type"] = "application/scim+json" end
  return headers
end

-- Threads get a number (1..n) in setup(); their counters are read back in done().
local threads = {}
local next_thread = 1

function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
  threads[#threads + 1] = thread
end

ok, bad, statuses = 0, 0, {}

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    bad = bad + 1
    statuses[status] = (statuses[status] or 0) + 1
    if bad <= 3 and body then io.stderr:write("non-2xx " .. status .. ": " .. string.sub(body, 1, 300) .. "\n") end
  end
end

function done(summary, latency, requests)
  local total_ok, total_bad, by_status = 0, 0, {}
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_bad = total_bad + thread:get("bad")
    local counts = thread:get("statuses")
    for status, count in pairs(counts) do by_status[status] = (by_status[status] or 0) + count end
  end
  local parts = {}
  for status, count in pairs(by_status) do parts[#parts + 1] = string.format('"%d": %d', status, count) end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "ok": %d, "non2xx": %d, ' ..
    '"statuses": {%s}, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), total_ok, total_bad,
    table.concat(parts, ", "), errors.connect + errors.read + errors.write + errors.timeout))
end

return M
