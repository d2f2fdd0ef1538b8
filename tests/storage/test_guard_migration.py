"""Migration 0010 starts existing tenants' guards after their history: an old burst holds nothing on upgrade."""

from __future__ import annotations

from sqlalchemy.orm import Session

from scim import changes
from storage import events, guard, revisions, tenants
from storage.db import make_engine


def _burst(session: Session, tenant_id: int, count: int) -> None:
    for index in range(count):
        origin = events.Origin("PATCH", f"/scim/v2/Users/u{index}", tenant_id)
        events.stage(session, events.entry(origin, changes.USER_DEACTIVATED, 200, "User", f"u{index}",
                                           {"active": {"old": True, "new": False}}))


def test_a_burst_before_the_upgrade_is_history_and_one_after_it_trips(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        revisions.downgrade(engine, "0010-1")
        with Session(engine) as session, session.begin():
            old_id = tenants.create(session, "old").id
            _burst(session, old_id, 12)
        revisions.upgrade(engine)
        with Session(engine) as session, session.begin():
            new_id = tenants.create(session, "new").id
            _burst(session, new_id, 12)
        with Session(engine) as session:
            old = guard.deliverable(session, old_id, 0, 100)
            assert len(old.events) == 12 and old.hold is None
            new = guard.deliverable(session, new_id, 0, 100)
            assert len(new.events) == 10 and new.hold is not None
    finally:
        engine.dispose()
