-- GET one account by id: a random n of 1..$records, the id being acc_ + n zero-padded to 26 digits.
local path = "$path"
local records = $records
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("part", threads)
end

function init(args)
  math.randomseed(os.time() * 100 + part)
end

function request()
  return wrk.format("GET", string.format("%s/acc_%026d", path, math.random(records)))
end
