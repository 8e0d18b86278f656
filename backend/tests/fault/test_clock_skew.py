"""Two instances on one database, the second under `faketime` (Debian's libfaketime): its
wall clock runs 5 s behind, 5 s ahead, or past the access-token lifetime. Tokens, refresh
replay, rate-limit windows and reset links must get the same decisions on both, except
the one the clock must decide: an access token past its lifetime (plus leeway)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest

from backend.tests.fault.conftest import SERVER_ENV, Lab, report
from backend.tests.servers import gunicorn_process, register_over_http

pytestmark = pytest.mark.fault

TOKEN_TTL = 60  # ACCESS_TOKEN_EXPIRE_MINUTES=1
LEEWAY = 5
# libfaketime with a real monotonic clock makes time.sleep fail (EINVAL); this shim on the
# skewed instance's path sleeps with select() instead (LAB-NOTES).
SLEEP_SHIM = """import select, time
def _sleep(seconds):
    select.select([], [], [], max(0.0, seconds))
time.sleep = _sleep
"""


@contextmanager
def instance(lab: Lab, tmp: Path, name: str, skew: int | None) -> Iterator[httpx.Client]:
    env = {
        **SERVER_ENV,
        "ACCESS_TOKEN_EXPIRE_MINUTES": str(TOKEN_TTL // 60),
        "PASSWORD_RESET_EXPIRE_MINUTES": "1",
        "TOKEN_CLOCK_LEEWAY_SECONDS": str(LEEWAY),
        "MAIL_OUTBOX_DIR": str(tmp / "mail"),
    }
    wrapper = None
    if skew is not None:
        shim = tmp / "shim"
        shim.mkdir(exist_ok=True)
        (shim / "sitecustomize.py").write_text(SLEEP_SHIM)
        env |= {"PYTHONPATH": str(shim), "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
        wrapper = ["faketime", "-f", f"{skew:+d}s"]
    with (
        gunicorn_process(
            lab.app_url, workers=1, log_file=tmp / f"{name}.log", wrapper=wrapper, env=env
        ) as server,
        httpx.Client(base_url=server.base, timeout=10) as http,
    ):
        yield http


def server_clock(http: httpx.Client) -> float:
    return parsedate_to_datetime(http.get("/health/live").headers["date"]).timestamp()


def new_account(http: httpx.Client) -> tuple[str, str, str]:
    account = register_over_http(http, "skew")
    return account.email, account.password, account.access_token


def login(http: httpx.Client, email: str, password: str) -> httpx.Response:
    return http.post("/api/users/login/token/", data={"username": email, "password": password})


def reset_link_token(mail_dir: Path, email: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for path in mail_dir.glob("*.eml"):
            message = message_from_bytes(path.read_bytes(), policy=policy.default)
            if message["To"] == email:
                found = re.search(r"token=(\S+)", message.get_content())
                assert found is not None
                return found.group(1)
        time.sleep(0.05)
    raise AssertionError("no reset mail")


@pytest.mark.parametrize("skew", [-5, 5, TOKEN_TTL + LEEWAY + 10])
def test_instances_with_skewed_clocks_make_the_same_decisions(
    lab: Lab, tmp_path: Path, skew: int
) -> None:
    with instance(lab, tmp_path, "a", None) as a, instance(lab, tmp_path, "b", skew) as b:
        measured = server_clock(b) - server_clock(a)
        assert abs(measured - skew) <= 2, measured  # faketime really shifted B's clock
        past_ttl = skew > TOKEN_TTL + LEEWAY

        # An access token from A, on B: accepted within the leeway, refused past its lifetime.
        email, password, access = new_account(a)
        me = b.get("/api/users/me/", headers={"Authorization": f"Bearer {access}"})
        assert me.status_code == (401 if past_ttl else 200)

        # Refresh on B with A's token, then replaying A's token: the family is revoked.
        first = login(a, email, password).json()
        rotated = b.post(
            "/api/users/token/refresh/", json={"refresh_token": first["refresh_token"]}
        )
        assert rotated.status_code == 200
        replay = a.post("/api/users/token/refresh/", json={"refresh_token": first["refresh_token"]})
        assert replay.status_code == 401
        descendant = rotated.json()["refresh_token"]
        assert (
            b.post("/api/users/token/refresh/", json={"refresh_token": descendant}).status_code
            == 401
        )

        # Failed logins counted on A lock the account on B too, for the same time.
        victim, victim_password, _ = new_account(a)
        for _ in range(10):
            assert login(a, victim, "wrong-password-1").status_code == 401
        locked = [login(http, victim, victim_password) for http in (a, b)]
        assert [r.status_code for r in locked] == [429, 429]
        retry = [int(r.headers["retry-after"]) for r in locked]
        assert abs(retry[0] - retry[1]) <= 1, retry

        # A reset link requested on A works on B at once, whatever B's clock says.
        assert a.post("/api/users/password-reset/", json={"email": email}).status_code == 202
        token = reset_link_token(tmp_path / "mail", email)
        confirmed = b.post(
            "/api/users/password-reset/confirm/",
            json={"token": token, "new_password": "walnut-quarry-nine"},
        )
        assert confirmed.status_code == 204, confirmed.text

    report(
        f"clock skew {skew:+d} s",
        f"B measured {measured:+.0f} s; access token on B "
        f"{'refused (past TTL + leeway)' if past_ttl else 'accepted'}; refresh replay revoked "
        f"the family; rate limit 429 on both (Retry-After {retry[0]} / {retry[1]} s); "
        "reset link from A confirmed on B",
    )
