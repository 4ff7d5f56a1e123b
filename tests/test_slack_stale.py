"""A form or button the running version no longer answers (a message from before an upgrade)
is told so, in the form or to the clicker, instead of the 404 Slack would show as a failure."""

from __future__ import annotations

import json

from tests.fakes.slack import FakeSlack
from tests.harness import RunningBot, view_payload

TEACHER = "U0TEACH"


async def test_a_form_no_route_takes_is_told_so_on_its_first_input(bot: RunningBot) -> None:
    values = {"comment": {"type": "plain_text_input", "value": "hello"}}
    reply = await bot.submit(view_payload(TEACHER, "retired.form", "", values))
    assert reply.status == 200
    answer = reply.json()
    assert answer["response_action"] == "errors"
    assert "no longer in use" in answer["errors"]["comment"]


async def test_a_button_no_route_takes_is_told_so_to_the_clicker(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    reply = await bot.click(TEACHER, "retired.button", "1", fake_slack.response_url(TEACHER))
    assert reply.status == 200
    await fake_slack.wait_for(lambda: bool(fake_slack.responses_to(TEACHER)))
    assert "no longer in use" in json.dumps(fake_slack.responses_to(TEACHER))
