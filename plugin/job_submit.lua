--[[
asbb job_submit plugin for Slurm 22.05+ (Lua 5.1, JobSubmitPlugins=lua).

Install as job_submit.lua in the directory that holds slurm.conf. Its config, asbb_plugin.conf,
is read from the same directory (or from $ASBB_PLUGIN_CONF in slurmctld's environment); see
plugin/asbb_plugin.conf.example and plugin/README.md.

For every job submitted to a budgeted partition it POSTs the job's shape to the asbb daemon
(/api/v1/budget/check). The daemon prices the job and holds its cost:
  * available = true  -> the job is accepted; its AdminComment becomes "asbb:hold=<hold id>";
  * available = false -> the job is rejected; the user sees the daemon's message on stderr;
  * no usable answer (daemon down, timeout, garbage) -> the partition's fail policy:
      open   -> accepted, AdminComment "asbb:unchecked", logged with slurm.log_error;
      closed -> rejected with a message saying the budget service is unreachable.
Jobs on other (unbudgeted) partitions are accepted at once, without any network call.

This runs inside slurmctld while it holds its locks: keep timeout_ms short.
]]

local NO_VAL = 4294967294
local INFINITE = 4294967295
local NO_VAL16 = 65534
local NO_VAL64 = 18446744073709551614 -- arrives as a double (1.8446744073709552e19)
local MEM_PER_CPU = 9223372036854775808 -- 2^63, flag bit in pn_min_memory
local JOB_PENDING = 0
local TAG = "asbb"

-------------------------------------------------------------------------------- config
local function script_dir()
  local info = debug.getinfo(1, "S")
  local src = info and info.source or ""
  if src:sub(1, 1) == "@" then
    return src:sub(2):match("^(.*)/[^/]*$")
  end
  return nil
end

local function config_path()
  local env = os.getenv("ASBB_PLUGIN_CONF")
  if env and env ~= "" then return env end
  local dir = script_dir()
  if not dir then
    local conf = os.getenv("SLURM_CONF")
    dir = conf and conf:match("^(.*)/[^/]*$")
  end
  return (dir or "/etc/slurm") .. "/asbb_plugin.conf"
end

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

local function split_list(s)
  local out = {}
  for item in s:gmatch("[^,%s]+") do out[#out + 1] = item end
  return out
end

-- Read on every call (a few microseconds), so edits apply without restarting slurmctld.
local function load_config()
  local cfg = {
    url = "http://127.0.0.1:8770",
    token_file = "/etc/slurm/asbb_plugin.token",
    timeout_ms = 2000,
    default_partition = nil,
    default_policy = "closed",
    budgeted = {},
    policy = {},
    path = config_path(),
  }
  local f = io.open(cfg.path, "r")
  if not f then return cfg, "cannot read " .. cfg.path end
  for line in f:lines() do
    line = trim(line:gsub("#.*$", ""))
    local key, value = line:match("^([%w_%.%-]+)%s*=%s*(.-)$")
    if key then
      local part = key:match("^policy%.(.+)$")
      if part then
        cfg.policy[part] = value:lower()
      elseif key == "budgeted" then
        for _, p in ipairs(split_list(value)) do cfg.budgeted[p] = true end
      elseif key == "timeout_ms" then
        cfg.timeout_ms = tonumber(value) or cfg.timeout_ms
      elseif key == "default_policy" then
        cfg.default_policy = value:lower()
      elseif value ~= "" then
        cfg[key] = value
      end
    end
  end
  f:close()
  -- a partition with a policy line is budgeted too
  for p, _ in pairs(cfg.policy) do cfg.budgeted[p] = true end
  return cfg, nil
end

local function read_token(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local token = f:read("*l")
  f:close()
  if token then token = trim(token) end
  if token == "" then return nil end
  return token
end

-------------------------------------------------------------------------------- JSON
local function json_string(s)
  s = tostring(s):gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' end
    if c == "\\" then return "\\\\" end
    if c == "\n" then return "\\n" end
    if c == "\t" then return "\\t" end
    if c == "\r" then return "\\r" end
    return string.format("\\u%04x", c:byte())
  end)
  return '"' .. s .. '"'
end

local function json_encode(v)
  local t = type(v)
  if v == nil then return "null" end
  if t == "boolean" then return v and "true" or "false" end
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    if v == math.floor(v) and math.abs(v) < 1e15 then return string.format("%d", v) end
    return string.format("%.14g", v)
  end
  if t == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = json_string(k) .. ":" .. json_encode(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return json_string(v)
end

-- A small strict JSON decoder: returns value or nil, error.
local function json_decode(text)
  local pos = 1
  local decode_value

  local function skip()
    pos = text:find("[^ \t\r\n]", pos) or (#text + 1)
  end

  local function err(msg)
    error({ json = msg .. " at " .. pos }, 0)
  end

  local function utf8(code)
    if code < 0x80 then return string.char(code) end
    if code < 0x800 then
      return string.char(0xC0 + math.floor(code / 0x40), 0x80 + code % 0x40)
    end
    return string.char(0xE0 + math.floor(code / 0x1000),
      0x80 + math.floor(code / 0x40) % 0x40, 0x80 + code % 0x40)
  end

  local escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f",
    n = "\n", r = "\r", t = "\t" }

  local function decode_string()
    pos = pos + 1
    local buf = {}
    while true do
      local c = text:sub(pos, pos)
      if c == "" then err("unterminated string") end
      if c == '"' then pos = pos + 1; break end
      if c == "\\" then
        local e = text:sub(pos + 1, pos + 1)
        if e == "u" then
          local hex = text:sub(pos + 2, pos + 5)
          if not hex:match("^%x%x%x%x$") then err("bad \\u escape") end
          buf[#buf + 1] = utf8(tonumber(hex, 16))
          pos = pos + 6
        elseif escapes[e] then
          buf[#buf + 1] = escapes[e]
          pos = pos + 2
        else
          err("bad escape")
        end
      else
        local stop = text:find('["\\]', pos) or (#text + 1)
        buf[#buf + 1] = text:sub(pos, stop - 1)
        pos = stop
      end
    end
    return table.concat(buf)
  end

  decode_value = function()
    skip()
    local c = text:sub(pos, pos)
    if c == "{" then
      pos = pos + 1
      local obj = {}
      skip()
      if text:sub(pos, pos) == "}" then pos = pos + 1; return obj end
      while true do
        skip()
        if text:sub(pos, pos) ~= '"' then err("expected key") end
        local k = decode_string()
        skip()
        if text:sub(pos, pos) ~= ":" then err("expected ':'") end
        pos = pos + 1
        obj[k] = decode_value()
        skip()
        local d = text:sub(pos, pos)
        pos = pos + 1
        if d == "}" then return obj end
        if d ~= "," then err("expected ',' or '}'") end
      end
    elseif c == "[" then
      pos = pos + 1
      local arr = {}
      skip()
      if text:sub(pos, pos) == "]" then pos = pos + 1; return arr end
      while true do
        arr[#arr + 1] = decode_value()
        skip()
        local d = text:sub(pos, pos)
        pos = pos + 1
        if d == "]" then return arr end
        if d ~= "," then err("expected ',' or ']'") end
      end
    elseif c == '"' then
      return decode_string()
    elseif text:sub(pos, pos + 3) == "true" then
      pos = pos + 4; return true
    elseif text:sub(pos, pos + 4) == "false" then
      pos = pos + 5; return false
    elseif text:sub(pos, pos + 3) == "null" then
      pos = pos + 4; return nil
    else
      local num = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
      if not num or num == "" or not tonumber(num) then err("unexpected character") end
      pos = pos + #num
      return tonumber(num)
    end
  end

  local ok, result = pcall(function()
    local v = decode_value()
    skip()
    if pos <= #text then err("trailing data") end
    return v
  end)
  if ok then return result, nil end
  if type(result) == "table" then return nil, result.json end
  return nil, tostring(result)
end

-------------------------------------------------------------------------------- HTTP
local function post_check(cfg, body)
  local token = read_token(cfg.token_file)
  if not token then return nil, "cannot read the token file " .. tostring(cfg.token_file) end
  local ok_http, http = pcall(require, "socket.http")
  local ok_ltn, ltn12 = pcall(require, "ltn12")
  if not (ok_http and ok_ltn) then return nil, "lua-socket is not installed" end
  http.TIMEOUT = math.max(cfg.timeout_ms, 1) / 1000 -- per socket operation
  local chunks = {}
  local url = cfg.url:gsub("/+$", "") .. "/api/v1/budget/check"
  local ok, code = http.request {
    url = url,
    method = "POST",
    headers = {
      ["Content-Type"] = "application/json",
      ["Content-Length"] = tostring(#body),
      ["Authorization"] = "Bearer " .. token,
      ["Connection"] = "close",
    },
    source = ltn12.source.string(body),
    sink = ltn12.sink.table(chunks),
  }
  if not ok then return nil, "budget service unreachable (" .. tostring(code) .. ")" end
  local text = table.concat(chunks)
  local reply, jerr = json_decode(text)
  if type(reply) ~= "table" then
    return nil, string.format("bad reply from the budget service (HTTP %s, %s)",
      tostring(code), tostring(jerr or "not an object"))
  end
  return reply, nil, code
end

-------------------------------------------------------------------------------- job shape
local function num(v)
  if type(v) ~= "number" then return nil end
  if v >= NO_VAL16 and (v == NO_VAL16 or v == 65535) then return nil end
  if v >= NO_VAL then return nil end
  return v
end

-- "gres:gpu:2,gres:gpu:tesla:1" / "gres/gpu:2" / "gres/gpu=2" / "gpu:2" -> 3 (0 if none)
local function count_gpus(tres)
  if type(tres) ~= "string" or tres == "" then return 0 end
  local total = 0
  for item in tres:gmatch("[^,]+") do
    local name, rest = item:match("^gres[:/](gpu)(.*)$")
    if not name then name, rest = item:match("^(gpu)(.*)$") end
    if name then
      if rest == "" then
        total = total + 1
      else
        local n = rest:match("[:=](%d+)$")
        total = total + (tonumber(n) or 1)
      end
    end
  end
  return total
end

-- "0-9" -> 10, "1,3,5" -> 3, "0-15:4" -> 4, "0-99%10" -> 100
local function array_size(inx)
  if type(inx) ~= "string" or inx == "" then return 1 end
  inx = inx:gsub("%%.*$", "")
  local total = 0
  for item in inx:gmatch("[^,]+") do
    local a, b, step = item:match("^(%d+)%-(%d+):?(%d*)$")
    if a then
      step = tonumber(step) or 1
      if step < 1 then step = 1 end
      total = total + math.floor((tonumber(b) - tonumber(a)) / step) + 1
    elseif item:match("^%d+$") then
      total = total + 1
    end
  end
  if total < 1 then total = 1 end
  return total
end

local function find_partition(part_list, name)
  if type(part_list) ~= "table" then return nil end
  if name then
    local ok, p = pcall(function() return part_list[name] end)
    if ok and p then return p end
  end
  for pname, p in pairs(part_list) do
    local ok, is_default = pcall(function() return p.flag_default end)
    if name == nil and ok and (is_default == 1 or is_default == true) then return p, pname end
    if name ~= nil and pname == name then return p, pname end
  end
  return nil
end

local function field(rec, key)
  if rec == nil then return nil end
  local ok, v = pcall(function() return rec[key] end)
  if ok then return v end
  return nil
end

-- The partition the job will run in (the first of a list), and its part_list record.
local function resolve_partition(job_desc, part_list, cfg, job_rec)
  local partition = field(job_desc, "partition") or field(job_rec, "partition")
  if partition == nil or partition == "" then partition = cfg.default_partition end
  -- a comma list of partitions: the first one is what we price (documented limitation)
  if partition then partition = partition:match("^[^,]+") end
  local part, found_name = find_partition(part_list, partition)
  if partition == nil then partition = found_name end
  return partition, part
end

-- Resolve the time limit in minutes, or nil + a user message.
-- INFINITE (--time=UNLIMITED) is priced at the partition's MaxTime, refused if it has none.
local function time_limit(limit, part)
  local max = field(part, "max_time")
  if type(max) ~= "number" or max >= NO_VAL then max = nil end
  if limit == INFINITE then return max end
  local t = num(limit)
  if t then return t end
  local def = field(part, "default_time")
  if type(def) == "number" and def < NO_VAL then return def end
  return max
end

-- Build the check request from a job description (and, for a modify, the job record).
local function job_shape(job_desc, part_list, cfg, job_rec, submit_uid)
  local function pick(key)
    local v = field(job_desc, key)
    if v == nil or (type(v) == "number" and not num(v)) then v = field(job_rec, key) end
    return v
  end
  local partition, part = resolve_partition(job_desc, part_list, cfg, job_rec)
  local account = pick("account") or field(job_desc, "default_account")

  local nodes = num(pick("min_nodes")) or 1
  local tasks = num(pick("num_tasks"))
  local cpt = num(pick("cpus_per_task"))
  local cpus = num(pick("min_cpus")) or 1
  if tasks and cpt and tasks * cpt > cpus then cpus = tasks * cpt end
  if cpt and cpt > cpus then cpus = cpt end
  if cpus < nodes then cpus = nodes end

  local gpus = count_gpus(pick("tres_per_node")) * nodes
    + count_gpus(pick("tres_per_job"))
    + count_gpus(pick("tres_per_task")) * (tasks or 1)

  local memory = nil
  local mem = pick("pn_min_memory")
  if type(mem) == "number" and mem > 0 and mem < NO_VAL64 * 0.99 then
    if mem >= MEM_PER_CPU then
      memory = math.floor((mem - MEM_PER_CPU) * cpus) -- MB per CPU x CPUs
    else
      memory = math.floor(mem * nodes) -- MB per node x nodes
    end
    if memory <= 0 then memory = nil end
  end

  local minutes = time_limit(pick("time_limit"), part)
  local user = field(job_desc, "user_name") or field(job_rec, "user_name")
  local uid = field(job_desc, "user_id") or submit_uid
  return {
    account = account,
    partition = partition,
    nodes = nodes,
    cpus = cpus,
    gpus = gpus,
    memory = memory,
    wall_time = minutes,
    array_size = array_size(pick("array_inx")),
    user_id = user or (uid and tostring(uid)) or nil,
    job_metadata = {
      job_name = field(job_desc, "name") or field(job_rec, "name"),
      submit_uid = submit_uid,
    },
  }
end

-------------------------------------------------------------------------------- decision
local function policy_of(cfg, partition)
  local p = cfg.policy[partition] or cfg.default_policy
  if p == "open" then return "open" end
  return "closed"
end

-- Returns slurm return code, admin comment to set (or nil).
local function decide(shape, cfg, what)
  if shape.account == nil or shape.account == "" then
    slurm.log_user("asbb: partition %s is budgeted; please give an account (--account)",
      tostring(shape.partition))
    return slurm.ESLURM_INVALID_ACCOUNT
  end
  if shape.wall_time == nil then
    slurm.log_user("asbb: partition %s is budgeted and has no default time limit; "
      .. "please give one (--time)", tostring(shape.partition))
    return slurm.ESLURM_INVALID_TIME_LIMIT or slurm.ERROR
  end
  local body = json_encode(shape)
  local reply, failure, code = post_check(cfg, body)
  if reply and type(reply.available) == "boolean" then
    if reply.available then
      local hold = reply.transaction_id
      if type(hold) ~= "string" or hold == "" then
        return slurm.SUCCESS, nil -- priced as unbudgeted by the daemon: nothing held
      end
      slurm.log_info("%s: %s account=%s partition=%s user=%s hold=%s %s", TAG, what,
        shape.account, shape.partition, tostring(shape.user_id), hold, tostring(reply.message))
      return slurm.SUCCESS, "asbb:hold=" .. hold
    end
    local msg = type(reply.message) == "string" and reply.message or "insufficient budget"
    slurm.log_info("%s: %s rejected account=%s partition=%s user=%s: %s", TAG, what,
      shape.account, shape.partition, tostring(shape.user_id), msg)
    slurm.log_user("Job rejected by asbb (account %s, partition %s): %s",
      shape.account, shape.partition, msg)
    return slurm.ESLURM_INVALID_ACCOUNT
  end
  if reply and type(reply.error) == "table" and code == 404 then
    -- the daemon does not know this account: a definite answer, not an outage
    local msg = type(reply.error.message) == "string" and reply.error.message or "unknown account"
    slurm.log_user("Job rejected by asbb (account %s): %s", shape.account, msg)
    return slurm.ESLURM_INVALID_ACCOUNT
  end
  if reply then
    local detail = type(reply.error) == "table" and reply.error.message or "unexpected reply"
    failure = string.format("budget service error (HTTP %s: %s)", tostring(code), tostring(detail))
  end
  local policy = policy_of(cfg, shape.partition)
  if policy == "open" then
    slurm.log_error("%s: %s accepted UNCHECKED (fail-open) account=%s partition=%s user=%s: %s",
      TAG, what, tostring(shape.account), tostring(shape.partition), tostring(shape.user_id),
      tostring(failure))
    return slurm.SUCCESS, "asbb:unchecked"
  end
  slurm.log_error("%s: %s rejected (fail-closed) account=%s partition=%s user=%s: %s",
    TAG, what, tostring(shape.account), tostring(shape.partition), tostring(shape.user_id),
    tostring(failure))
  slurm.log_user("Job rejected: the budget service (asbb) could not check partition %s's "
    .. "budget (%s). Please try again later or contact your administrators.",
    tostring(shape.partition), tostring(failure))
  return slurm.ERROR
end

-------------------------------------------------------------------------------- Slurm entry points
function slurm_job_submit(job_desc, part_list, submit_uid)
  local cfg, cerr = load_config()
  -- Said before anything else: without its config no partition is budgeted, so every job
  -- would pass unchecked and nothing else would be logged.
  if cerr then slurm.log_error("%s: %s (using defaults)", TAG, cerr) end
  local partition = resolve_partition(job_desc, part_list, cfg, nil)
  if partition == nil or not cfg.budgeted[partition] then
    return slurm.SUCCESS -- unbudgeted: no network call
  end
  local shape = job_shape(job_desc, part_list, cfg, nil, submit_uid)
  local rc, comment = decide(shape, cfg, "submit")
  if rc == slurm.SUCCESS and comment then job_desc.admin_comment = comment end
  return rc
end

-- A pending job whose partition, time limit or size changes is priced again: refused if the
-- account cannot afford the new shape; otherwise its AdminComment points at the new hold.
-- The old hold is left open: the plugin token cannot void holds, so reconcile/recovery (or
-- the hold's timeout) releases it. Running jobs and other changes are not checked.
function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
  local state = field(job_rec, "job_state")
  if type(state) == "number" and state % 256 ~= JOB_PENDING then return slurm.SUCCESS end
  local changed = false
  for _, key in ipairs({ "time_limit", "min_nodes", "min_cpus", "num_tasks", "cpus_per_task" }) do
    if num(field(job_desc, key)) then changed = true end
  end
  for _, key in ipairs({ "partition", "account", "tres_per_node", "tres_per_job",
    "tres_per_task", "array_inx" }) do
    local v = field(job_desc, key)
    if type(v) == "string" and v ~= "" and v ~= field(job_rec, key) then changed = true end
  end
  if not changed then return slurm.SUCCESS end
  local cfg, cerr = load_config()
  if cerr then slurm.log_error("%s: %s (using defaults)", TAG, cerr) end
  local shape = job_shape(job_desc, part_list, cfg, job_rec, modify_uid)
  if shape.partition == nil or not cfg.budgeted[shape.partition] then return slurm.SUCCESS end
  local job_id = field(job_rec, "job_id")
  shape.job_id = job_id and tostring(job_id) or nil
  local rc, comment = decide(shape, cfg, "modify job " .. tostring(job_id))
  if rc == slurm.SUCCESS and comment then job_desc.admin_comment = comment end
  return rc
end

slurm.log_info("%s: job_submit.lua loaded (config %s)", TAG, config_path())
return slurm.SUCCESS
