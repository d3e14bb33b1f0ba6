-- wrk script for the signer chain: requests in proxy (absolute-URI) form, so the signer
-- forwards them to TARGET (the verifier) with a fresh token each.
local target = os.getenv("TARGET")

function request()
  return wrk.format("GET", target)
end
