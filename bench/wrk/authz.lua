-- Licensed under the Apache License, Version 2.0 (the "License");
-- you may not use this file except in compliance with the License.
-- You may obtain a copy of the License at
--
--     http://www.apache.org/licenses/LICENSE-2.0
--
-- Unless required by applicable law or agreed to in writing, software
-- distributed under the License is distributed on an "AS IS" BASIS,
-- WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
-- See the License for the specific language governing permissions and
-- limitations under the License.

-- The wrk script of bench/authz.mjs (wrk 4, LuaJIT). One mode per run:
--
--   wrk -s authz.lua URL -- MODE OUTDIR [arguments...]
--
--   get    PATH                   GET PATH (the static file)
--   same   PATH TOKEN             GET PATH with one bearer token every time
--   pool   PATH FILE              GET PATH with the next token of FILE: each
--                                 used once
--   mint   PATH_AND_QUERY BASIC MAX
--                                 GET the authorization endpoint as a user
--                                 (Basic credentials) with remembered
--                                 consent, keep the code of each redirect;
--                                 at most MAX codes in all
--   code   PATH FILE BODY_PREFIX [KEEP]
--                                 POST PATH (the token endpoint) with
--                                 BODY_PREFIX .. "&code=" .. the next code
--                                 of FILE; each code used once; KEEP=1
--                                 keeps the refresh and access tokens
--   refresh PATH FILE BODY_PREFIX [KEEP]
--                                 POST PATH with BODY_PREFIX ..
--                                 "&refresh_token=" .. a current refresh
--                                 token: FILE seeds a queue per thread, each
--                                 answer's rotated token goes back into it,
--                                 so every token is presented exactly once
--
-- Each thread takes its own slice of FILE (lines i, i+T, ...). A thread
-- whose tokens run out stops; the rate is then computed over the time it
-- ran (wrk's own duration would count the time it waited idle). Kept
-- tokens go to OUTDIR/<kind>-<thread>.txt. The last line printed is JSON.
--
-- The modes without a per-response callback (get, same, pool) leave wrk's
-- fast path alone: only request() is ours, so the load generator costs the
-- same for the static file and the protected one.

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk, bench_timespec *ts);
]]
local ts = ffi.new("bench_timespec")
local function now()
    ffi.C.clock_gettime(1, ts)   -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

-- ---- main state: setup and done ----

local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("id", #threads)
end

-- ---- per thread ----

local mode, outdir
local items = {}     -- this thread's tokens or codes
local head = 1       -- next item
local tail = 0       -- last item
local fixed          -- a prebuilt request
local drained        -- a request that counts as a failure, sent once done
local prefix, path, keep, limit
local rt_out, at_out
ok = 0
started = nil
stopped = nil
exhausted = 0

local function slice(file, me, n)
    local i = 0
    for line in io.lines(file) do
        if line ~= "" then
            if i % n == me - 1 then
                tail = tail + 1
                items[tail] = line
            end
            i = i + 1
        end
    end
end

local function open_out(kind)
    return io.open(string.format("%s/%s-%d.txt", outdir, kind, id), "w")
end

function init(args)
    mode = args[1]
    outdir = args[2]
    path = args[3]
    -- setup() ran in the main state for every thread before any init.
    local n = tonumber(os.getenv("BENCH_WRK_THREADS") or "1")
    drained = wrk.format("GET", "/bench-drained")
    if mode == "get" then
        fixed = wrk.format("GET", path)
    elseif mode == "same" then
        fixed = wrk.format("GET", path, { Authorization = "Bearer " .. args[4] })
    elseif mode == "pool" then
        slice(args[4], id, n)
    elseif mode == "mint" then
        fixed = wrk.format("GET", path, { Authorization = "Basic " .. args[4] })
        limit = math.floor(tonumber(args[5]) / n)
        rt_out = open_out("codes")
    elseif mode == "code" or mode == "refresh" then
        slice(args[4], id, n)
        prefix = args[5]
        keep = args[6] == "1"
        if keep then
            rt_out = open_out("rt")
            at_out = open_out("at")
        end
    else
        error("unknown mode " .. tostring(mode))
    end
end

local function finish()
    if not stopped then
        stopped = now()
        exhausted = 1
        wrk.thread:stop()
    end
    return drained
end

local form_headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function request()
    if not started then
        started = now()
    end
    if stopped then
        return drained
    end
    if fixed then
        if mode == "mint" and ok >= limit then
            return finish()
        end
        return fixed
    end
    if head > tail then
        return finish()
    end
    local item = items[head]
    items[head] = nil
    head = head + 1
    if mode == "pool" then
        return wrk.format("GET", path, { Authorization = "Bearer " .. item })
    end
    local key = mode == "code" and "&code=" or "&refresh_token="
    return wrk.format("POST", path, form_headers, prefix .. key .. item)
end

local function push(token)
    tail = tail + 1
    items[tail] = token
end

local function on_response(status, headers, body)
    if mode == "mint" then
        if status == 302 then
            local loc = headers["Location"] or headers["location"] or ""
            local code = loc:match("[?&]code=([^&]+)")
            if code then
                ok = ok + 1
                rt_out:write(code, "\n")
            end
        end
        return
    end
    if status ~= 200 then
        return
    end
    ok = ok + 1
    local rt = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if mode == "refresh" and rt then
        push(rt)
    end
    if keep then
        if rt and mode == "code" then
            rt_out:write(rt, "\n")
        end
        local at = body:match('"access_token"%s*:%s*"([^"]+)"')
        if at then
            at_out:write(at, "\n")
        end
    end
end

-- wrk parses headers and bodies only for scripts that define response():
-- defined for the modes that read answers, absent for the others.
local m = os.getenv("BENCH_WRK_MODE")
if m == "mint" or m == "code" or m == "refresh" then
    response = on_response
end

function done(summary, latency, requests)
    local first, last, all_exhausted, total_ok = nil, nil, true, 0
    local mode_ = os.getenv("BENCH_WRK_MODE")
    for _, t in ipairs(threads) do
        local s, e = t:get("started"), t:get("stopped")
        if s and (not first or s < first) then first = s end
        if e and (not last or e > last) then last = e end
        if t:get("exhausted") ~= 1 then all_exhausted = false end
        total_ok = total_ok + (t:get("ok") or 0)
    end
    local errors = summary.errors.connect + summary.errors.read
        + summary.errors.write + summary.errors.timeout
    local ok_count = total_ok
    if not response then
        -- get, same, pool: wrk's count of 2xx/3xx answers.
        ok_count = summary.requests - summary.errors.status
    end
    local seconds = summary.duration / 1e6
    if all_exhausted and first and last and last > first then
        seconds = last - first
    end
    io.write(string.format(
        '{"mode":"%s","ok":%d,"requests":%d,"non2xx":%d,"errors":%d,' ..
        '"seconds":%.3f,"rate":%.1f,"exhausted":%s,' ..
        '"p50_ms":%.3f,"p99_ms":%.3f}\n',
        mode_, ok_count, summary.requests, summary.errors.status, errors,
        seconds, ok_count / seconds, tostring(all_exhausted),
        latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
