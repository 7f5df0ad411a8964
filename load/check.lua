-- wrk script: POST one JSON body after another from a file (one body a line), cycling, with the service key.
-- Environment: AUTHZ_BENCH_BODIES (the file), AUTHZ_BENCH_KEY (the API key).
-- Each wrk thread starts at a different line, so threads do not ask the same thing at the same moment.
local bodies = {}
for line in io.lines(os.getenv("AUTHZ_BENCH_BODIES")) do
  if #line > 0 then bodies[#bodies + 1] = line end
end
assert(#bodies > 0, "no bodies in " .. tostring(os.getenv("AUTHZ_BENCH_BODIES")))

local counter = 0
local i = 0

function setup(thread)
  thread:set("offset", counter * 7919)
  counter = counter + 1
end

function init(args)
  i = (offset or 0) % #bodies
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("AUTHZ_BENCH_KEY")

function request()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
