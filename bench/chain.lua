-- wrk script for the signer chain: requests in proxy (absolute-URI) form, so the signer
-- forwards them to TARGET (the verifier) with a fresh token each. With MEAN_PAUSE_MS each
-- connection pauses a random 0..2×mean between requests: arrivals stay desynchronized, and
-- the latency is measured at a set load below saturation.
local target = os.getenv("TARGET")
local mean = tonumber(os.getenv("MEAN_PAUSE_MS") or "0")
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  math.randomseed(os.time() + id)
end

function request()
  return wrk.format("GET", target)
end

if mean > 0 then
  function delay()
    return math.random() * 2 * mean
  end
end

local latency = os.getenv("BENCH_LATENCY_LUA")
if latency then dofile(latency) end
