"""Evaluating the hired cleaner completes their offer, in the same transaction."""

from __future__ import annotations

from backend.cleanings.service import lock_cleaning
from backend.core.db import Database, IntegrityError, Reader
from backend.core.errors import BadRequest, Forbidden, NotFound
from backend.core.replica import PublicReads
from backend.evaluations import queries
from backend.evaluations.models import EvaluationCreate, EvaluationPublic
from backend.offers import queries as offers
from backend.offers.models import OfferStatus
from backend.offers.service import OFFER_NOT_FOUND
from backend.users import queries as users

CLEANER_NOT_FOUND = "No user found with that username."
NOT_THE_OWNER = "Users are unable to leave evaluations for cleaning jobs they do not own."
NOT_ACCEPTED = "Users are unable to leave multiple evaluations jobs they did not accept."
EVALUATION_NOT_FOUND = "No evaluation found for that cleaning."


async def cleaner_id(db: Reader, username: str) -> int:
    found = await users.get_user_id_by_username(db, username=username)
    if found is None:
        raise NotFound(CLEANER_NOT_FOUND)
    return found


async def public_cleaner_id(reads: PublicReads, username: str) -> int:
    """`cleaner_id` for a public read: the primary answers when the replica (still) has
    no such user."""
    found = await reads.read(
        lambda db: users.get_user_id_by_username(db, username=username),
        primary_if=lambda found: found is None,
    )
    if found is None:
        raise NotFound(CLEANER_NOT_FOUND)
    return found


async def evaluate_cleaner(
    db: Database,
    *,
    cleaning_id: int,
    cleaner_username: str,
    owner_id: int,
    evaluation: EvaluationCreate,
) -> EvaluationPublic:
    async with db.transaction():
        cleaning = await lock_cleaning(db, cleaning_id)
        if cleaning.owner != owner_id:
            raise Forbidden(NOT_THE_OWNER)
        cleaner = await cleaner_id(db, cleaner_username)
        status = await offers.get_offer_status_for_update(
            db, cleaning_id=cleaning_id, user_id=cleaner
        )
        if status is None:  # no offer at all: as the original, "not found"
            raise NotFound(OFFER_NOT_FOUND, code="offer_not_found")
        if status != OfferStatus.accepted:  # pending, rejected, cancelled or already completed
            raise BadRequest(NOT_ACCEPTED, code="offer_not_accepted")
        try:
            created = await queries.create_evaluation(
                db, cleaning_id=cleaning_id, cleaner_id=cleaner, **evaluation.model_dump()
            )
        except IntegrityError as error:
            if error.constraint == "evaluations_pkey":
                raise BadRequest(NOT_ACCEPTED, code="offer_not_accepted") from None
            raise
        await offers.set_offer_status(
            db, cleaning_id=cleaning_id, user_id=cleaner, status=OfferStatus.completed
        )
    return created
