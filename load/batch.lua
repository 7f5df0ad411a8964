-- wrk script: POST the same /v1/check/batch body (1000 checks) again and again, with the service key.
-- Environment: AUTHZ_BENCH_BATCH (the file with the body), AUTHZ_BENCH_KEY (the API key).
local f = assert(io.open(os.getenv("AUTHZ_BENCH_BATCH"), "r"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("AUTHZ_BENCH_KEY")
