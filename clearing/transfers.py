"""Accounts, deposits and withdrawals.

A deposit credits the balance and ``deposits[asset]``; a withdrawal debits the balance and
``withdrawals[asset]``, so conservation holds by construction. A withdrawal is refused
(``INSUFFICIENT_COLLATERAL``) when it would leave the account's equity below its
requirement (initial margin plus the reservation of its resting orders), or, for a
non-settlement asset, when the balance is short. Amounts must be positive integers no
larger than ``config.MAX_AMOUNT``. Withdrawals are refused while the account is being
liquidated or settlement is stopped by a gap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearing.commands import Deposit, OpenAccount, Withdraw
from clearing.config import MAX_AMOUNT
from clearing.events import AccountOpened, Deposited, RequestRejected, Withdrawn
from matching.reasons import Reason

if TYPE_CHECKING:
    from clearing.accounts import Account
    from clearing.engine import ClearingEngine


def _reject(eng: ClearingEngine, out: list, ts: int, account: object, name: str,
            reason: Reason, required: int = 0, available: int = 0, text: str = "") -> None:
    eng.count_reject(reason)
    out.append(RequestRejected(ts, account, name, reason, required, available,
                               text or reason.text))  # fmt: skip


def open_account(eng: ClearingEngine, cmd: OpenAccount, out: list, ts: int) -> None:
    aid = cmd.account
    if type(aid) is not int or aid < 0 or aid >= 1 << 63:
        return _reject(eng, out, ts, aid, "OpenAccount", Reason.INVALID_REQUEST,
                       text="account id must be a non-negative 64-bit integer")
    if aid in eng.accounts or (eng.options is not None and aid == (1 << 63) - 1):
        return _reject(eng, out, ts, aid, "OpenAccount", Reason.ACCOUNT_EXISTS)
    eng.open(aid)
    out.append(AccountOpened(ts, aid))
    return None


def credit(eng: ClearingEngine, acct: Account, asset: str, amount: int) -> None:
    """Add ``amount`` (may be negative) to a balance and keep equity in step."""
    if asset == eng.settle:
        eng.add_cash(acct, amount)
        return
    bal = acct.balances.get(asset, 0) + amount
    acct.balances[asset] = bal
    holders = eng.coll_holders[asset]
    if bal:
        holders.add(acct.id)
    else:
        holders.discard(acct.id)
    _revalue(eng, acct)


def _revalue(eng: ClearingEngine, acct: Account) -> None:
    total = 0
    for asset, bal in acct.balances.items():
        if asset != eng.settle and bal:
            spec = eng.assets[asset]
            total += spec.value(bal, eng.index_prices.get(spec.index or ""))
    eng.table.eq[acct.slot] += total - acct.coll_value
    acct.coll_value = total


def revalue_collateral(eng: ClearingEngine, index_name: str, out: list) -> None:
    """An index moved: revalue the collateral of every account holding an asset on it."""
    from clearing import liquidation

    for asset, spec in eng.assets.items():
        if spec.index != index_name:
            continue
        for aid in sorted(eng.coll_holders[asset]):
            acct = eng.accounts[aid]
            _revalue(eng, acct)
            liquidation.check_account(eng, acct, eng.ts, out)


def _amount_problem(eng: ClearingEngine, cmd: Deposit | Withdraw) -> tuple[Reason, str] | None:
    if type(cmd.account) is not int or cmd.account not in eng.accounts:
        return Reason.UNKNOWN_ACCOUNT, ""
    if type(cmd.asset) is not str or cmd.asset not in eng.assets:
        return Reason.UNKNOWN_ASSET, ""
    amount = cmd.amount
    if type(amount) is not int or amount <= 0 or amount > MAX_AMOUNT:
        return Reason.INVALID_AMOUNT, f"amount must be an integer in 1..{MAX_AMOUNT}"
    return None


def deposit(eng: ClearingEngine, cmd: Deposit, out: list, ts: int) -> None:
    problem = _amount_problem(eng, cmd)
    if problem:
        return _reject(eng, out, ts, cmd.account, "Deposit", problem[0], text=problem[1])
    acct = eng.accounts[cmd.account]
    credit(eng, acct, cmd.asset, cmd.amount)
    eng.deposits[cmd.asset] += cmd.amount
    out.append(Deposited(ts, acct.id, cmd.asset, cmd.amount, acct.balances[cmd.asset]))
    return None


def withdraw(eng: ClearingEngine, cmd: Withdraw, out: list, ts: int) -> None:
    problem = _amount_problem(eng, cmd)
    if problem:
        return _reject(eng, out, ts, cmd.account, "Withdraw", problem[0], text=problem[1])
    acct = eng.accounts[cmd.account]
    if acct.id in eng.liquidations:
        return _reject(eng, out, ts, acct.id, "Withdraw", Reason.ACCOUNT_IN_LIQUIDATION)
    if eng.pending:
        return _reject(eng, out, ts, acct.id, "Withdraw", Reason.SETTLEMENT_STOPPED)
    asset, amount = cmd.asset, cmd.amount
    bal = acct.balances.get(asset, 0)
    if asset != eng.settle and amount > bal:
        return _reject(eng, out, ts, acct.id, "Withdraw", Reason.INSUFFICIENT_COLLATERAL,
                       amount, bal, "balance too small")
    if asset == eng.settle:
        value_lost = amount
    else:
        spec = eng.assets[asset]
        price = eng.index_prices.get(spec.index or "")
        value_lost = spec.value(bal, price) - spec.value(bal - amount, price)
    A, s = eng.table, acct.slot
    if A.eq[s] - value_lost < A.req[s]:
        return _reject(eng, out, ts, acct.id, "Withdraw", Reason.INSUFFICIENT_COLLATERAL,
                       A.req[s], A.eq[s] - value_lost,
                       "withdrawal would leave equity below the initial requirement")
    credit(eng, acct, asset, -amount)
    eng.withdrawals[asset] += amount
    out.append(Withdrawn(ts, acct.id, asset, amount, acct.balances[asset]))
    return None
