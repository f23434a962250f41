-- wrk script: POST a distinct identity with a distinct Idempotency-Key each time.
-- Each connection thread numbers its own requests; the thread id keeps keys unique.
local counter = 0
local thread_id = 0
local api_key = os.getenv("BENCH_API_KEY") or ""

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end

function request()
  counter = counter + 1
  local n = tostring(tid) .. "-" .. tostring(counter) .. "-" .. tostring(math.random(1, 1e9))
  local body = '{"identity":{"given_name":"Bench' .. n .. '","family_name":"Person' .. n ..
    '","date_of_birth":"1990-01-01","email":"b' .. n .. '@bench.example",' ..
    '"phone":"+4477009' .. string.format("%05d", counter % 100000) .. '",' ..
    '"postal_address":{"lines":["1 Bench Street"],"locality":"London",' ..
    '"postal_code":"E1 1AA","country":"GB"},' ..
    '"document":{"type":"passport","number":"P' .. string.format("%08d", counter) ..
    '","country":"GB"}},' ..
    '"evidence":{"provider":"bench-idv","reference":"ref-' .. n ..
    '","assurance_level":"high","verified_at":"2026-11-01T10:00:00Z"}}'
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. api_key,
    ["Idempotency-Key"] = "bench-" .. n,
  }
  return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
  io.write(string.format("JSON {\"requests\":%d,\"errors_status\":%d,\"errors_other\":%d," ..
    "\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"seconds\":%.3f}\n",
    summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.duration / 1e6))
end
