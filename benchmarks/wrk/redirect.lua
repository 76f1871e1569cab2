-- GET /r/<code>, rotating over the referral codes listed one per line in the file given as
-- the first script argument. wrk does not follow redirects: a 302 is the expected answer.
-- Usage: wrk ... -s redirect.lua http://host:port -- codes.txt
-- done() prints "STATUS <code> <count>" lines and "SENT <count>", the requests written
-- (those still in flight when wrk stops are sent but never counted as responses).

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  codes = {}
  for line in io.lines(args[1]) do
    if #line > 0 then
      codes[#codes + 1] = line
    end
  end
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
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for code, count in pairs(thread:get("statuses")) do
      io.write(string.format("STATUS %s %d\n", code, count))
    end
    io.write(string.format("SENT %d\n", thread:get("counter")))
  end
end
