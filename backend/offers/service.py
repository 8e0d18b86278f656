"""The offer state machine. Each transition locks the cleaning row first, so transitions
on one cleaning run one at a time; the partial unique index offers_cleaning_id_hired_key
is the last word on "one hired cleaner per cleaning"."""

from __future__ import annotations

from backend.cleanings import queries as cleanings
from backend.cleanings.service import CLEANING_NOT_FOUND, lock_cleaning
from backend.core.db import Database, IntegrityError
from backend.core.errors import BadRequest, Forbidden, NotFound
from backend.offers import queries
from backend.offers.models import OfferPublic, OfferStatus
from backend.users import queries as users

OFFER_ON_OWN_CLEANING = "Users are unable to create offers for cleaning jobs they own."
DUPLICATE_OFFER = "Users aren't allowed create more than one offer for a cleaning job."
ALREADY_HIRED = "That cleaning job already has an accepted offer."
CANNOT_LIST_OFFERS = "Unable to access offers."
CANNOT_VIEW_OFFER = "Unable to access offer."
ONLY_OWNER_ACCEPTS = "Only the owner of the cleaning may accept offers."
ONLY_PENDING_ACCEPTED = "Can only accept offers that are currently pending."
ONLY_ACCEPTED_CANCELLED = "Can only cancel offers that have been accepted."
OFFER_NOT_FOUND = "Offer not found."
ONLY_PENDING_RESCINDED = "Can only rescind currently pending offers."

HIRED_CONSTRAINT = "offers_cleaning_id_hired_key"


async def cleaning_owner(db: Database, cleaning_id: int) -> int:
    owner = await cleanings.get_cleaning_owner(db, cleaning_id=cleaning_id)
    if owner is None:
        raise NotFound(CLEANING_NOT_FOUND)
    return owner


async def create_offer(db: Database, *, cleaning_id: int, user_id: int) -> OfferPublic:
    async with db.transaction():
        cleaning = await lock_cleaning(db, cleaning_id, share=True)
        if cleaning.owner == user_id:
            raise BadRequest(OFFER_ON_OWN_CLEANING, code="own_cleaning")
        if cleaning.has_hired_offer:
            raise BadRequest(ALREADY_HIRED, code="already_hired")
        try:
            return await queries.create_offer(db, user_id=user_id, cleaning_id=cleaning_id)
        except IntegrityError as error:
            if error.constraint == "offers_pkey":
                raise BadRequest(DUPLICATE_OFFER, code="duplicate_offer") from None
            raise


async def get_offer(
    db: Database, *, cleaning_id: int, username: str, viewer_id: int
) -> OfferPublic:
    """The cleaning's owner may read any of its offers; anybody else only their own (whether
    another user's offer exists is not theirs to learn: 403 either way)."""
    owner = await cleaning_owner(db, cleaning_id)
    if (
        viewer_id != owner
        and await users.get_user_id_by_username(db, username=username) != viewer_id
    ):
        raise Forbidden(CANNOT_VIEW_OFFER)
    offer = await queries.get_offer(db, cleaning_id=cleaning_id, username=username)
    if offer is None:
        raise NotFound(OFFER_NOT_FOUND)
    return offer


async def accept_offer(
    db: Database, *, cleaning_id: int, username: str, owner_id: int
) -> OfferPublic:
    """Accept one pending offer and reject every other pending offer, atomically."""
    async with db.transaction():
        cleaning = await lock_cleaning(db, cleaning_id)
        if cleaning.owner != owner_id:
            raise Forbidden(ONLY_OWNER_ACCEPTS)
        offerer_id = await users.get_user_id_by_username(db, username=username)
        status = None
        if offerer_id is not None:
            status = await queries.get_offer_status_for_update(
                db, cleaning_id=cleaning_id, user_id=offerer_id
            )
        if offerer_id is None or status is None:
            raise NotFound(OFFER_NOT_FOUND)
        if status != OfferStatus.pending:
            raise BadRequest(ONLY_PENDING_ACCEPTED, code="offer_not_pending")
        if cleaning.has_hired_offer:
            raise BadRequest(ALREADY_HIRED, code="already_hired")
        try:
            accepted = await queries.set_offer_status(
                db, cleaning_id=cleaning_id, user_id=offerer_id, status=OfferStatus.accepted
            )
        except IntegrityError as error:
            if error.constraint == HIRED_CONSTRAINT:
                raise BadRequest(ALREADY_HIRED, code="already_hired") from None
            raise
        await queries.move_offers_between_statuses(
            db,
            cleaning_id=cleaning_id,
            from_status=OfferStatus.pending,
            to_status=OfferStatus.rejected,
        )
    assert accepted is not None  # the offer row is locked by this transaction
    return accepted


async def cancel_offer(db: Database, *, cleaning_id: int, user_id: int) -> OfferPublic:
    """The hired cleaner backs out: their offer is cancelled and the rejected ones are
    pending again, atomically."""
    async with db.transaction():
        await lock_cleaning(db, cleaning_id)
        status = await queries.get_offer_status_for_update(
            db, cleaning_id=cleaning_id, user_id=user_id
        )
        if status is None:
            raise NotFound(OFFER_NOT_FOUND)
        if status != OfferStatus.accepted:
            raise BadRequest(ONLY_ACCEPTED_CANCELLED, code="offer_not_accepted")
        cancelled = await queries.set_offer_status(
            db, cleaning_id=cleaning_id, user_id=user_id, status=OfferStatus.cancelled
        )
        await queries.move_offers_between_statuses(
            db,
            cleaning_id=cleaning_id,
            from_status=OfferStatus.rejected,
            to_status=OfferStatus.pending,
        )
    assert cancelled is not None
    return cancelled


async def rescind_offer(db: Database, *, cleaning_id: int, user_id: int) -> OfferPublic:
    """Withdraw a pending offer (a conditional delete: no read-then-write race)."""
    await cleaning_owner(db, cleaning_id)
    async with db.transaction():
        deleted = await queries.delete_pending_offer(db, cleaning_id=cleaning_id, user_id=user_id)
        if deleted is not None:
            return deleted
        # Why not: the offer's status, locked so that the answer describes the row as it
        # stays until this transaction ends.
        status = await queries.get_offer_status_for_update(
            db, cleaning_id=cleaning_id, user_id=user_id
        )
    if status is None:
        raise NotFound(OFFER_NOT_FOUND)
    raise BadRequest(ONLY_PENDING_RESCINDED, code="offer_not_pending")
