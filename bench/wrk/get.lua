-- GET with the Authorization header in env AUTH (may be empty).
local auth = os.getenv("AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
