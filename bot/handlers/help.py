"""What the bot says about itself."""

from __future__ import annotations

from bot.core.outcome import Outcome
from bot.core.people import Person, Platform, Role
from bot.core.ui import Block, BulletList, Buttons, Message, Paragraph
from bot.handlers import HandlerContext
from bot.handlers.workflow import CommandRoute, Said, Workflow


def help_message(
    ctx: HandlerContext, platform: Platform = Platform.SLACK, reader: Person | None = None
) -> Message:
    """Every workflow's commands, as their tables describe them; for the IT Network Manager
    (`reader`), what only they can ask for too."""
    # Imported here: the tables being listed include this workflow's own.
    from bot.handlers.routes import ROUTES

    commands = ROUTES.commands.values()
    described = tuple(_described(c, platform) for c in commands if _listed(c, platform))
    blocks: tuple[Block, ...] = (
        Paragraph.of(f"I run {ctx.school_name}'s Social Media Policy for staff. What you can do:"),
        BulletList("Commands", described),
    )
    shortcuts = tuple(button for c in commands for button in c.shortcuts)
    if platform is not Platform.SLACK and shortcuts:
        # In a chat something can start here, with no message of its own left in the chat
        # (a report, in a dialog); Slack's commands open their windows at once.
        blocks += (Buttons(shortcuts),)
    if reader is not None and reader.holds(Role.NETWORK_MANAGER):
        word = "/policy questions" if platform is Platform.SLACK else "policy questions"
        blocks += (
            Paragraph.of(
                f"As the IT Network Manager: {word} shows what staff asked, the answers they "
                "found unhelpful and why, and lets you keep an answer for next time."
            ),
        )
    return Message(summary="What socialdesk does", blocks=blocks)


def _listed(command: CommandRoute, platform: Platform) -> bool:
    return bool(command.about) and (command.slash or platform is not Platform.SLACK)


def _described(command: CommandRoute, platform: Platform) -> str:
    # Slack has slash commands; in a chat the same words are typed.
    on_slack = platform is Platform.SLACK
    word = f"/{command.word}" if on_slack else command.word
    added = command.on_slack if on_slack else command.in_chat
    return f"{word}{command.usage} - {command.about}{added}"


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
    return Outcome(reply=help_message(ctx, said.platform, said.actor))


WORKFLOW = Workflow(
    name="help",
    commands=(
        # Slack answers any direct message with it. In a chat, "help" counts alone ("help me
        # post a photo" is a question), and so do a greeting, an empty message and a lone "?".
        CommandRoute(
            "help",
            opens=_help,
            slash=False,
            alone=True,
            aliases=("hi", "hello", "?", ""),
            # Slack answers any direct message with help; in a chat it is typed.
            about="this list",
        ),
    ),
    welcome=welcome_message,
)
