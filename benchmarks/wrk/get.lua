-- GET one fixed path (the bare /healthz and /readyz baselines) and count responses by status.
-- Usage: wrk ... -s get.lua http://host:port/healthz
-- The tally is printed by done() as "STATUS <code> <count>" lines for benchmarks/run.py.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) sarafan-bench"
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for code, count in pairs(thread:get("statuses")) do
      io.write(string.format("STATUS %s %d\n", code, count))
    end
  end
end
