-- The issue-6 mix: get-by-id, list first page, patch with If-Match, create and search, weighted $weights.
-- Patch targets are n = 1..#versions; thread k of $threads owns every $threads-th one and patches
-- them in turn, so no target is ever in flight twice.  Versions come from the bodies of all
-- responses naming an owned target (its first "id" and "version", JSON spaced or not), the highest
-- seen winning: a GET answered before a PATCH cannot roll a version back, so no If-Match is stale.
local path = "$path"
local records = $records
local threads = $threads
local start_versions = {$versions}
local patch_body = [[$patch_body]]
local create_body = [[$create_body]]
local search = path .. "?q=$search"
local cuts, total = {}, 0
for i, weight in ipairs({$weights}) do
  total = total + weight
  cuts[i] = total
end
local setups = 0
local owned, versions, headers = {}, {}, {}
local patches = 0

function setup(thread)
  thread:set("part", setups)
  setups = setups + 1
end

function init(args)
  math.randomseed(os.time() * 100 + part)
  for n = part + 1, #start_versions, threads do
    local id = string.format("acc_%026d", n)
    owned[#owned + 1] = id
    versions[id] = start_versions[n]
  end
  for _, kind in ipairs({"read", "create", "patch"}) do
    headers[kind] = {}
    for name, value in pairs(wrk.headers) do headers[kind][name] = value end
  end
  headers.create["Content-Type"] = "application/json"
  headers.patch["Content-Type"] = "application/json"
end

function request()
  local r = math.random(total)
  if r <= cuts[1] then
    return wrk.format("GET", string.format("%s/acc_%026d", path, math.random(records)), headers.read)
  elseif r <= cuts[2] then
    return wrk.format("GET", path, headers.read)
  elseif r <= cuts[3] then
    local id = owned[patches % #owned + 1]
    patches = patches + 1
    headers.patch["If-Match"] = '"' .. versions[id] .. '"'
    return wrk.format("PATCH", path .. "/" .. id, headers.patch, patch_body)
  elseif r <= cuts[4] then
    return wrk.format("POST", path, headers.create, create_body)
  end
  return wrk.format("GET", search, headers.read)
end

function response(status, response_headers, body)
  local id = string.match(body, '"id"%s*:%s*"(acc_%d+)"')
  if id and versions[id] then
    local version = tonumber(string.match(body, '"version"%s*:%s*(%d+)'))
    if version and version > versions[id] then versions[id] = version end
  end
end
