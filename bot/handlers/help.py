"""What the bot says about itself, and its interim answer for /report.

Until concern reports have their own workflow, that answer points people to the routes the
policy itself gives, in our own words.
"""

from __future__ import annotations

from bot.core.people import Platform
from bot.core.ui import BulletList, Message, Paragraph
from bot.handlers import HandlerContext

PERSONNEL = "Personnel Responsible for Implementing This Policy"
REPUTATION = "Protecting our business reputation"
PERSONAL_USE = "Personal Use of Social Media"


def help_message(ctx: HandlerContext, platform: Platform = Platform.SLACK) -> Message:
    # Slack has slash commands; in Teams the same words are typed in the chat with the bot.
    slash = "/" if platform is Platform.SLACK else ""
    commands: tuple[str, ...] = (
        f"{slash}post - draft a post for one of the school's accounts and send it to the IT "
        "Network Manager for approval; you hear here when it is decided, and can revise or "
        "withdraw it from those messages"
        + ("" if slash else ". Send photos in the same message as the word post"),
        f"{slash}report - how to report disparaging content, a friend request from a pupil or "
        "misuse of social media",
        f"{slash}policy <your question> - ask about the policy in your own words; I answer "
        "from the school's policy, quote the passage and name its section, and can pass your "
        "question to the IT Network Manager" + ("" if slash else " (or just type your question)"),
    )
    if not slash:
        commands += ("help - this list",)
    return Message(
        summary="What socialdesk does",
        blocks=(
            Paragraph.of(
                f"I run {ctx.school_name}'s Social Media Policy for staff. What you can do:"
            ),
            BulletList("Commands", commands),
        ),
    )


def welcome_message(ctx: HandlerContext, platform: Platform) -> Message:
    """The first message after someone adds the bot."""
    shown = help_message(ctx, platform)
    return Message(
        summary=f"Welcome to socialdesk, {ctx.school_name}'s Social Media Policy desk",
        blocks=(
            Paragraph.of(
                "Hello. Messages about drafts you send, and drafts you approve, will arrive here."
            ),
            *shown.blocks,
        ),
    )


def report_reply(ctx: HandlerContext) -> Message:
    return Message(
        summary="How to report a concern",
        blocks=(
            Paragraph.of(
                "Reports cannot be made through me yet, so nothing has been recorded or sent. "
                "Tell the right person yourself; the policy says:"
            ),
            BulletList(
                "Where each concern goes",
                (
                    "Content that disparages the school, its staff, pupils, parents or governors: "
                    f"tell the Co-Headteachers without unreasonable delay ({REPUTATION}).",
                    "A friend request from a pupil: do not accept it; tell the Network Manager "
                    f"or the DSL so it can be logged ({PERSONAL_USE}).",
                    "Any other misuse of social media: tell the IT Network Manager first "
                    f"({PERSONNEL}).",
                    "If a child may be at immediate risk, phone the DSL - or the police - now.",
                ),
            ),
        ),
    )
