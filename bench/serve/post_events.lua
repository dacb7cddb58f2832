-- Batches of 1000 events over the demo's leads, each with a unique key.
local counter = 0
local leads = tonumber(os.getenv("LEADQ_LEADS") or "2000")
local kinds = {"page_view", "pricing_page_view", "email_open", "email_click", "content_download"}
setup = function(thread)
  thread:set("tid", tostring(math.random(1, 1000000000)))
end
request = function()
  local parts = {}
  for i = 1, 1000 do
    counter = counter + 1
    parts[i] = string.format('{"lead_id":"L%07d","type":"%s","properties":{"url":"/docs/%d"},"idempotency_key":"b-%s-%d"}',
      math.random(1, leads), kinds[counter % 5 + 1], counter % 50, tid or "0", counter)
  end
  local body = '{"events":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format("POST", "/api/v1/events/batch", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("LEADQ_TOKEN")}, body)
end
