"""Money in SQL on both backends: exact in every operator a query uses."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from asbb_core.store.models import Account


@pytest.fixture
def account(ledger, ctx):
    ledger.create_account("arith", ctx=ctx, limit="10")
    ledger.deposit("arith", "0.50", ctx=ctx)
    return "arith"


def _value(db, expression):
    return db.read(lambda s: s.exec(select(expression).where(col(Account.name) == "arith")).one())


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (lambda: col(Account.limit_amount) * 2, Decimal("21.00")),
        (lambda: col(Account.limit_amount) / 2, Decimal("5.25")),
        (lambda: col(Account.limit_amount) + Decimal("0.25"), Decimal("10.75")),
        (lambda: col(Account.limit_amount) - 1, Decimal("9.50")),
        (lambda: func.sum(col(Account.limit_amount)), Decimal("10.50")),
    ],
    ids=["times-int", "divided", "plus", "minus", "sum"],
)
def test_money_arithmetic_with_plain_numbers_is_exact(db, account, expression, expected):
    assert Decimal(_value(db, expression())) == expected


def test_money_compares_with_plain_numbers_on_its_own_scale(db, account):
    found = db.read(
        lambda s: s.exec(
            select(col(Account.name)).where(
                col(Account.limit_amount) > Decimal("10.49"),
                col(Account.limit_amount) * 2 >= 21,
                col(Account.limit_amount) < 11,
            )
        ).all()
    )
    assert found == ["arith"]
