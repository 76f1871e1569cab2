-- What the wrk scripts of benchmarks/ share; each loads it with
--   local common = dofile((string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "") .. "common.lua")
-- It numbers the threads (setup() sets `id` in each), reads the referral codes file, counts
-- responses by status into each thread's global `statuses`, and prints the tally as
-- "STATUS <code> <count>" lines for benchmarks/harness/loadgen.py.

local common = {}
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

-- The non-empty lines of a file, in order.
function common.read_codes(path)
  local codes = {}
  for line in io.lines(path) do
    if #line > 0 then
      codes[#codes + 1] = line
    end
  end
  return codes
end

function common.count(status)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

-- Print every thread's tally; `more(index, thread)` may print that thread's own lines.
function common.report(more)
  for index, thread in ipairs(threads) do
    for code, count in pairs(thread:get("statuses")) do
      io.write(string.format("STATUS %s %d\n", code, count))
    end
    if more then
      more(index, thread)
    end
  end
end

return common
