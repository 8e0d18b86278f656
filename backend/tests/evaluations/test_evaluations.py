"""Evaluations: create (completing the offer), read, list, and stats checked by hand."""

from __future__ import annotations

import statistics
from typing import Any

import httpx
import pytest

from backend.tests.conftest import RunningApp
from backend.tests.factories import UserFixture, create_cleaning, create_offer, create_users, hire

pytestmark = pytest.mark.anyio


def evaluation_url(app: RunningApp, cleaner: UserFixture, cleaning_id: int) -> str:
    return app.url(
        "evaluations:create-evaluation-for-cleaner",
        username=cleaner.username,
        cleaning_id=str(cleaning_id),
    )


def evaluation(**overrides: Any) -> dict[str, dict[str, object]]:
    body: dict[str, object] = {
        "no_show": False,
        "headline": "Great",
        "comment": "Spotless.",
        "professionalism": 5,
        "completeness": 4,
        "efficiency": 5,
        "overall_rating": 5,
    }
    return {"evaluation_create": {**body, **overrides}}


async def test_evaluating_the_hired_cleaner_completes_the_offer(
    app: RunningApp, client: httpx.AsyncClient, sql
) -> None:
    owner, cleaner = await create_users(app.ctx, 2)
    cleaning = await create_cleaning(app.ctx, owner)
    await hire(app.ctx, cleaning, owner, cleaner)
    response = await client.post(
        evaluation_url(app, cleaner, cleaning.id), json=evaluation(), headers=owner.headers
    )
    assert response.status_code == 201
    body = response.json()
    assert body["cleaning_id"] == cleaning.id
    assert body["cleaner_id"] == cleaner.id
    assert body["overall_rating"] == 5
    status = await sql.fetchval(
        "SELECT status FROM offers WHERE cleaning_id = $1 AND user_id = $2", cleaning.id, cleaner.id
    )
    assert status == "completed"
    again = await client.post(
        evaluation_url(app, cleaner, cleaning.id), json=evaluation(), headers=owner.headers
    )
    assert again.status_code == 400
    assert (
        again.json()["detail"]
        == "Users are unable to leave multiple evaluations jobs they did not accept."
    )
    read = await client.get(
        app.url(
            "evaluations:get-evaluation-for-cleaner",
            username=cleaner.username,
            cleaning_id=str(cleaning.id),
        ),
        headers=cleaner.headers,
    )
    assert read.status_code == 200
    assert read.json() == body


async def test_evaluation_errors(app: RunningApp, client: httpx.AsyncClient, sql) -> None:
    owner, cleaner, other = await create_users(app.ctx, 3)
    cleaning = await create_cleaning(app.ctx, owner)
    await create_offer(app.ctx, cleaning, cleaner)
    not_accepted = await client.post(
        evaluation_url(app, cleaner, cleaning.id), json=evaluation(), headers=owner.headers
    )
    assert not_accepted.status_code == 400
    assert not_accepted.json()["code"] == "offer_not_accepted"
    never_offered = await client.post(
        evaluation_url(app, other, cleaning.id), json=evaluation(), headers=owner.headers
    )
    assert never_offered.status_code == 404  # no offer at all: as the original, not a 400
    assert never_offered.json()["detail"] == "Offer not found."
    not_owner = await client.post(
        evaluation_url(app, cleaner, cleaning.id), json=evaluation(), headers=other.headers
    )
    assert not_owner.status_code == 403
    assert (
        not_owner.json()["detail"]
        == "Users are unable to leave evaluations for cleaning jobs they do not own."
    )
    assert (
        await client.post(
            evaluation_url(app, cleaner, 999999), json=evaluation(), headers=owner.headers
        )
    ).status_code == 404
    bad_bodies: list[dict[str, Any]] = [
        {"overall_rating": 6},
        {"overall_rating": -1},
        {"overall_rating": None},
        {"efficiency": 2.5},
        {"professionalism": "5"},
    ]
    for bad in bad_bodies:
        response = await client.post(
            evaluation_url(app, cleaner, cleaning.id), json=evaluation(**bad), headers=owner.headers
        )
        assert response.status_code == 422, bad
    assert await sql.fetchval("SELECT count(*) FROM evaluations") == 0
    missing = await client.get(
        app.url(
            "evaluations:get-evaluation-for-cleaner",
            username=cleaner.username,
            cleaning_id=str(cleaning.id),
        ),
        headers=owner.headers,
    )
    assert missing.status_code == 404
    assert missing.json()["detail"] == "No evaluation found for that cleaning."
    unknown = await client.get(
        app.url("evaluations:list-evaluations-for-user", username="nobody_here"),
        headers=owner.headers,
    )
    assert unknown.status_code == 404


async def test_stats_match_values_computed_here(app: RunningApp, client: httpx.AsyncClient) -> None:
    cleaner, *owners = await create_users(app.ctx, 7)
    given: list[dict[str, Any]] = [
        {
            "overall_rating": 5,
            "professionalism": 4,
            "completeness": None,
            "efficiency": 5,
            "no_show": False,
        },
        {
            "overall_rating": 1,
            "professionalism": 2,
            "completeness": None,
            "efficiency": 3,
            "no_show": True,
        },
        {
            "overall_rating": 3,
            "professionalism": None,
            "completeness": None,
            "efficiency": 4,
            "no_show": False,
        },
        {
            "overall_rating": 4,
            "professionalism": 5,
            "completeness": None,
            "efficiency": 1,
            "no_show": False,
        },
        {
            "overall_rating": 5,
            "professionalism": 3,
            "completeness": None,
            "efficiency": 2,
            "no_show": False,
        },
        {
            "overall_rating": 0,
            "professionalism": 0,
            "completeness": None,
            "efficiency": 0,
            "no_show": True,
        },
    ]
    for owner, ratings in zip(owners, given, strict=True):
        cleaning = await create_cleaning(app.ctx, owner)
        await hire(app.ctx, cleaning, owner, cleaner)
        response = await client.post(
            evaluation_url(app, cleaner, cleaning.id),
            json=evaluation(**ratings),
            headers=owner.headers,
        )
        assert response.status_code == 201

    stats = (
        await client.get(
            app.url("evaluations:get-stats-for-user", username=cleaner.username),
            headers=owners[0].headers,
        )
    ).json()

    def average(key: str) -> float | None:
        values = [int(g[key]) for g in given if g[key] is not None]
        return statistics.fmean(values) if values else None

    overall = [int(g["overall_rating"] or 0) for g in given]
    assert stats["avg_overall_rating"] == pytest.approx(average("overall_rating"))
    assert stats["avg_professionalism"] == pytest.approx(average("professionalism"))
    assert stats["avg_efficiency"] == pytest.approx(average("efficiency"))
    assert stats["avg_completeness"] is None  # nobody rated it
    assert stats["max_overall_rating"] == max(overall)
    assert stats["min_overall_rating"] == min(overall)
    assert [
        stats[k] for k in ("one_stars", "two_stars", "three_stars", "four_stars", "five_stars")
    ] == [overall.count(n) for n in range(1, 6)]
    assert stats["total_evaluations"] == len(given)
    assert stats["total_no_show"] == sum(1 for g in given if g["no_show"])

    listed = await client.get(
        app.url("evaluations:list-evaluations-for-user", username=cleaner.username) + "?limit=4",
        headers=owners[0].headers,
    )
    assert listed.status_code == 200
    assert len(listed.json()) == 4
    assert 'rel="next"' in listed.headers["link"]


async def test_stats_for_a_cleaner_never_evaluated(
    app: RunningApp, client: httpx.AsyncClient
) -> None:
    cleaner, viewer = await create_users(app.ctx, 2)
    response = await client.get(
        app.url("evaluations:get-stats-for-user", username=cleaner.username), headers=viewer.headers
    )
    assert response.status_code == 200
    stats = response.json()
    assert stats["total_evaluations"] == 0
    assert stats["five_stars"] == 0
    assert stats["avg_overall_rating"] is None
    assert stats["max_overall_rating"] is None
    assert (
        await client.get(
            app.url("evaluations:list-evaluations-for-user", username=cleaner.username),
            headers=viewer.headers,
        )
    ).json() == []
