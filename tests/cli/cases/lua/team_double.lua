-- A team-written step type, found because it sits in lua/ next to the runbook.
return {
  name = "team.double",
  summary = "Doubles a number (and echoes it through shell.run)",
  params = { n = { type = "int", required = true, doc = "the number" } },
  outputs = { doubled = { type = "int", doc = "n * 2" }, echoed = { type = "string" } },
  effect = "pure",
  run = function(p)
    local out = rune.run("shell.run", { argv = { "echo", tostring(p.n * 2) } })
    return { doubled = p.n * 2, echoed = out.stdout }
  end,
}
