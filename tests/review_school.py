"""A short policy of another school, written for these tests in our own words, with headings
unlike the example school's: none of the bot's short answers rests on its passages, so every
topic it places waits for the school's review."""

from __future__ import annotations

from pathlib import Path

BROOKFIELD = """# Brookfield Academy: Staff Online Conduct Code

## 1. Purpose of this code

This code sets out how everyone employed at Brookfield Academy behaves online, in and out of \
work, so that pupils are kept safe and the academy's good name is protected.

## 2. Contact with pupils online

Staff must never accept or send friend or follow requests to or from current pupils on any \
personal social networking account. If a pupil sends such a request, decline it, do not reply, \
and tell the Designated Safeguarding Lead so the request can be recorded.

Staff must not message pupils privately through personal apps or phones. All contact with \
pupils is through the academy's learning platform.

## 3. Cameras, images and filming

Pictures or video of pupils may only be taken on academy-owned cameras or tablets, never on a \
personal phone. Images must be deleted from the device once they have been uploaded to the \
academy's secure drive.

Before any image of a pupil is published, check the consent register held by the office; \
pupils without consent must not appear.

## 4. The academy's official channels

Only the Communications Lead may publish to the academy's official Facebook, Instagram and X \
accounts. Staff who would like something shared should send it to the Communications Lead for \
approval first.

## 5. Personal accounts

Staff may use personal social media in their own time. Do not post during lessons or duty, and \
do not bring the academy into disrepute or share confidential information about pupils, \
families or colleagues.

## Appendix

"""

CONTACT_HEADING = "## 2. Contact with pupils online"
# The same passages under other headings: what the school's decisions rest on is unchanged.
RENAMED = BROOKFIELD.replace(CONTACT_HEADING, "## 2. Pupils and the internet").replace(
    "## 5. Personal accounts", "## 5. Your own accounts"
)
# The passage the friend-request decision rests on, reworded.
REWORDED = BROOKFIELD.replace(
    "decline it, do not reply, and tell the Designated Safeguarding Lead",
    "ignore it and let the Designated Safeguarding Lead know",
)

FRIEND_REQUEST = "pupil-friend-request"
FRIEND_QUESTION = "a Year 8 added me on Snapchat, what do I do?"
# The start of the bot's own short answer for a pupil's friend request.
SHORT_ANSWER = "Don't accept or reply"
FROM_SECTION = "This is what the policy says about it."
APPENDIX = 6  # a heading with no text under it
PERSONAL_ACCOUNTS = 5


def write_policy(folder: Path, text: str = BROOKFIELD) -> Path:
    path = folder / "conduct-code.md"
    path.write_text(text, "utf-8")
    return path
