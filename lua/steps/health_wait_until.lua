-- health.wait_until — run a check until it succeeds: the seeds' "wait for
-- the database to be healthy" loop, as one step. The check is any step type
-- (native or Lua) called through rune.run, so every try is on record.
return {
  name = "health.wait_until",
  summary = "Run a check step until it succeeds (attempts, interval); outputs its last outputs",
  params = {
    uses = { type = "string", required = true, doc = "step type to run as the check, e.g. shell.run" },
    with = { type = "map", default = {}, doc = "the check's parameters" },
    attempts = { type = "int", default = 10, doc = "tries at most" },
    interval = { type = "duration", default = "2s", doc = "pause between tries" },
  },
  outputs = {
    attempts = { type = "int", doc = "tries it took" },
    outputs = { type = "map", doc = "the successful check's outputs" },
  },
  -- it runs whatever `uses` names, which may change things
  effect = "writes",

  run = function(p)
    if p.attempts < 1 then rune.fail("attempts must be at least 1") end
    local last
    for i = 1, p.attempts do
      local ok, out = pcall(rune.run, p.uses, p.with)
      if ok then
        return { attempts = i, outputs = out }
      end
      last = tostring(out)
      rune.log(string.format("check %d/%d failed: %s", i, p.attempts, last))
      if i < p.attempts then
        rune.run("flow.sleep", { duration = p.interval / 1000 })
      end
    end
    rune.fail(string.format("still failing after %d attempts; last: %s", p.attempts, last))
  end,

  plan = function(p)
    return string.format("would run %s up to %d times, %gs apart, until it succeeds",
      p.uses, p.attempts, p.interval / 1000)
  end,
}
