-- files.newest — the newest file in a directory matching a pattern: the
-- seeds' "pick the most recent backup". Built on shell.run (find), so the
-- listing it based its choice on is recorded as a sub-event.
return {
  name = "files.newest",
  summary = "Pick the newest file in a directory whose name matches a glob",
  params = {
    dir = { type = "path", required = true, doc = "directory to look in (not recursive)" },
    pattern = { type = "string", default = "*", doc = "glob the name must match, e.g. *.sql.gz" },
    max_age = { type = "duration", doc = "fail if the newest is older than this (an RPO guard)" },
  },
  outputs = {
    path = { type = "path", doc = "the newest file" },
    name = { type = "string", doc = "its name" },
    bytes = { type = "int", doc = "its size" },
    age_s = { type = "int", doc = "seconds since it was last modified" },
    count = { type = "int", doc = "how many files matched" },
  },
  effect = "reads",

  run = function(p)
    local ls = rune.run("shell.run", {
      argv = { "find", p.dir, "-maxdepth", "1", "-type", "f", "-name", p.pattern,
               "-printf", "%T@ %s %p\\n" },
    })
    local best, count = nil, 0
    for line in ls.stdout:gmatch("[^\n]+") do
      local t, size, path = line:match("^(%S+) (%d+) (.+)$")
      t = tonumber(t)
      if t then
        count = count + 1
        if not best or t > best.t then best = { t = t, size = tonumber(size), path = path } end
      end
    end
    if not best then
      rune.fail(string.format("no file matching %s in %s", p.pattern, p.dir))
    end
    local age = os.time() - math.floor(best.t)
    if p.max_age and age * 1000 > p.max_age then
      rune.fail(string.format("the newest file %s is %ds old, more than max_age", best.path, age))
    end
    return { path = best.path, name = best.path:match("[^/]+$"), bytes = best.size,
             age_s = age, count = count }
  end,

  plan = function(p)
    return string.format("would pick the newest %s in %s", p.pattern, p.dir)
  end,
}
