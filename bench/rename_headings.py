def renamed(t): raise RuntimeError("x")
def relabel(t, r): return t
