-- GET one fixed path (the bare /healthz and /readyz baselines) and count responses by status.
-- Usage: wrk ... -s get.lua http://host:port/healthz
-- The tally is printed by done() as "STATUS <code> <count>" lines for benchmarks/run.py.

local common = dofile((string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "") .. "common.lua")

function init(args)
  statuses = {}
  wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) sarafan-bench"
end

function response(status, headers, body)
  common.count(status)
end

function done(summary, latency, requests)
  common.report()
end
