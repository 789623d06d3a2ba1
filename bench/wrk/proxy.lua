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

-- The wrk script of bench/proxy.mjs (wrk 4, LuaJIT): one prebuilt POST,
-- sent again and again.
--
--   wrk -s proxy.lua URL -- PATH BODY [HEADER: VALUE]...
--
-- Every answer is read: it counts as ok when its status is 200 and its
-- body holds a JSON-RPC "result" and no "error" (a gateway answers its
-- errors with HTTP 200 too, so wrk's own count of 2xx would not do). The
-- same script for the upstream, mod_proxy_http and mod_mcp_proxy: the load
-- generator costs each the same. The last line printed is JSON; the first
-- answer that is not ok is printed before it, cut to 300 bytes.

local fixed

ok = 0
bad = 0
sample = ""

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    local path, body = args[1], args[2]
    local headers = { ["Content-Type"] = "application/json" }
    for i = 3, #args do
        local name, value = args[i]:match("^([^:]+):%s*(.*)$")
        if name then
            headers[name] = value
        end
    end
    fixed = wrk.format("POST", path, headers, body)
end

function request()
    return fixed
end

function response(status, headers, body)
    if status == 200 and body and body:find('"result"', 1, true)
       and not body:find('"error"', 1, true) then
        ok = ok + 1
    else
        bad = bad + 1
        if sample == "" then
            sample = tostring(status) .. " " .. tostring(body):sub(1, 300)
        end
    end
end

function done(summary, latency, requests)
    local total_ok, total_bad, first_bad = 0, 0, ""
    for _, t in ipairs(threads) do
        total_ok = total_ok + (t:get("ok") or 0)
        total_bad = total_bad + (t:get("bad") or 0)
        local s = t:get("sample") or ""
        if first_bad == "" then first_bad = s end
    end
    local errors = summary.errors.connect + summary.errors.read
        + summary.errors.write + summary.errors.timeout
    local seconds = summary.duration / 1e6
    if first_bad ~= "" then
        io.write("first answer not ok: ", (first_bad:gsub("[\r\n]", " ")), "\n")
    end
    io.write(string.format(
        '{"ok":%d,"bad":%d,"requests":%d,"errors":%d,"seconds":%.3f,' ..
        '"rate":%.1f,"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"mean_us":%.1f}\n',
        total_ok, total_bad, summary.requests, errors, seconds,
        total_ok / seconds, latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency.mean))
end
