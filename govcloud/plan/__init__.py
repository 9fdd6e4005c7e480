"""Stage 2, plan: the seam. A checked Manifest becomes a ResourcePlan of pure data.

`model` is the ResourcePlan itself; `compile` builds it from a manifest and its
site; `userdata` renders cloud-init per server role; `cost` prices a plan from
the site's rate card. Nothing here talks to a cloud or starts an engine.
"""
