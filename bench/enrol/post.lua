-- wrk script: POST a distinct identity with a distinct Idempotency-Key each time.
-- Each connection thread numbers its own requests; the thread id keeps keys unique.
-- Phone and document numbers are random too, so a signup matches an earlier one about
-- as rarely as a real one does (numbered per thread, they repeated in every thread and
-- every wrk run).
local counter = 0
local thread_id = 0
local api_key = os.getenv("BENCH_API_KEY") or ""

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end

function init(args)
  -- Each thread's Lua state starts from the same seed. Unseeded, every wrk run drew the
  -- same numbers as the run before it and so sent the same keys and bodies: most
  -- signups of a later run were idempotent replays of earlier ones, not new signups.
  math.randomseed(os.time() * 100 + tid)
end

function request()
  counter = counter + 1
  local n = tostring(tid) .. "-" .. tostring(counter) .. "-" .. tostring(math.random(1, 1e9))
  local body = '{"identity":{"given_name":"Bench' .. n .. '","family_name":"Person' .. n ..
    '","date_of_birth":"1990-01-01","email":"b' .. n .. '@bench.example",' ..
    '"phone":"+447' .. string.format("%09d", math.random(0, 999999999)) .. '",' ..
    '"postal_address":{"lines":["1 Bench Street"],"locality":"London",' ..
    '"postal_code":"E1 1AA","country":"GB"},' ..
    '"document":{"type":"passport","number":"P' .. string.format("%08d", math.random(0, 99999999)) ..
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
