"""Every way in shares one throttle (per address and per user name, in the shared cache), and
password reset is offered only where the site can send mail. Odd input to the account forms
gets a form error, never a 500."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client

LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("boss", password="right-password-1", is_staff=True)


def _wrong(client: Client, url: str = LOGIN, name: str = "boss", **extra) -> int:
    return client.post(url, {"username": name, "password": "wrong-password"}, **extra).status_code


def test_it_answers_429_after_20_wrong_passwords_from_one_address(staff, client: Client, settings):
    codes = [_wrong(client) for _ in range(30)]
    assert codes == [200] * 10 + [429] * 20  # the user name's budget (10/hour) runs out first
    codes = [_wrong(client, name=f"someone-{i}") for i in range(12)]
    assert codes == [200] * 10 + [429] * 2  # then the address's (20/hour)
    refused = client.post(LOGIN, {"username": "boss", "password": "wrong-password"})
    assert refused["Retry-After"].isdigit() and 0 < int(refused["Retry-After"]) <= 3600
    assert "Too many attempts to sign in, sign up or reset a password." in refused.content.decode()
    assert "Please try again in" in refused.content.decode()
    assert client.get(LOGIN).status_code == 200  # the form itself still shows


def test_the_admin_login_shares_the_throttle_and_the_right_password_waits_too(staff, client: Client):
    assert [_wrong(client, url=ADMIN_LOGIN) for _ in range(10)] == [200] * 10
    # The user name's budget is spent through the admin door: the site's door refuses too, even
    # with the right password, so the staff user is not signed in and cannot open the admin.
    right = client.post(LOGIN, {"username": "boss", "password": "right-password-1"})
    assert right.status_code == 429
    assert client.post(ADMIN_LOGIN, {"username": "boss", "password": "right-password-1"}).status_code == 429
    assert client.get("/admin/").status_code == 302  # to the admin's login page


def test_the_user_name_budget_holds_across_addresses(staff, client: Client):
    codes = [_wrong(client, REMOTE_ADDR=f"10.0.0.{i}") for i in range(12)]
    assert codes == [200] * 10 + [429] * 2
    # Another account from one of those addresses is not blocked by boss's budget.
    get_user_model().objects.create_user("other", password="right-password-2")
    ok = client.post(LOGIN, {"username": "other", "password": "right-password-2"}, REMOTE_ADDR="10.0.0.3")
    assert ok.status_code == 302


def test_successful_sign_ins_do_not_use_up_the_budget(staff, client: Client):
    for _ in range(25):
        assert client.post(LOGIN, {"username": "boss", "password": "right-password-1"}).status_code == 302
        client.post("/accounts/logout/")


def test_sign_up_and_password_reset_are_throttled_too(db, client: Client, settings):
    settings.PASSWORD_RESET_ENABLED = True
    codes = [
        client.post(
            "/accounts/signup/", {"username": f"new{i}", "password1": "a-long-password-7", "password2": "x"}
        ).status_code
        for i in range(15)
    ]
    assert codes == [200] * 15
    resets = [client.post("/accounts/password_reset/", {"email": f"a{i}@example.org"}).status_code for i in range(6)]
    assert resets == [302] * 5 + [429]  # 20 attempts in all from this address


def test_password_reset_is_not_offered_without_a_mail_backend(db, client: Client, settings):
    settings.PASSWORD_RESET_ENABLED = False
    get_user_model().objects.create_user("mailme", email="me@example.org", password="right-password-3")
    assert "Reset it by e-mail" not in client.get(LOGIN).content.decode()
    page = client.get("/accounts/password_reset/")
    assert page.status_code == 404
    assert "Password reset is not available here" in page.content.decode()
    sent = client.post("/accounts/password_reset/", {"email": "me@example.org"})
    assert sent.status_code == 404 and mail.outbox == []
    assert client.get("/accounts/password_reset/done/").status_code == 404


def test_password_reset_sends_a_mail_where_one_can_be_sent(db, client: Client, settings):
    settings.PASSWORD_RESET_ENABLED = True
    get_user_model().objects.create_user("mailme", email="me@example.org", password="right-password-3")
    assert "Reset it by e-mail" in client.get(LOGIN).content.decode()
    response = client.post("/accounts/password_reset/", {"email": "me@example.org"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password_reset/done/"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["me@example.org"]
    assert "If an account has that address" in client.get(response["Location"]).content.decode()
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": "brand-new-pass-7", "new_password2": "brand-new-pass-7"}
    )
    assert done.status_code == 302 and done["Location"] == "/accounts/reset/done/"
    assert "Password changed" in client.get(done["Location"]).content.decode()
    assert client.post(LOGIN, {"username": "mailme", "password": "brand-new-pass-7"}).status_code == 302


@pytest.mark.parametrize(
    "data",
    [
        {"username": "u" * 10_000, "password": "p"},
        {"username": "", "password": ""},
        {"username": "<script>alert(1)</script>", "password": "' OR 1=1 --"},
        {"username": "名前\u202e", "password": "\U0001f600" * 100},
        {"password": "missing-username"},
        {},
    ],
    ids=["long", "empty", "injection", "unicode", "no-username", "nothing"],
)
def test_odd_sign_in_and_sign_up_input_gets_a_form_error(db, client: Client, data):
    login = client.post(LOGIN, data)
    assert login.status_code == 200 and "alert--error" in login.content.decode()
    assert "<script>alert(1)</script>" not in login.content.decode()
    signup = client.post("/accounts/signup/", {**data, "password1": data.get("password", ""), "password2": "x"})
    assert signup.status_code == 200 and "field-error" in signup.content.decode()
    assert not get_user_model().objects.exists()


def test_it_ignores_a_next_that_leaves_the_site(db, client: Client):
    get_user_model().objects.create_user("fan", password="right-password-4")
    for target in ("https://evil.example/", "//evil.example/", "javascript:alert(1)"):
        response = client.post(LOGIN, {"username": "fan", "password": "right-password-4", "next": target})
        assert response.status_code == 302 and response["Location"] == "/my-list/"
        client.post("/accounts/logout/")
        signup = client.post(
            "/accounts/signup/",
            {
                "username": f"n{len(target)}",
                "password1": "a-long-password-6",
                "password2": "a-long-password-6",
                "next": target,
            },
        )
        assert signup.status_code == 302 and signup["Location"] == "/my-list/"
        client.post("/accounts/logout/")
