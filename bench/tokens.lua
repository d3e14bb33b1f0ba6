-- wrk script: every request carries a token never sent before. Tokens come from the
-- file named by TOKENS (one per line); of THREADS threads, thread i sends lines
-- START+i, START+i+n, START+i+2n… (a warm-up takes its tokens from the end of the file).
-- With HEADER set the token goes alone in that header (Cf-Access-Jwt-Assertion), else as
-- Authorization: Bearer.
local tokens, index, step = {}, 0, 1
local header = os.getenv("HEADER")
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
  step = tonumber(os.getenv("THREADS"))
  index = (tonumber(os.getenv("START") or "0") + id) % #tokens
end

function request()
  local token = tokens[index + 1]
  index = (index + step) % #tokens
  if header then return wrk.format(nil, nil, { [header] = token }) end
  return wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. token })
end

local latency = os.getenv("BENCH_LATENCY_LUA")
if latency then dofile(latency) end
