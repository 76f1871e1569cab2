-- POST /api/v1/events with a realistic mix: the signup of a new customer carrying a
-- referrer's code, and later a paid order of that same customer. Each pair creates a
-- participant, a referral, the referee's reward, an order and the referrer's reward, each
-- reward with its certificate.
--
-- Usage: wrk ... -s events.lua http://host:port -- codes.txt SECRET_KEY LAG [TAG]
--   codes.txt   referral codes, one per line (rotated over)
--   SECRET_KEY  the project's test secret key
--   LAG         how many customers a thread's orders trail its signups by
--   TAG         optional; customers are c<TAG><thread>-<n> (a warm-up uses another tag)
--
-- wrk gives a script no connection identity, so the counter is per thread. The harness signs
-- up customers 1..LAG of every thread before the run; the run then strictly alternates the
-- order of customer k with the signup of customer k + LAG. With LAG at least the number of a
-- thread's connections, a customer's order goes out long after their signup was answered, as
-- in a shop, instead of racing it; the order also carries the same referral code (as API.md's
-- example does), so even a reordered pair rewards the same way. Half the requests are
-- signups and half are orders from the first request on.
-- done() prints "STATUS <code> <count>" lines; per thread "SENT <thread> <signups> <orders>"
-- (that thread's orders were for customers 1..<orders>; the last requests may still have
-- been in flight, or not even written, when wrk stopped); and "ANSWERED <order id>" for
-- every order answered 2xx, read from the answer's body.

local common = dofile((string.match(debug.getinfo(1, "S").source, "^@(.*/)") or "") .. "common.lua")

function init(args)
  codes = common.read_codes(args[1])
  lag = tonumber(args[3]) or 64
  tag = args[4] or ""
  statuses = {}
  answered = {}
  sent = { signup = 0, order = 0 }
  signups = lag -- customers 1..LAG were signed up by the harness
  orders = 0
  order_turn = false
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["User-Agent"] = "sarafan-bench/1 (shop backend)"
end

local function customer(n)
  return string.format("c%s%d-%d", tag, id, n)
end

local function code_for(n)
  return codes[((n + id * 7919) % #codes) + 1]
end

local function context(n)
  return string.format(
    '{"ip": "10.%d.%d.%d", "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", "visitor_id": "vis%s%d-%012d"}',
    id % 250, math.floor(n / 250) % 250, n % 250, tag, id, n
  )
end

local function signup(n)
  local ext = customer(n)
  return string.format(
    '{"type": "signup", "referral_code": "%s", "customer": {"external_id": "%s", "email": "%s@example.com"}, "context": %s}',
    code_for(n), ext, ext, context(n)
  )
end

local function order(n)
  local ext = customer(n)
  return string.format(
    '{"type": "order", "referral_code": "%s", "customer": {"external_id": "%s"}, "order": {"id": "o-%s", "amount": "4990.00", "currency": "RUB", "status": "paid"}, "context": %s}',
    code_for(n), ext, ext, context(n)
  )
end

function request()
  order_turn = not order_turn
  local body
  if order_turn and signups - orders >= lag then
    orders = orders + 1
    sent.order = sent.order + 1
    body = order(orders)
  else
    signups = signups + 1
    sent.signup = sent.signup + 1
    body = signup(signups)
  end
  return wrk.format(nil, "/api/v1/events", nil, body)
end

function response(status, headers, body)
  common.count(status)
  if status >= 200 and status < 300 and body then
    -- Only an order's answer holds a string like "o-c0-12" (its order.id).
    local order_id = string.match(body, '"(o%-c%w*%-%d+)"')
    if order_id then
      answered[#answered + 1] = order_id
    end
  end
end

function done(summary, latency, requests)
  common.report(function(index, thread)
    local s = thread:get("sent")
    io.write(string.format("SENT %d %d %d\n", index - 1, s.signup, s.order))
    for _, order_id in ipairs(thread:get("answered")) do
      io.write("ANSWERED " .. order_id .. "\n")
    end
  end)
end
