-- wrk script for bench/scale.py: replay the lines of $BENCH_LINES in random order.
-- BENCH_METHOD=GET: each line is a pseudonym, fetched as GET /api/v1/enrolments/<line>.
-- BENCH_METHOD=POST: each line is an enrolment body, posted with a fresh Idempotency-Key.
local api_key = os.getenv("BENCH_API_KEY") or ""
local method = os.getenv("BENCH_METHOD") or "GET"
local lines = {}
local counter = 0
local thread_id = 0

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end

function init(args)
  for line in io.lines(os.getenv("BENCH_LINES")) do
    lines[#lines + 1] = line
  end
  math.randomseed(os.time() + (tid or 0))
end

function request()
  counter = counter + 1
  local line = lines[math.random(1, #lines)]
  local headers = {["Authorization"] = "Bearer " .. api_key}
  if method == "GET" then
    return wrk.format("GET", "/api/v1/enrolments/" .. line, headers, nil)
  end
  headers["Content-Type"] = "application/json"
  headers["Idempotency-Key"] = "scale-" .. tostring(tid) .. "-" .. tostring(counter) .. "-" ..
    tostring(math.random(1, 1e9))
  return wrk.format("POST", nil, headers, line)
end

function done(summary, latency, requests)
  io.write(string.format("JSON {\"requests\":%d,\"errors_status\":%d,\"errors_other\":%d," ..
    "\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"seconds\":%.3f}\n",
    summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.duration / 1e6))
end
