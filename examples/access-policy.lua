-- The rule of examples/access-policy.yaml: application admins, from example.com, on a device
-- whose posture checks all passed. verify gets {claims = ..., request = {method, path, host,
-- headers}} and returns true, or false and the reason the client is told.

local function member(list, wanted)
  for _, item in ipairs(list or {}) do
    if item == wanted then return true end
  end
  return false
end

function verify(input)
  local claims = input.claims
  local custom = claims.custom or {}
  if not member(custom["http://schemas/groups"], "application_admin") then
    return false, "application admins only"
  end
  if type(claims.email) ~= "string" or not claims.email:match("@example%.com$") then
    return false, "example.com accounts only"
  end
  for name, check in pairs(claims.device_posture or {}) do
    if check.success ~= true then return false, "device posture check " .. name .. " failed" end
  end
  -- Writes need a second factor the identity provider vouched for.
  if input.request.method ~= "GET" and not member(claims.amr, "mfa") then
    return false, "changes need a second factor"
  end
  return true
end
