"""A bare bolt app with no-op listeners, served by aiohttp exactly as socialdesk serves its own:
the floor that socialdesk's ack latency is compared against. Run by bench/ack_latency.py."""

from __future__ import annotations

import os
import sys

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient


def main() -> None:
    port = int(sys.argv[1])
    client = AsyncWebClient(
        token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]
    )
    # The same bolt mode as socialdesk (DESIGN.md: the default mode polls for ack every 10 ms).
    bolt = AsyncApp(
        client=client,
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        process_before_response=True,
    )

    async def noop(ack: AsyncAck) -> None:
        await ack()

    bolt.command("/post")(noop)
    bolt.view("post.draft")(noop)
    bolt.action("post.approve")(noop)

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    app = web.Application()
    app.router.add_post("/slack/events", events)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
