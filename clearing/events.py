"""Events the clearing engine emits: immutable, slotted records; ``ts`` first.

Beside these, ``ClearingEngine.apply`` returns plain ``matching`` commands (NewOrder,
CancelOrder, SetBand, Halt, ...) for the shell to forward to the matcher, and the
circuit breakers' own events. Amounts are integers in settlement minor units unless a
field says otherwise; ``reason`` fields are ``matching.reasons.Reason`` codes.
"""

from __future__ import annotations

from typing import NamedTuple


class AccountOpened(NamedTuple):
    ts: int
    account: int


class Deposited(NamedTuple):
    ts: int
    account: int
    asset: str
    amount: int
    balance: int


class Withdrawn(NamedTuple):
    ts: int
    account: int
    asset: str
    amount: int
    balance: int


class RequestRejected(NamedTuple):
    """A non-order command was refused; the state is untouched."""

    ts: int
    account: object
    command: str
    reason: int
    required: int
    available: int
    text: str


class OrderAdmitted(NamedTuple):
    """Pre-trade passed: ``hold`` was reserved and a ``NewOrder`` goes to the matcher."""

    ts: int
    account: int
    instrument: str
    order_id: int
    client_order_id: str
    side: int
    qty: int
    price: int
    hold: int


class AmendAdmitted(NamedTuple):
    ts: int
    account: int
    instrument: str
    order_id: int
    price: int
    qty: int
    hold: int


class PreTradeRejected(NamedTuple):
    """The order (or amend) failed pre-trade; ``required``/``available`` say by how much."""

    ts: int
    account: object
    client_order_id: object
    reason: int
    required: int
    available: int
    text: str


class IndexUpdated(NamedTuple):
    ts: int
    name: str
    price: int


class MarkChanged(NamedTuple):
    """The mark moved; ``accounts`` holders were re-marked (equity, IM, MM, free)."""

    ts: int
    instrument: str
    mark: int
    index: int | None
    accounts: int


class FillSettled(NamedTuple):
    """One side of a matcher ``Fill`` applied to an account (``side`` +1 bought)."""

    ts: int
    seq: int
    account: int
    instrument: str
    order_id: int
    side: int
    qty: int
    price: int
    fee: int
    realized_pnl: int
    position: int
    equity: int
    maintenance: int


class SettlementGap(NamedTuple):
    """Events are missing: settlement stops until ``expected_seq`` arrives."""

    ts: int
    expected_seq: int
    got_seq: int


class SettlementResumed(NamedTuple):
    ts: int
    last_seq: int


class SettlementAnomaly(NamedTuple):
    """A matcher event clearing could not apply (unknown account): nothing changed."""

    ts: int
    seq: int
    text: str


class MarginCall(NamedTuple):
    ts: int
    account: int
    equity: int
    maintenance: int
    warning_level: int


class RiskCancel(NamedTuple):
    """Holds no longer cover the account's resting orders: these are being cancelled."""

    ts: int
    account: int
    order_ids: tuple
    equity: int
    required: int


class LiquidationStarted(NamedTuple):
    ts: int
    account: int
    equity: int
    maintenance: int


class LiquidationOrderPlaced(NamedTuple):
    ts: int
    account: int
    instrument: str
    order_id: int
    side: int
    qty: int
    limit: int
    bankruptcy_price: int


class LiquidationFee(NamedTuple):
    """A liquidation fill: ``fee`` to the insurance fund, or ``shortfall`` paid by it."""

    ts: int
    account: int
    instrument: str
    qty: int
    price: int
    bankruptcy_price: int
    fee: int
    shortfall: int


class AutoDeleveraged(NamedTuple):
    ts: int
    instrument: str
    account: int
    counterparty: int
    qty: int
    price: int


class InsuranceFundPaid(NamedTuple):
    ts: int
    account: int
    amount: int
    fund_after: int


class BadDebt(NamedTuple):
    """Negative equity the insurance fund could not cover (stays on the account)."""

    ts: int
    account: int
    amount: int


class LiquidationEnded(NamedTuple):
    ts: int
    account: int
    equity: int
    maintenance: int
    outcome: str


class FundingApplied(NamedTuple):
    """A funding payment; ``rate_ppm``/``rate_ppb`` are the exact rate truncated (display)."""

    ts: int
    instrument: str
    rate_ppm: int
    index_delta: int
    cumulative_index: int
    accounts: int
    residue: int
    rate_ppb: int = 0


class FutureSettled(NamedTuple):
    ts: int
    instrument: str
    price: int
    positions: int


class IVUpdated(NamedTuple):
    ts: int
    underlying: str
    expiry_ts: int
    atm_ppm: int
    skew_ppm: int
    curvature_ppm: int


class OptionsRevalued(NamedTuple):
    """Every series of ``underlying`` re-marked (``series``) and ``accounts`` re-margined.

    Marks, IVs and Greeks per series: ``ClearingEngine.option_chain(underlying)``.
    """

    ts: int
    underlying: str
    index: int
    series: int
    accounts: int


class MarginModeSet(NamedTuple):
    ts: int
    account: int
    mode: str
    initial_margin: int
    maintenance_margin: int


class OptionSettled(NamedTuple):
    """An option series expired: holders were paid ``intrinsic`` per unit (price units)."""

    ts: int
    instrument: str
    settlement_price: int
    intrinsic: int
    positions: int


class LiquidationHedge(NamedTuple):
    """Options liquidation step 2: an IOC on a perpetual/future to cut the net delta."""

    ts: int
    account: int
    instrument: str
    order_id: int
    side: int
    qty: int
    limit: int
    net_delta: int


class LiquidationOptionClose(NamedTuple):
    """Options liquidation step 3: an IOC closing the option that costs most in the worst
    scenario, within ``band`` of its mark (price units)."""

    ts: int
    account: int
    instrument: str
    order_id: int
    side: int
    qty: int
    limit: int
    worst_scenario: int
    contribution: int


class InsuranceTakeover(NamedTuple):
    """What could not trade: the insurance fund took ``qty`` at the mark (``price``)."""

    ts: int
    account: int
    instrument: str
    qty: int
    price: int
    paid: int


Event = (
    AccountOpened
    | Deposited
    | Withdrawn
    | RequestRejected
    | OrderAdmitted
    | AmendAdmitted
    | PreTradeRejected
    | IndexUpdated
    | MarkChanged
    | FillSettled
    | SettlementGap
    | SettlementResumed
    | SettlementAnomaly
    | MarginCall
    | RiskCancel
    | LiquidationStarted
    | LiquidationOrderPlaced
    | LiquidationFee
    | AutoDeleveraged
    | InsuranceFundPaid
    | BadDebt
    | LiquidationEnded
    | FundingApplied
    | FutureSettled
    | IVUpdated
    | OptionsRevalued
    | MarginModeSet
    | OptionSettled
    | LiquidationHedge
    | LiquidationOptionClose
    | InsuranceTakeover
)
