"""What the bot says about itself."""

from __future__ import annotations

from bot.core.outcome import Outcome
from bot.core.people import Platform
from bot.core.ui import Block, BulletList, Button, Buttons, Message, Paragraph
from bot.handlers import HandlerContext
from bot.handlers.report_cards import FOLLOW_UP, OPEN_FORM
from bot.handlers.workflow import CommandRoute, Said, Workflow


def help_message(ctx: HandlerContext, platform: Platform = Platform.SLACK) -> Message:
    # Slack has slash commands; in Teams the same words are typed in the chat with the bot.
    slash = "/" if platform is Platform.SLACK else ""
    commands: tuple[str, ...] = (
        f"{slash}post - draft a post for one of the school's accounts and send it to the IT "
        "Network Manager for approval; you hear here when it is decided, and can revise or "
        "withdraw it from those messages"
        + ("" if slash else ". Send photos in the same message as the word post"),
        f"{slash}report - report disparaging content, a friend request from a pupil or parent, "
        "misuse of social media by a member of staff (anonymously if you wish) or a safeguarding "
        "concern seen online; it goes to the people the policy names"
        + (", and /report receipt follows up an anonymous report" if slash else ""),
        f"{slash}policy <your question> - ask about the policy in your own words; I answer "
        "from the school's policy, quote the passage and name its section, and can pass your "
        "question to the IT Network Manager" + ("" if slash else " (or just type your question)"),
    )
    if not slash:
        commands += ("help - this list",)
    blocks: tuple[Block, ...] = (
        Paragraph.of(f"I run {ctx.school_name}'s Social Media Policy for staff. What you can do:"),
        BulletList("Commands", commands),
    )
    if not slash:
        # In Teams a report can start here, with no message of its own left in the chat.
        blocks += (
            Buttons(
                (
                    Button("Report a concern", OPEN_FORM, "", dialog=True),
                    Button("Follow up an anonymous report", FOLLOW_UP, "", dialog=True),
                )
            ),
        )
    return Message(summary="What socialdesk does", blocks=blocks)


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


def _help(ctx: HandlerContext, said: Said) -> Outcome:
    return Outcome(reply=help_message(ctx, said.platform))


WORKFLOW = Workflow(
    name="help",
    commands=(
        # Slack answers any direct message with it. In a chat, "help" counts alone ("help me
        # post a photo" is a question), and so do a greeting, an empty message and a lone "?".
        CommandRoute(
            "help", opens=_help, slash=False, alone=True, aliases=("hi", "hello", "?", "")
        ),
    ),
    welcome=welcome_message,
)
