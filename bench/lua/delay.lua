
-- Pacing: wait a random 0..2 x $ms ms (whole milliseconds, as wrk waits) before
-- each request, so the connections spread out instead of firing in step.
local mean_ms = $ms

function delay()
  return math.floor(math.random() * 2 * mean_ms + 0.5)
end
