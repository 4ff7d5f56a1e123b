"""Nothing lost when the process dies: the short form of bench/kill_restart.py, on each
database. The real `socialdesk serve` is killed with SIGKILL at 20 random moments under a
burst of Slack and Teams work and started again; every answered action must be stored once,
every message it caused must arrive (sent again at most once per kill that caught it between
sending and recording), every card must show its last change, and every timer must fire once."""

from __future__ import annotations

from bench import kill_restart

KILLS = 20


async def test_nothing_answered_is_lost_or_done_twice_when_the_bot_is_killed(
    database_url: str,
) -> None:
    database = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    figures = await kill_restart.run(database_url, KILLS, label=database)
    print("\n".join(figures.lines()))
    assert figures.kills == KILLS
    # The burst did what it is for: every kind of action was answered, and timers fired.
    for kind in kill_restart.ACTION_KINDS:
        assert figures.answered_by_kind[kind] > 0, f"no {kind} was answered"
    assert figures.timers_fired["report.chased"] and figures.timers_fired["report.escalated"]
    assert figures.ok, "\n".join(figures.lines())
