"""Committing a consumer's writes and its ack together when the broker allows it.

The embedded broker keeps messages in the hub's database, so acking one is a
row delete that can join the transaction of the consumer's journal writes:
one commit instead of two. RabbitMQ acks after the commit, as usual.
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.broker.base import Envelope, TransactionalEnvelope, conforms
from hub.db.committer import Committer, Op


async def commit_and_ack(committer: Committer, env: Envelope, ops: Sequence[Op]) -> None:
    """Commit ``ops``, then ack ``env`` (in the same transaction when possible)."""
    if not conforms(env, TransactionalEnvelope):
        await committer.run(*ops)
        await env.ack()
        return
    settle: TransactionalEnvelope = env  # type: ignore[assignment]
    await committer.run(*ops, *settle.ack_ops())
    settle.acked()
