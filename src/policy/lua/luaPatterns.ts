// Lua's pattern functions made to honour a claims verifier's time bound. The C matcher
// (lstrlib.c) backtracks: `.-.-b` over 600 bytes takes 0.35 s, `a.*b` over 8 KB 0.4 s, and
// the count hook cannot stop a C function. So each call first bounds its worst case: when
// it fits in a small slice of the time bound it runs in C; otherwise the same algorithm,
// ported to Lua below, runs under the hook and stops at the deadline like any Lua code
// (fail closed). Results and error messages are the C library's.

/**
 * The C matcher's steps per millisecond counted low: 80 000–100 000 were measured in wasmoon
 * on a shared 2-core machine; a quarter of that leaves room for a slower machine.
 */
const C_STEPS_PER_MS = 25_000;
/** The share of the time bound one C call may take: a call started just before the deadline ends soon after it. */
const C_CALL_SHARE = 1 / 8;

/** Lua source run in the sandbox before the script: replaces string.find, match, gmatch and gsub. */
export function boundedPatternFunctions(timeoutMs: number): string {
  return patternFunctionsWithBudget(Math.max(1000, Math.floor(timeoutMs * C_CALL_SHARE * C_STEPS_PER_MS)));
}

/** The same with the C matcher's budget given: 0 sends every call to the Lua matcher (tests compare the two). */
export function patternFunctionsWithBudget(cSteps: number): string {
  return `local C_STEPS = ${cSteps}\n${PATTERNS}`;
}

const PATTERNS = `
local byte, sub, format, type, error, tostring, concat, pack, unpack, tointeger =
  string.byte, string.sub, string.format, type, error, tostring, table.concat, table.pack, table.unpack, math.tointeger
local cfind, cmatch, cgmatch, cgsub = string.find, string.match, string.gmatch, string.gsub
local MAXCCALLS, MAXCAPTURES, CAP_UNFINISHED, CAP_POSITION = 200, 32, -1, -2
local ESC = 37
local pcall, rawget = pcall, rawget

-- A pattern error is raised as C raises it, at the position of the code that called the
-- function: deep inside the matcher it is marked, and the entry point raises it again.
local FAILURE = {}
local function fail(message) error({ [FAILURE] = message }, 0) end
local function raise(err)
  if type(err) == 'table' and rawget(err, FAILURE) then error(rawget(err, FAILURE), 3) end
  error(err, 0)
end

-- An upper bound of the C matcher's work for a subject of n bytes: every start position,
-- times 2(n+1) for each item that can backtrack over the subject (* + - %b and
-- back-references; ? doubles), times the pattern's length. Quantifier characters inside sets
-- or escapes are counted too: over-counting only sends a call to the Lua matcher.
local function cost(n, p, anchorable)
  local plen = #p
  local total = (anchorable and byte(p, 1) == 94) and 1 or (n + 1)
  local factor = 2 * (n + 1)
  local i = 1
  while i <= plen do
    local c = byte(p, i)
    if c == 42 or c == 43 or c == 45 then total = total * factor
    elseif c == 63 then total = total * 2
    elseif c == ESC then
      local d = byte(p, i + 1)
      if d == 98 or (d and d >= 48 and d <= 57) then total = total * factor end
      i = i + 1
    end
    if total > C_STEPS then return total end
    i = i + 1
  end
  return total * (plen + 1)
end

local function isdigit(c) return c >= 48 and c <= 57 end
local function isupper(c) return c >= 65 and c <= 90 end
local function islower(c) return c >= 97 and c <= 122 end
local function isalpha(c) return isupper(c) or islower(c) end

-- lstrlib.c match_class, in the C locale.
local function match_class(c, cl)
  local lower = isupper(cl) and cl + 32 or cl
  local res
  if lower == 97 then res = isalpha(c)
  elseif lower == 99 then res = c < 32 or c == 127
  elseif lower == 100 then res = isdigit(c)
  elseif lower == 103 then res = c >= 33 and c <= 126
  elseif lower == 108 then res = islower(c)
  elseif lower == 112 then res = (c >= 33 and c <= 47) or (c >= 58 and c <= 64) or (c >= 91 and c <= 96) or (c >= 123 and c <= 126)
  elseif lower == 115 then res = c == 32 or (c >= 9 and c <= 13)
  elseif lower == 117 then res = isupper(c)
  elseif lower == 119 then res = isalpha(c) or isdigit(c)
  elseif lower == 120 then res = isdigit(c) or (c >= 97 and c <= 102) or (c >= 65 and c <= 70)
  else return cl == c end
  if isupper(cl) then return not res end
  return res
end

local function class_end(ms, p)
  local pat, plen = ms.pat, ms.plen
  local c = byte(pat, p)
  p = p + 1
  if c == ESC then
    if p > plen then fail("malformed pattern (ends with '%')") end
    return p + 1
  elseif c == 91 then
    if byte(pat, p) == 94 then p = p + 1 end
    repeat
      if p > plen then fail("malformed pattern (missing ']')") end
      c = byte(pat, p)
      p = p + 1
      if c == ESC and p <= plen then p = p + 1 end
    until byte(pat, p) == 93
    return p + 1
  end
  return p
end

local function match_bracket_class(ms, c, p, ec)
  local pat = ms.pat
  local sig = true
  if byte(pat, p + 1) == 94 then sig = false; p = p + 1 end
  p = p + 1
  while p < ec do
    local pc = byte(pat, p)
    if pc == ESC then
      p = p + 1
      if match_class(c, byte(pat, p)) then return sig end
    elseif byte(pat, p + 1) == 45 and p + 2 < ec then
      if pc <= c and c <= byte(pat, p + 2) then return sig end
      p = p + 2
    elseif pc == c then return sig end
    p = p + 1
  end
  return not sig
end

local function single_match(ms, s, p, ep)
  if s > ms.slen then return false end
  local c, pc = byte(ms.src, s), byte(ms.pat, p)
  if pc == 46 then return true
  elseif pc == ESC then return match_class(c, byte(ms.pat, p + 1))
  elseif pc == 91 then return match_bracket_class(ms, c, p, ep - 1)
  end
  return pc == c
end

local do_match

local function match_balance(ms, s, p)
  if p >= ms.plen then fail("malformed pattern (missing arguments to '%b')") end
  local src, slen = ms.src, ms.slen
  local b, e = byte(ms.pat, p), byte(ms.pat, p + 1)
  if (byte(src, s) or 0) ~= b then return nil end
  local cont = 1
  s = s + 1
  while s <= slen do
    local c = byte(src, s)
    if c == e then
      cont = cont - 1
      if cont == 0 then return s + 1 end
    elseif c == b then cont = cont + 1 end
    s = s + 1
  end
  return nil
end

local function max_expand(ms, s, p, ep)
  local i = 0
  while single_match(ms, s + i, p, ep) do i = i + 1 end
  while i >= 0 do
    local res = do_match(ms, s + i, ep + 1)
    if res then return res end
    i = i - 1
  end
  return nil
end

local function min_expand(ms, s, p, ep)
  while true do
    local res = do_match(ms, s, ep + 1)
    if res then return res
    elseif single_match(ms, s, p, ep) then s = s + 1
    else return nil end
  end
end

local function start_capture(ms, s, p, what)
  local level = ms.level + 1
  if level > MAXCAPTURES then fail("too many captures") end
  ms.cinit[level], ms.clen[level], ms.level = s, what, level
  local res = do_match(ms, s, p)
  if not res then ms.level = ms.level - 1 end
  return res
end

local function end_capture(ms, s, p)
  local l = ms.level
  while l >= 1 and ms.clen[l] ~= CAP_UNFINISHED do l = l - 1 end
  if l < 1 then fail("invalid pattern capture") end
  ms.clen[l] = s - ms.cinit[l]
  local res = do_match(ms, s, p)
  if not res then ms.clen[l] = CAP_UNFINISHED end
  return res
end

local function match_capture(ms, s, c)
  local l = c - 48
  if l < 1 or l > ms.level or ms.clen[l] == CAP_UNFINISHED then fail(format("invalid capture index %%%d", l)) end
  local len, init = ms.clen[l], ms.cinit[l]
  if len >= 0 and ms.slen - s + 1 >= len and sub(ms.src, init, init + len - 1) == sub(ms.src, s, s + len - 1) then return s + len end
  return nil
end

do_match = function(ms, s, p)
  if ms.matchdepth == 0 then fail("pattern too complex") end
  ms.matchdepth = ms.matchdepth - 1
  local pat, plen = ms.pat, ms.plen
  while p <= plen do
    local pc = byte(pat, p)
    local nc = byte(pat, p + 1)
    if pc == 40 then
      if nc == 41 then s = start_capture(ms, s, p + 2, CAP_POSITION)
      else s = start_capture(ms, s, p + 1, CAP_UNFINISHED) end
      break
    elseif pc == 41 then
      s = end_capture(ms, s, p + 1)
      break
    elseif pc == 36 and p == plen then
      if s ~= ms.slen + 1 then s = nil end
      break
    elseif pc == ESC and nc == 98 then
      s = match_balance(ms, s, p + 2)
      if not s then break end
      p = p + 4
    elseif pc == ESC and nc == 102 then
      p = p + 2
      if byte(pat, p) ~= 91 then fail("missing '[' after '%f' in pattern") end
      local ep = class_end(ms, p)
      local previous = s == 1 and 0 or byte(ms.src, s - 1)
      local current = byte(ms.src, s) or 0
      if not match_bracket_class(ms, previous, p, ep - 1) and match_bracket_class(ms, current, p, ep - 1) then p = ep
      else s = nil; break end
    elseif pc == ESC and nc and isdigit(nc) then
      s = match_capture(ms, s, nc)
      if not s then break end
      p = p + 2
    else
      local ep = class_end(ms, p)
      local epc = byte(pat, ep)
      if not single_match(ms, s, p, ep) then
        if epc == 42 or epc == 63 or epc == 45 then p = ep + 1
        else s = nil; break end
      elseif epc == 63 then
        local res = do_match(ms, s + 1, ep + 1)
        if res then s = res; break end
        p = ep + 1
      elseif epc == 43 then s = max_expand(ms, s + 1, p, ep); break
      elseif epc == 42 then s = max_expand(ms, s, p, ep); break
      elseif epc == 45 then s = min_expand(ms, s, p, ep); break
      else s = s + 1; p = ep end
    end
  end
  ms.matchdepth = ms.matchdepth + 1
  return s
end

local function new_state(s, p)
  return { src = s, slen = #s, pat = p, plen = #p, level = 0, cinit = {}, clen = {}, matchdepth = MAXCCALLS }
end

local function get_capture(ms, i, s, e)
  if i > ms.level then
    if i ~= 1 then fail(format("invalid capture index %%%d", i)) end
    return sub(ms.src, s, e - 1)
  end
  local l = ms.clen[i]
  if l == CAP_UNFINISHED then fail("unfinished capture") end
  if l == CAP_POSITION then return ms.cinit[i] end
  return sub(ms.src, ms.cinit[i], ms.cinit[i] + l - 1)
end

local function captures(ms, s, e, whole)
  local n = (ms.level == 0 and whole) and 1 or ms.level
  local t = {}
  for i = 1, n do t[i] = get_capture(ms, i, s, e) end
  return t, n
end

local function posrelat(pos, len)
  if pos > 0 then return pos elseif pos == 0 then return 1 elseif pos < -len then return 1 end
  return len + pos + 1
end

-- A plain search in windows: one C call never compares more than C_STEPS bytes.
local function plain_find(s, p, init)
  local n, m = #s, #p
  if m == 0 then return init, init - 1 end
  local window = C_STEPS // (m + 1) + 1
  local i = init
  while i + m - 1 <= n do
    local a, b = cfind(sub(s, i, i + window + m - 2), p, 1, true)
    if a then return i + a - 1, i + b - 1 end
    i = i + window
  end
  return nil
end

local function lua_find(s, p, init, is_find)
  local ls = #s
  local ms = new_state(s, p)
  local pi, anchor = 1, byte(p, 1) == 94
  if anchor then pi = 2 end
  local s1 = init
  repeat
    ms.level, ms.matchdepth = 0, MAXCCALLS
    local e = do_match(ms, s1, pi)
    if e then
      if is_find then
        local t, n = captures(ms, nil, 0, false)
        return s1, e - 1, unpack(t, 1, n)
      end
      local t, n = captures(ms, s1, e, true)
      return unpack(t, 1, n)
    end
    s1 = s1 + 1
  until s1 > ls + 1 or anchor
  return nil
end

-- lstrlib.c SPECIALS: a find pattern without these is searched plainly (")" and "]" are not in it).
local SPECIALS = "[%^%$%*%+%?%.%(%[%%%-]"

-- Arguments the bounded versions do not take as they are (not strings, a non-integer
-- position) go to the C function, which converts them or raises its own argument error:
-- a number subject or pattern is short.
local function find_aux(is_find, s, p, init, plain)
  if type(s) ~= 'string' or type(p) ~= 'string' then return nil end
  local position = 1
  if init ~= nil then
    position = tointeger(init)
    if position == nil then return nil end
  end
  local ls = #s
  position = posrelat(position, ls)
  if position > ls + 1 then return true, nil end
  if is_find and (plain or not cfind(p, SPECIALS)) then
    if (ls - position + 2) * (#p + 1) <= C_STEPS then return nil end
    return true, plain_find(s, p, position)
  end
  if cost(ls - position + 1, p, true) <= C_STEPS then return nil end
  return true, lua_find(s, p, position, is_find)
end

function string.find(s, p, init, plain)
  local results = pack(pcall(find_aux, true, s, p, init, plain))
  if not results[1] then raise(results[2]) end
  if results[2] == nil then return cfind(s, p, init, plain) end
  return unpack(results, 3, results.n)
end

function string.match(s, p, init)
  local results = pack(pcall(find_aux, false, s, p, init))
  if not results[1] then raise(results[2]) end
  if results[2] == nil then return cmatch(s, p, init) end
  return unpack(results, 3, results.n)
end

function string.gmatch(s, p, init)
  if type(s) ~= 'string' or type(p) ~= 'string' or (init ~= nil and tointeger(init) == nil) then return cgmatch(s, p, init) end
  local ls = #s
  local position = posrelat(init and tointeger(init) or 1, ls)
  if position > ls + 1 then position = ls + 2 end
  if cost(ls - position + 1, p, false) <= C_STEPS then return cgmatch(s, p, init) end
  local ms = new_state(s, p)
  local src, lastmatch = position, nil
  local function step()
    while src <= ls + 1 do
      ms.level, ms.matchdepth = 0, MAXCCALLS
      local e = do_match(ms, src, 1)
      if e and e ~= lastmatch then
        local start = src
        src, lastmatch = e, e
        local t, n = captures(ms, start, e, true)
        return unpack(t, 1, n)
      end
      src = src + 1
    end
    return nil
  end
  return function()
    local results = pack(pcall(step))
    if not results[1] then raise(results[2]) end
    return unpack(results, 2, results.n)
  end
end

local function add_s(ms, b, s, e, news)
  local l, i = #news, 1
  while i <= l do
    local j = cfind(news, '%', i, true)
    if not j then b[#b + 1] = sub(news, i); break end
    if j > i then b[#b + 1] = sub(news, i, j - 1) end
    local d = byte(news, j + 1)
    if d == ESC then b[#b + 1] = '%'
    elseif d == 48 then b[#b + 1] = sub(ms.src, s, e - 1)
    elseif d and isdigit(d) then b[#b + 1] = tostring(get_capture(ms, d - 48, s, e))
    else fail("invalid use of '%' in replacement string") end
    i = j + 2
  end
end

local function add_value(ms, b, s, e, repl, tr)
  local value
  if tr == 'function' then
    local t, n = captures(ms, s, e, true)
    value = repl(unpack(t, 1, n))
  elseif tr == 'table' then
    value = repl[get_capture(ms, 1, s, e)]
  else
    return add_s(ms, b, s, e, tostring(repl))
  end
  if not value then b[#b + 1] = sub(ms.src, s, e - 1)
  elseif type(value) == 'string' or type(value) == 'number' then b[#b + 1] = tostring(value)
  else fail(format("invalid replacement value (a %s)", type(value))) end
end

local function lua_gsub(src, p, repl, max_s, tr)
  local srcl = #src
  max_s = max_s and tointeger(max_s) or srcl + 1
  local anchor = byte(p, 1) == 94
  local pi = anchor and 2 or 1
  local ms = new_state(src, p)
  local b, n, s, lastmatch = {}, 0, 1, nil
  while n < max_s do
    ms.level, ms.matchdepth = 0, MAXCCALLS
    local e = do_match(ms, s, pi)
    if e and e ~= lastmatch then
      n = n + 1
      add_value(ms, b, s, e, repl, tr)
      s, lastmatch = e, e
    elseif s <= srcl then
      b[#b + 1] = sub(src, s, s)
      s = s + 1
    else break end
    if anchor then break end
  end
  if s <= srcl then b[#b + 1] = sub(src, s) end
  return concat(b), n
end

function string.gsub(src, p, repl, max_s)
  local tr = type(repl)
  if type(src) ~= 'string' or type(p) ~= 'string' or (max_s ~= nil and tointeger(max_s) == nil)
    or not (tr == 'string' or tr == 'number' or tr == 'table' or tr == 'function')
    or cost(#src, p, true) <= C_STEPS then
    return cgsub(src, p, repl, max_s)
  end
  local results = pack(pcall(lua_gsub, src, p, repl, max_s, tr))
  if not results[1] then raise(results[2]) end
  return unpack(results, 2, results.n)
end
`;
