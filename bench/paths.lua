-- wrk script: every request GETs a random path from the file given after `--`.
-- Each line of the file is "<path> [anything]"; only the path is used.
local paths = {}

function init(args)
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line:match("^(%S+)")
  end
  math.randomseed(os.time() + (tonumber(tostring(paths):match("0x(%x+)"), 16) or 0) % 100000)
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
