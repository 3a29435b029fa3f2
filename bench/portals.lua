-- wrk script for many portals over several replicas (the refresh storm): each request POSTs one JSON body
-- (BENCH_BODY) with a gateway API key (BENCH_KEY) to the portal-scoped path of a method (BENCH_METHOD),
-- naming the portals (BENCH_PORTALS, member_ids separated by commas) in turn; thread i connects to the i-th
-- port of BENCH_PORTS (ports on 127.0.0.1, separated by commas), whatever the URL's, so that with one thread a
-- replica every replica gets its share of the connections. Prints the same line as bench/post.lua at the end.
local function split(text)
  local items = {}
  for item in string.gmatch(text, "[^,]+") do items[#items + 1] = item end
  return items
end

local portals = split(os.getenv("BENCH_PORTALS"))
local ports = split(os.getenv("BENCH_PORTS"))
local method = os.getenv("BENCH_METHOD")
local body = os.getenv("BENCH_BODY")
local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY"),
}

local threads = 0
setup = function(thread)
  threads = threads + 1
  thread.addr = wrk.lookup("127.0.0.1", ports[(threads - 1) % #ports + 1])[1]
  -- Each thread starts at another point of the list: the replicas do not call the same portal in step.
  thread:set("counter", (threads - 1) * math.floor(#portals / #ports))
end

request = function()
  counter = counter + 1
  local portal = portals[counter % #portals + 1]
  return wrk.format("POST", "/portals/" .. portal .. "/rest/" .. method, headers, body)
end

done = function(summary, latency, requests)
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"non2xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout))
end
