-- One new lead per request (unique email), as a web form would send it.
local counter = 0
local tag = tostring(math.random(1, 1000000000))
local industries = {"Software", "Fintech", "Retail", "Healthcare", "Manufacturing"}
local countries = {"United States", "Germany", "Japan", "Brazil", "France"}
setup = function(thread)
  thread:set("tid", tostring(math.random(1, 1000000000)))
end
request = function()
  counter = counter + 1
  local body = string.format(
    '{"email":"p%s-%s-%d@corp%d.example.com","first_name":"Pat","last_name":"Lee","company":"Corp %d","industry":"%s","employees":%d,"country":"%s","job_title":"VP Engineering","lead_source":"Web"}',
    tag, tid or "0", counter, counter % 997, counter % 997, industries[counter % 5 + 1], (counter * 37) % 5000 + 1, countries[counter % 5 + 1])
  return wrk.format("POST", "/api/v1/leads", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("LEADQ_TOKEN")}, body)
end
