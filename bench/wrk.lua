-- wrk script of the benchmark: every request carries the token of a random
-- user, every response is checked, and done() prints one JSON line for the
-- Go driver. Arguments (after --): workload (list|create, or a scaling
-- run's name), the tokens file and the request body's file (the driver
-- writes it: one source for both), and optionally a file with the exact
-- response body expected, which the driver checked against the database.
--
-- A list response must be 200, without errors, with exactly 20 tasks that all
-- belong to one user (seeded titles start with the owner's tag). wrk cannot
-- tell which request a response answers, so the driver's own sampler checks
-- that the owner is the caller.

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

local tokens = {}
local workload
-- globals, so that done() can read them with thread:get
checked, bad, sample = 0, 0, nil

local body
local expected

function init(args)
  workload = args[1]
  for line in io.lines(args[2]) do
    tokens[#tokens + 1] = line
  end
  local f = assert(io.open(args[3]))
  body = f:read("*a")
  f:close()
  if args[4] then
    f = assert(io.open(args[4]))
    expected = f:read("*a")
    f:close()
  end
  math.randomseed(id * 7919 + os.time())
end

function request()
  return wrk.format("POST", nil, {
    ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)],
    ["Content-Type"] = "application/json",
  }, body)
end

local function ok_list(body)
  local owner, n = nil, 0
  for tag in body:gmatch('"title":"(u%d+) ') do
    n = n + 1
    if owner == nil then
      owner = tag
    elseif tag ~= owner then
      return false
    end
  end
  return n == 20
end

local function ok_create(body)
  return body:find('"createTask":{"id":"', 1, true) ~= nil
end

function response(status, headers, body)
  checked = checked + 1
  local ok = status == 200 and not body:find('"errors"', 1, true)
  if ok and expected then
    ok = body == expected
  elseif ok then
    if workload == "create" then ok = ok_create(body) else ok = ok_list(body) end
  end
  if not ok then
    bad = bad + 1
    if sample == nil then sample = (status .. " " .. body:sub(1, 300)):gsub("%c", " ") end
  end
end

function done(summary, latency, requests)
  local c, b, s = 0, 0, ""
  for _, t in ipairs(threads) do
    c = c + t:get("checked")
    b = b + t:get("bad")
    s = t:get("sample") or s
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"socket_errors":%d,"status_errors":%d,"checked":%d,"bad":%d,"sample":%q}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect + e.read + e.write + e.timeout, e.status,
    c, b, s))
end
