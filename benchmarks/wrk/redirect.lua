-- GET /r/<code>, rotating over the referral codes listed one per line in the file given as
-- the first script argument. wrk does not follow redirects: a 302 is the expected answer.
-- Usage: wrk ... -s redirect.lua http://host:port -- codes.txt
-- done() prints "STATUS <code> <count>" lines and "SENT <count>", the requests written
-- (those still in flight when wrk stops are sent but never counted as responses).

local common = dofile((string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "") .. "common.lua")

function init(args)
  codes = common.read_codes(args[1])
  statuses = {}
  counter = 0
  -- Each thread starts at a different place in the list.
  offset = (id * 7919) % #codes
  wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) sarafan-bench"
end

function request()
  counter = counter + 1
  local code = codes[((counter + offset) % #codes) + 1]
  return wrk.format("GET", "/r/" .. code)
end

function response(status, headers, body)
  common.count(status)
end

function done(summary, latency, requests)
  common.report(function(_, thread)
    io.write(string.format("SENT %d\n", thread:get("counter")))
  end)
end
