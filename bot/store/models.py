"""Tables. Times are stored in UTC; the Alembic migrations under migrations/ create them."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import false


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every engine (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; times are kept in UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[str]: JSON,
        list[int]: JSON,
    }


# Records say who acted as they were at that moment: beside each actor's key, the name shown
# for them (the configuration's, or the one their platform gave) and the platform identities
# they had ("slack:U0TERRY"). Safeguarding records must name people even after they leave the
# configuration or change their name. Anonymous reports keep none of the three.


class Counter(Base):
    __tablename__ = "counters"
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class Post(Base):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    submitter_key: Mapped[str] = mapped_column(String(200), index=True)
    state: Mapped[str] = mapped_column(String(32), index=True)
    version: Mapped[int] = mapped_column(Integer)
    wished_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Bumped by every change; a change is made only if the step is still the one it read, so
    # two approvers clicking at once make one decision (see repos.SqlPosts.move).
    step: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The version an approval covers; any new version needs a new approval.
    approved_version: Mapped[int | None] = mapped_column(Integer)
    # The publishing day whose reminder went out, so that a date changed and changed back
    # does not remind twice.
    reminded_on: Mapped[date | None] = mapped_column(Date)


class PostVersion(Base):
    __tablename__ = "post_versions"
    __table_args__ = (UniqueConstraint("post_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(Text)  # None once purged for retention
    accounts: Mapped[list[str]]
    confirmed: Mapped[list[str]]
    created_by: Mapped[str] = mapped_column(String(200))
    # Who that was, as they were then (see the note above Counter).
    created_by_name: Mapped[str | None] = mapped_column(String(200))
    created_by_identity: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    # The form it came from: the same form submitted twice makes one version, not two.
    form_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # The attachments this version carries (a revision may keep earlier ones). None on rows
    # from before revisions existed: those carry the attachments added with them.
    attachment_ids: Mapped[list[int] | None] = mapped_column(JSON)


class PostLink(Base):
    """Where a post went live, one address per account."""

    __tablename__ = "post_links"
    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    account: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class Attachment(Base):
    """A file the bot keeps: on a draft post (`post_id`) or as a report's evidence (`report_id`)."""

    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id"), index=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    platform: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(500))
    mimetype: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # pending | kept | failed | purged
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    fetched_at: Mapped[datetime | None]


class HistoryRow(Base):
    __tablename__ = "history"
    __table_args__ = (Index("ix_history_object", "object_type", "object_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    actor_key: Mapped[str] = mapped_column(String(200))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    actor_identity: Mapped[str | None] = mapped_column(String(500))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    version: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)


class AuditEvent(Base):
    """Append-only: the migration adds triggers that refuse UPDATE and DELETE."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_key: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]]


class OutboxItem(Base):
    """Work for the delivery worker: a message to send or a file to fetch.

    Stored in the same transaction as the state change that caused it, then claimed by one
    worker at a time through a lease (`claimed_by`, `claimed_until`).
    """

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # message | update | fetch | share | timer
    platform: Mapped[str | None] = mapped_column(String(16))
    recipient_key: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(500))
    card_key: Mapped[str | None] = mapped_column(String(200), index=True)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending|sent|held|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    # For a card and its updates: which revision of the card the payload shows.
    revision: Mapped[int | None] = mapped_column(Integer)


class Card(Base):
    """Where a card was delivered, so it can be updated in place later."""

    __tablename__ = "cards"
    __table_args__ = (UniqueConstraint("card_key", "platform", "recipient_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    card_key: Mapped[str] = mapped_column(String(200), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    recipient_key: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(200))
    message_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    # The revision the copy shows now; an update carrying an older one is not applied.
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class TeamsConversation(Base):
    """Where the bot can reach a person in Teams: their personal chat with it.

    botbuilder's serialised ConversationReference drops the tenant id, so the tenant is kept
    here too, read from the activity's channel data.
    """

    __tablename__ = "teams_conversations"
    aad_object_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    service_url: Mapped[str] = mapped_column(String(500))
    conversation_id: Mapped[str] = mapped_column(String(500), index=True)
    user_id: Mapped[str] = mapped_column(String(200))  # Teams' own 29:… id for the person
    bot_id: Mapped[str] = mapped_column(String(200))
    # The display name Teams gave, shown to approvers for people the configuration does
    # not name; never used to identify anyone.
    name: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime]
    # Set when the person removed or blocked the bot; messages for them then wait.
    unreachable_since: Mapped[datetime | None]
    unreachable_reason: Mapped[str | None] = mapped_column(String(200))


class TeamsUpload(Base):
    """Files a person sent in the chat with `post`, kept on the server until their draft form
    comes back: the form card carries only its key, so nobody can slip another address in."""

    __tablename__ = "teams_uploads"
    form_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    aad_object_id: Mapped[str] = mapped_column(String(64))
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(index=True)


class PolicyQuestion(Base):
    """A question asked of the bot, what it answered and from which version of the policy
    (`policy_hash`); if it went to the IT Network Manager, their answer and whether it joins
    the bot's answers (`learned`, tied to the sections and their digests in `learned_sections`)."""

    __tablename__ = "policy_questions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Q-0001: given when the question goes to the IT Network Manager, the number they see.
    reference: Mapped[str | None] = mapped_column(String(16), unique=True)
    # Kept only once the asker sends the question on; until then nothing says who asked, so
    # a question about a colleague cannot be joined to a report made just after it.
    asker_key: Mapped[str | None] = mapped_column(String(200), index=True)
    asker_name: Mapped[str | None] = mapped_column(String(200))
    asker_identity: Mapped[str | None] = mapped_column(String(500))
    # The digest of the secret the "Ask the IT Network Manager" button carries: only whoever
    # was shown the answer can send the question on.
    escalation_digest: Mapped[str | None] = mapped_column(String(64))
    question: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))
    policy_hash: Mapped[str | None] = mapped_column(String(64))
    sections: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    topic: Mapped[str | None] = mapped_column(String(100))
    # The kept answer shown with this one, if any.
    learned_from: Mapped[int | None] = mapped_column(Integer)
    # Both kept to the day (the start of the school's day), never to the second.
    asked_at: Mapped[datetime]
    escalated_at: Mapped[datetime | None]
    answered_by: Mapped[str | None] = mapped_column(String(200))
    answered_by_name: Mapped[str | None] = mapped_column(String(200))
    answered_by_identity: Mapped[str | None] = mapped_column(String(500))
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None]
    answer_policy_hash: Mapped[str | None] = mapped_column(String(64))
    learned: Mapped[bool] = mapped_column(default=False, server_default=false(), index=True)
    learned_sections: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # The asker's thumbs up or down on the answer ("helpful" / "unhelpful"), and the reason
    # they gave for a thumbs down: one vote per answer, changed in place, and nothing about
    # who voted or when beyond the day the question was asked.
    vote: Mapped[str | None] = mapped_column(String(16))
    vote_reason: Mapped[str | None] = mapped_column(Text)


class PolicyReview(Base):
    """One decision of the school's review of where the bot answers a topic from, for the
    version of the policy it was made on (bot.core.policy_review). Never changed or deleted: the
    latest that still holds for a topic wins, and the earlier ones are its history."""

    __tablename__ = "policy_reviews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # The document's digest when it was decided.
    policy_version: Mapped[str] = mapped_column(String(64))
    topic_key: Mapped[str] = mapped_column(String(100), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    # The digests of the passages it rests on: it holds wherever they read word for word.
    passages: Mapped[list[str]] = mapped_column(JSON)
    answer: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(String(200))
    decided_by_name: Mapped[str | None] = mapped_column(String(200))
    decided_by_identity: Mapped[str | None] = mapped_column(String(500))
    decided_at: Mapped[datetime]


class Report(Base):
    """A concern reported by a member of staff. `reporter_key` is None for an anonymous report,
    which is found again only by the digest of its receipt code; nothing else names its maker."""

    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    state: Mapped[str] = mapped_column(String(32), index=True)
    reporter_key: Mapped[str | None] = mapped_column(String(200), index=True)
    reporter_name: Mapped[str | None] = mapped_column(String(200))
    reporter_identity: Mapped[str | None] = mapped_column(String(500))
    receipt_digest: Mapped[str | None] = mapped_column(String(64), unique=True)
    where: Mapped[str] = mapped_column(String(200))
    links: Mapped[list[str]]
    seen_at: Mapped[datetime | None]
    details: Mapped[str] = mapped_column(Text)
    involved: Mapped[list[str]]
    involved_text: Mapped[str] = mapped_column(Text)
    # Who it was sent to (people's keys); who may act on it is worked out again at each click.
    recipients: Mapped[list[str]]
    # Nobody could receive it when it was made: it waits until someone can.
    held: Mapped[bool] = mapped_column(default=False, server_default=false(), index=True)
    escalated: Mapped[bool] = mapped_column(default=False, server_default=false())
    outcome: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(index=True)
    due_at: Mapped[datetime | None]
    # Bumped by every change; cards show the state of a step, and never go back to an older one.
    step: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The form it came from: the same form submitted twice makes one report, not two.
    form_key: Mapped[str | None] = mapped_column(String(200), unique=True)


class ReportEventRow(Base):
    """A report's chronology: append-only, like the audit log (the migration adds triggers
    that refuse UPDATE and DELETE)."""

    __tablename__ = "report_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    actor_key: Mapped[str] = mapped_column(String(200))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    actor_identity: Mapped[str | None] = mapped_column(String(500))
    text: Mapped[str | None] = mapped_column(Text)


class SeenRequest(Base):
    """A Slack request already taken, by a digest of it (never its content), kept while a
    replay of it could still pass the signature check or Slack could still retry it."""

    __tablename__ = "seen_requests"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ServedPlatform(Base):
    """A platform this database has been served to with real credentials (Slack, registered
    Teams), since when: its records are then the school's own, which `socialdesk chat`, whose
    messages reach nobody, must not add to."""

    __tablename__ = "served_platforms"
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    since: Mapped[datetime]


def table_of(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


# The store's statements are Core SQL on these tables, run on a plain connection: a request
# writes a handful of rows, and going through the ORM (its session, unit of work and
# attribute instrumentation) cost more than the statements themselves (bench/ack_latency.py).
# The mapped classes above define the schema, which the migrations must match.
COUNTERS = table_of(Counter)
POSTS = table_of(Post)
POST_VERSIONS = table_of(PostVersion)
POST_LINKS = table_of(PostLink)
ATTACHMENTS = table_of(Attachment)
HISTORY = table_of(HistoryRow)
AUDIT = table_of(AuditEvent)
OUTBOX = table_of(OutboxItem)
CARDS = table_of(Card)
TEAMS_CONVERSATIONS = table_of(TeamsConversation)
SERVED_PLATFORMS = table_of(ServedPlatform)
TEAMS_UPLOADS = table_of(TeamsUpload)
POLICY_QUESTIONS = table_of(PolicyQuestion)
POLICY_REVIEWS = table_of(PolicyReview)
REPORTS = table_of(Report)
REPORT_EVENTS = table_of(ReportEventRow)
SEEN_REQUESTS = table_of(SeenRequest)


# An anonymous report, and every row about it (its chronology, audit entries, the messages and
# timers it queues, the records of where its cards went), takes ids from outside the shared
# sequences: random and negative. Ids counted up one by one put a row next to whatever was
# written just before it, and "the outbox row before the report's cards is a message to Terry"
# names the reporter as surely as a time would. PostgreSQL's sequences never reach below
# zero; SQLite gives an ordinary row the largest id + 1, which stays above these once a table
# holds one ordinary row (until then an ordinary row written next would sit beside one).
DETACHED_FLOOR = -(2**31) + 1
DETACHED_CEILING = -(2**20)


def detached_ids(count: int) -> list[int]:
    """`count` ids for rows about an anonymous report: consecutive among themselves (so rows
    written together keep their order), unrelated to any other row's. A clash with an earlier
    block (about one in two thousand million per row) fails the insert, and the work runs again
    with new ones (Runtime.perform)."""
    span = DETACHED_CEILING - DETACHED_FLOOR - count
    first = DETACHED_FLOOR + secrets.randbelow(span)
    return list(range(first, first + count))


async def ordinary_ids(db: AsyncConnection, table: Table, count: int) -> list[int] | None:
    """Ids for ordinary rows of a table that also holds an anonymous report's rows, or None to
    let the database choose. SQLite gives a new row the largest id + 1, so while such a table
    holds only negative ids the next ordinary row would sit right beside them; there the ids
    are given explicitly, above zero. SQLite writes one transaction at a time (BEGIN IMMEDIATE,
    db.py), so reading the largest id first is race-free. PostgreSQL's sequences never go
    below zero, whatever rows the table holds."""
    if db.dialect.name != "sqlite":
        return None
    top = await db.scalar(select(func.max(table.c.id)))
    first = max(0, int(top or 0)) + 1
    return list(range(first, first + count))
