"""Cleaning use-cases that decide on a locked row."""

from __future__ import annotations

from backend.cleanings import queries
from backend.cleanings.models import CleaningLock, CleaningUpdate
from backend.core.db import Database
from backend.core.errors import BadRequest, Forbidden, NotFound
from backend.core.rows import Row

CLEANING_NOT_FOUND = "No cleaning found with that id."
NOT_THE_OWNER = "Users are only able to modify cleanings that they created."
TYPE_CANNOT_BE_NONE = "Invalid cleaning type. Cannot be None."
LOCKED_BY_HIRE = "Cannot change the price or type of a cleaning with an accepted offer."
CANNOT_DELETE_HIRED = "Cannot delete a cleaning with an accepted or completed offer."


async def lock_cleaning(db: Database, cleaning_id: int, *, share: bool = False) -> CleaningLock:
    """Lock the cleaning row (404 when missing), then read whether someone is hired.

    Every write that depends on the cleaning's offers takes this lock first, so they run one
    at a time per cleaning (`share`: several new offers may proceed together, but not
    alongside an accept). The hired check is a second statement on purpose: in READ
    COMMITTED it gets a fresh snapshot, taken after the lock wait, so it sees what the
    previous lock holder committed (a subquery in the locking statement would not)."""
    lock = queries.get_cleaning_for_share if share else queries.get_cleaning_for_update
    locked = await lock(db, cleaning_id=cleaning_id)
    if locked is None:
        raise NotFound(CLEANING_NOT_FOUND)
    hired = await queries.cleaning_has_hired_offer(db, cleaning_id=cleaning_id)
    return CleaningLock(id=cleaning_id, has_hired_offer=hired, **dict(locked))


async def lock_own_cleaning(db: Database, cleaning_id: int, user_id: int) -> CleaningLock:
    """The cleaning, locked for update; 404 when missing, 403 when not the caller's."""
    cleaning = await lock_cleaning(db, cleaning_id)
    if cleaning.owner != user_id:
        raise Forbidden(NOT_THE_OWNER)
    return cleaning


async def update_cleaning(
    db: Database, *, cleaning_id: int, user_id: int, update: CleaningUpdate
) -> Row:
    """The updated cleaning, a row in CleaningPublic's shape."""
    present = update.model_fields_set
    if "cleaning_type" in present and update.cleaning_type is None:
        raise BadRequest(TYPE_CANNOT_BE_NONE)
    async with db.transaction():
        cleaning = await lock_own_cleaning(db, cleaning_id, user_id)
        # A client that sends the whole cleaning back (the tutorial's frontend does) repeats the
        # unchanged price and type: only a real change is refused once someone is hired.
        changed = {f for f in ("price", "cleaning_type") if f in present}
        changed = {f for f in changed if getattr(update, f) != getattr(cleaning, f)}
        if cleaning.has_hired_offer and changed:
            raise BadRequest(LOCKED_BY_HIRE, code="cleaning_hired")
        await queries.update_cleaning(
            db,
            cleaning_id=cleaning_id,
            set_name="name" in present,
            name=update.name,
            set_description="description" in present,
            description=update.description,
            set_price="price" in present,
            price=update.price,
            set_cleaning_type="cleaning_type" in present,
            cleaning_type=update.cleaning_type,
        )
        updated = await queries.get_cleaning_by_id(db, cleaning_id=cleaning_id, viewer_id=user_id)
    assert updated is not None  # locked and updated in this transaction
    return updated


async def delete_cleaning(db: Database, *, cleaning_id: int, user_id: int) -> int:
    """Delete an own cleaning unless someone was hired for it (the row lock orders this
    against a concurrent accept: whichever commits first decides)."""
    async with db.transaction():
        cleaning = await lock_own_cleaning(db, cleaning_id, user_id)
        if cleaning.has_hired_offer:
            raise BadRequest(CANNOT_DELETE_HIRED, code="cleaning_hired")
        await queries.delete_cleaning(db, cleaning_id=cleaning_id)
    return cleaning_id
